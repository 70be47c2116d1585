/**
 * Ground truth of rpt_flaky_jobs, computed in plain TypeScript from the simulator's dataset, independently
 * of the SQL (includes/flaky_jobs.js): per repository, workflow and job name (matrix legs apart), the runs
 * in which an attempt of the job failed (failure, timed_out, startup_failure) and a later attempt passed,
 * and the billable minutes of those runs' failed attempts with GitHub's rounding (each job up to the whole
 * minute, self-hosted free) priced at the published per-minute rate of the runner's OS on the job's start
 * day. Used by test/flaky-jobs.test.ts and the report tests.
 */
import { allJobsOf, type Dataset, type SimJob, type SimRun } from "../simulator/index.js";

/** GitHub's failure conclusions for a job (the product counts failure, timed_out and startup_failure). */
const FAILED = new Set(["failure", "timed_out", "startup_failure"]);

/**
 * GitHub-hosted per-minute prices of the standard runners (PRODUCT.md: Linux 2-core $0.008/min until
 * 2025-12-31 then $0.006; Windows $0.016 then $0.010; macOS $0.08 then $0.062), by the job's start day.
 */
function usdPerMinute(os: "Linux" | "Windows" | "macOS", startedAt: string): number {
  const before2026 = startedAt < "2026-01-01";
  if (os === "Linux") return before2026 ? 0.008 : 0.006;
  if (os === "Windows") return before2026 ? 0.016 : 0.01;
  return before2026 ? 0.08 : 0.062;
}

/** A job's runner OS from the labels it asked for, as GitHub names its hosted images; null for self-hosted. */
export function hostedOs(job: SimJob): "Linux" | "Windows" | "macOS" | null {
  if (job.labels.includes("self-hosted")) return null;
  const label = job.labels[0] ?? "";
  if (label.startsWith("ubuntu-")) return "Linux";
  if (label.startsWith("windows-")) return "Windows";
  if (label.startsWith("macos-")) return "macOS";
  return null;
}

/** What GitHub bills for a job: a hosted job a runner ran, rounded up to the whole minute, at its OS's rate. */
function billing(job: SimJob): { minutes: number; usd: number } {
  const os = hostedOs(job);
  if (os === null || job.runner_name === null || job.status !== "completed" || job.completed_at === null) return { minutes: 0, usd: 0 };
  const seconds = (Date.parse(job.completed_at) - Date.parse(job.started_at)) / 1000;
  const minutes = Math.ceil(seconds / 60);
  return { minutes, usd: Math.round(minutes * usdPerMinute(os, job.started_at) * 1e6) / 1e6 };
}

export interface JobRunTruth {
  run: SimRun;
  firstFailed: number;
  lastPassed: number;
  failedJobs: SimJob[];
}

/** Per (repository, workflow, job name), per run: the completed attempts of the job. */
export function jobRuns(ds: Dataset): Map<string, JobRunTruth[]> {
  const out = new Map<string, JobRunTruth[]>();
  for (const run of ds.runs) {
    const perName = new Map<string, JobRunTruth>();
    for (const attemptJobs of allJobsOf(ds, run))
      for (const job of attemptJobs) {
        if (job.status !== "completed") continue;
        const t = perName.get(job.name) ?? { run, firstFailed: Number.POSITIVE_INFINITY, lastPassed: Number.NEGATIVE_INFINITY, failedJobs: [] };
        if (FAILED.has(job.conclusion ?? "")) {
          t.firstFailed = Math.min(t.firstFailed, job.run_attempt);
          t.failedJobs.push(job);
        }
        if (job.conclusion === "success") t.lastPassed = Math.max(t.lastPassed, job.run_attempt);
        perName.set(job.name, t);
      }
    for (const [name, t] of perName) {
      const key = JSON.stringify([run.repo, run.workflow_name, name]);
      out.set(key, [...(out.get(key) ?? []), t]);
    }
  }
  return out;
}

export const isFlaky = (t: JobRunTruth) => t.firstFailed < t.lastPassed;

export interface FlakyJobTruth {
  repository: string;
  workflow_name: string;
  job_name: string;
  runs: number;
  flaky_runs: number;
  flake_rate: number;
  wasted_billable_minutes: number;
  wasted_cost_usd: number;
  last_flaky_at: string;
  workflow_runs: number;
  workflow_flaky_runs: number;
  workflow_flake_rate: number;
  workflow_wasted_billable_minutes: number;
  workflow_wasted_cost_usd: number;
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

export function flakyJobsTruth(ds: Dataset): FlakyJobTruth[] {
  const byJob = jobRuns(ds);
  const workflows = new Map<string, { runs: Set<number>; flakyRuns: Set<number>; minutes: number; usd: number }>();
  const rows: Omit<FlakyJobTruth, "workflow_runs" | "workflow_flaky_runs" | "workflow_flake_rate" | "workflow_wasted_billable_minutes" | "workflow_wasted_cost_usd">[] = [];
  for (const [key, runs] of byJob) {
    const [repository = "", workflow = "", job = ""] = JSON.parse(key) as string[];
    const wfKey = JSON.stringify([repository, workflow]);
    const wf = workflows.get(wfKey) ?? { runs: new Set<number>(), flakyRuns: new Set<number>(), minutes: 0, usd: 0 };
    workflows.set(wfKey, wf);
    const flaky = runs.filter(isFlaky);
    const wasted = flaky.flatMap((t) => t.failedJobs).map((j) => ({ ...billing(j), completedAt: j.completed_at ?? "" }));
    for (const t of runs) wf.runs.add(t.run.id);
    for (const t of flaky) wf.flakyRuns.add(t.run.id);
    const minutes = wasted.reduce((n, w) => n + w.minutes, 0);
    const usd = wasted.reduce((n, w) => n + w.usd, 0);
    wf.minutes += minutes;
    wf.usd += usd;
    if (flaky.length === 0) continue;
    rows.push({
      repository, workflow_name: workflow, job_name: job, runs: runs.length, flaky_runs: flaky.length, flake_rate: flaky.length / runs.length,
      wasted_billable_minutes: minutes, wasted_cost_usd: round6(usd), last_flaky_at: wasted.map((w) => w.completedAt).sort().at(-1) ?? "",
    });
  }
  return rows
    .map((r) => {
      const wf = workflows.get(JSON.stringify([r.repository, r.workflow_name]));
      if (!wf) throw new Error("workflow missing");
      return { ...r, workflow_runs: wf.runs.size, workflow_flaky_runs: wf.flakyRuns.size, workflow_flake_rate: wf.flakyRuns.size / wf.runs.size, workflow_wasted_billable_minutes: wf.minutes, workflow_wasted_cost_usd: round6(wf.usd) };
    })
    .sort(byIdentity);
}

export const byIdentity = (a: FlakyJobTruth, b: FlakyJobTruth) => {
  const ka = JSON.stringify([a.repository, a.workflow_name, a.job_name]);
  const kb = JSON.stringify([b.repository, b.workflow_name, b.job_name]);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};
