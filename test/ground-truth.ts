/**
 * Ground truth computed straight from the simulator's seed data, in plain TypeScript, independently
 * of the extractor, the loader and the SQL models. Pipeline tests compare the warehouse with this.
 */
import { allJobsOf, latestAttempt, type Dataset, type SimRun } from "../simulator/dataset.js";

const seconds = (a: string, b: string) => Math.trunc((Date.parse(a) - Date.parse(b)) / 1000);

/** PERCENTILE_CONT: linear interpolation between closest ranks, as BigQuery computes it. */
export function percentileCont(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((x, y) => x - y);
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
}

export function runsInWindow(ds: Dataset, since: string, until: string): SimRun[] {
  return ds.runs.filter((r) => r.created_at >= since && r.created_at <= until);
}

export function counts(ds: Dataset, runs: SimRun[]) {
  let attempts = 0;
  let jobs = 0;
  let steps = 0;
  for (const run of runs) {
    attempts += run.attempts.length;
    for (const attemptJobs of allJobsOf(ds, run))
      for (const job of attemptJobs) {
        jobs += 1;
        steps += job.steps.length;
      }
  }
  const versions = ds.packages.reduce((n, p) => n + p.versions.filter((v) => v.deleted_at === null).length, 0);
  return { attempts, jobs, steps, versions };
}

export interface HealthRow {
  run_date: string;
  repository: string;
  workflow_name: string;
  runs: number;
  successes: number;
  failures: number;
  pass_rate: number | null;
  p50: number | null;
  p95: number | null;
}

/** rpt_pipeline_health_daily by its definition: completed latest attempts per UTC day, repo, workflow. */
export function pipelineHealth(runs: SimRun[]): HealthRow[] {
  const groups = new Map<string, { rows: { conclusion: string | null; duration: number }[]; date: string; repo: string; wf: string }>();
  for (const run of runs) {
    const latest = latestAttempt(run);
    if (latest.status !== "completed") continue;
    const date = run.created_at.slice(0, 10);
    const key = `${date}|${run.repo}|${run.workflow_name}`;
    const g = groups.get(key) ?? { rows: [], date, repo: run.repo, wf: run.workflow_name };
    g.rows.push({ conclusion: latest.conclusion, duration: seconds(latest.updated_at, latest.run_started_at) });
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => {
    const successes = g.rows.filter((r) => r.conclusion === "success").length;
    const failures = g.rows.filter((r) => ["failure", "timed_out", "startup_failure"].includes(r.conclusion ?? "")).length;
    const durations = g.rows.map((r) => r.duration);
    return {
      run_date: g.date,
      repository: g.repo,
      workflow_name: g.wf,
      runs: g.rows.length,
      successes,
      failures,
      pass_rate: successes + failures > 0 ? successes / (successes + failures) : null,
      p50: percentileCont(durations, 0.5),
      p95: percentileCont(durations, 0.95),
    };
  });
}

/**
 * Queue seconds of every job a runner picked up. The simulator gives jobs that never started (still
 * queued, skipped, cancelled before a runner took them) no runner and `started_at = created_at`.
 */
export function queueSeconds(ds: Dataset, runs: SimRun[]): Map<number, number | null> {
  const out = new Map<number, number | null>();
  for (const run of runs)
    for (const attemptJobs of allJobsOf(ds, run))
      for (const job of attemptJobs) {
        const started = job.runner_name !== null;
        out.set(job.id, started ? seconds(job.started_at, job.created_at) : null);
      }
  return out;
}
