/**
 * Shared pieces of the resilience tests: a small seeded world (simulator + fault schedule + warehouse),
 * one "cron tick" (extract → load) that may crash at a chosen point, and the ground truth of what the
 * warehouse must hold, computed from the simulator's dataset without the extractor, loader or models.
 */
import { join } from "node:path";
import { allJobsOf, generateDataset, startSimulator, type Dataset, type Simulator } from "../simulator/index.js";
import { createFaultSchedule, type FaultSchedule } from "../simulator/faults.js";
import { runExtract, type ExtractResult } from "../extract/run.js";
import type { ExtractConfigInput } from "../extract/config.js";
import { loadIntoDuckDb } from "../load/duckdb-load.js";
import { duckDbExtractState } from "../load/watermark-duckdb.js";
import { openDuckDb } from "../load/duckdb-connection.js";
import { silentLogger } from "../log/logger.js";

export class SimulatedCrash extends Error {
  override readonly name = "SimulatedCrash";
}

/** A crash after `after` crash points; once crashed, every later point throws too (the process is gone). */
export function crashAfter(after: number): { point: () => void; calls: () => number; crashed: () => boolean } {
  let calls = 0;
  let crashed = false;
  return {
    point: () => {
      calls += 1;
      if (crashed || calls > after) {
        crashed = true;
        throw new SimulatedCrash(`simulated crash at point ${after}`);
      }
    },
    calls: () => calls,
    crashed: () => crashed,
  };
}

export const SMALL_WORLD = { days: 3, runsPerRepoPerDay: 2, busyDayRuns: 0, bigRunJobs: 4, bigPackageVersions: 4 } as const;

export interface World {
  dataset: Dataset;
  simulator: Simulator;
  schedule: FaultSchedule;
  dir: string;
  stagingDir: string;
  duckdbPath: string;
  /** Extract config of a tick; `since` only for the first. */
  config(first: boolean): ExtractConfigInput;
  close(): Promise<void>;
}

export async function startWorld(seed: string, dir: string, faultRate: number): Promise<World> {
  const dataset = generateDataset({ seed, ...SMALL_WORLD });
  const schedule = createFaultSchedule({
    seed: `${seed}|faults`,
    rate: faultRate,
    // Slow answers cost wall time (client timeout); keep them rarer than the instant faults.
    kinds: { "500": 2, "502": 2, "503": 2, "secondary-403": 2, "429": 2, "primary-exhausted": 2, "connection-reset": 2, "truncated-json": 2, slow: 1, "new-run": 2 },
    slowMs: 400,
    retryAfterSeconds: 1,
  });
  const simulator = await startSimulator({ dataset, faults: schedule.hook, token: "ghp_resilienceTestToken0123456789" });
  let added = 0;
  schedule.onNewRun = () => {
    const repo = dataset.repos[added % dataset.repos.length]?.full_name ?? "";
    added += 1;
    try {
      simulator.addRun({ repo });
    } catch {
      // a repository without workflows: nothing arrives
    }
  };
  const stagingDir = join(dir, "staging");
  const duckdbPath = join(dir, "warehouse.duckdb");
  const anchor = Date.parse(dataset.anchor);
  return {
    dataset,
    simulator,
    schedule,
    dir,
    stagingDir,
    duckdbPath,
    config: (first) => ({
      orgs: [dataset.org.login],
      users: [dataset.user.login],
      ...(first ? { since: new Date(anchor - 5 * 86_400_000).toISOString().slice(0, 10) } : {}),
      apiUrl: simulator.url,
      token: "ghp_resilienceTestToken0123456789",
      stagingDir,
      concurrency: 8,
      // A week of lookback covers the whole dataset (its oldest runs are 5 days before the anchor; "now"
      // is a day after it) and keeps each tick small; test/incremental.test.ts covers the 30-day default.
      // Re-runs of runs created before the lookback are, by design, not seen.
      lookbackDays: 7,
      // A day past the anchor, so runs arriving during the test stay inside the window.
      now: new Date(anchor + 86_400_000),
      requestTimeoutMs: 150,
      retryTimeScaleMs: 2,
      orphanGraceMs: 0,
      maxQuarantined: 0,
    }),
    close: () => simulator.close(),
  };
}

export interface TickOutcome {
  extract?: ExtractResult;
  crashed: "extract" | "load" | null;
  failed: boolean;
  crashPoints: number;
  error?: unknown;
}

/** One cron tick: extract then load, with an optional crash after `crashAt` points of the chosen stage. */
export async function tick(world: World, first: boolean, crash?: { stage: "extract" | "load"; at: number }): Promise<TickOutcome> {
  const ce = crashAfter(crash?.stage === "extract" ? crash.at : Number.POSITIVE_INFINITY);
  const cl = crashAfter(crash?.stage === "load" ? crash.at : Number.POSITIVE_INFINITY);
  let extract: ExtractResult | undefined;
  try {
    extract = await runExtract(world.config(first), { log: silentLogger, state: duckDbExtractState(world.duckdbPath), crashPoint: ce.point });
  } catch (error) {
    if (error instanceof SimulatedCrash || ce.crashed()) return { crashed: "extract", failed: false, crashPoints: ce.calls() };
    // Retries exhausted under faults: the cron fails this tick and the next one covers it.
    return { crashed: null, failed: true, crashPoints: ce.calls(), error };
  }
  try {
    await loadIntoDuckDb({ duckdbPath: world.duckdbPath, stagingDir: world.stagingDir, log: silentLogger, beforeStep: cl.point });
  } catch (error) {
    if (error instanceof SimulatedCrash) return { extract, crashed: "load", failed: false, crashPoints: ce.calls() };
    throw error;
  }
  return { extract, crashed: null, failed: false, crashPoints: ce.calls() };
}

export interface Truth {
  attempts: Map<string, string>;
  jobs: Map<string, string>;
  steps: Set<string>;
  versions: Set<string>;
}

/** What the warehouse must hold: every attempt (with its current status and updated_at), job, step and live version. */
export function groundTruth(ds: Dataset): Truth {
  const attempts = new Map<string, string>();
  const jobs = new Map<string, string>();
  const steps = new Set<string>();
  for (const run of ds.runs) {
    for (const a of run.attempts) attempts.set(`${run.id}/${a.run_attempt}`, `${a.status}/${Date.parse(a.updated_at)}`);
    for (const attemptJobs of allJobsOf(ds, run))
      for (const job of attemptJobs) {
        jobs.set(String(job.id), job.status);
        for (const s of job.steps) steps.add(`${job.id}/${s.number}`);
      }
  }
  const versions = new Set<string>();
  for (const p of ds.packages) for (const v of p.versions) if (v.deleted_at === null) versions.add(String(v.id));
  return { attempts, jobs, steps, versions };
}

export interface Observed {
  attempts: Map<string, string>;
  jobs: Map<string, string>;
  steps: Set<string>;
  versions: Set<string>;
  /** Rows minus distinct keys, per table: anything above 0 is a duplicate. */
  duplicates: Record<string, number>;
}

async function rows(path: string, sql: string): Promise<Record<string, unknown>[]> {
  const w = await openDuckDb(path);
  try {
    return (await w.connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    w.close();
  }
}

/** Reads the facts (`actions_warehouse.fct_*`) or their staging inputs (`actions_staging.stg_*`). */
export async function observe(path: string, layer: "facts" | "staging"): Promise<Observed> {
  const t =
    layer === "facts"
      ? { runs: "actions_warehouse.fct_workflow_runs", jobs: "actions_warehouse.fct_workflow_jobs", steps: "actions_warehouse.fct_job_steps", versions: "actions_warehouse.fct_package_versions" }
      : { runs: "actions_staging.stg_workflow_runs", jobs: "actions_staging.stg_workflow_jobs", steps: "actions_staging.stg_job_steps", versions: "actions_staging.stg_package_versions" };
  const [runs, jobs, steps, versions, dup] = await Promise.all([
    rows(path, `SELECT run_id || '/' || run_attempt AS k, status || '/' || epoch_ms(updated_at) AS v FROM ${t.runs}`),
    rows(path, `SELECT CAST(job_id AS VARCHAR) AS k, status AS v FROM ${t.jobs}`),
    rows(path, `SELECT job_id || '/' || step_number AS k FROM ${t.steps}`),
    rows(path, `SELECT CAST(version_id AS VARCHAR) AS k FROM ${t.versions}`),
    rows(
      path,
      `SELECT (SELECT COUNT(*) - COUNT(DISTINCT (run_id, run_attempt)) FROM ${t.runs}) AS runs,
              (SELECT COUNT(*) - COUNT(DISTINCT job_id) FROM ${t.jobs}) AS jobs,
              (SELECT COUNT(*) - COUNT(DISTINCT (job_id, step_number)) FROM ${t.steps}) AS steps,
              (SELECT COUNT(*) - COUNT(DISTINCT version_id) FROM ${t.versions}) AS versions`,
    ),
  ]);
  const d = dup[0] ?? {};
  return {
    attempts: new Map(runs.map((r) => [String(r.k), String(r.v)])),
    jobs: new Map(jobs.map((r) => [String(r.k), String(r.v)])),
    steps: new Set(steps.map((r) => String(r.k))),
    versions: new Set(versions.map((r) => String(r.k))),
    duplicates: { runs: Number(d.runs), jobs: Number(d.jobs), steps: Number(d.steps), versions: Number(d.versions) },
  };
}

/** Lost and extra keys, and stale values, per table: all zero when the warehouse equals the truth. */
export function compare(truth: Truth, seen: Observed): Record<string, number> {
  const lost = (want: Iterable<string>, have: { has(k: string): boolean }) => [...want].filter((k) => !have.has(k)).length;
  return {
    attempts_lost: lost(truth.attempts.keys(), seen.attempts),
    attempts_extra: lost(seen.attempts.keys(), truth.attempts),
    attempts_stale: [...truth.attempts].filter(([k, v]) => seen.attempts.has(k) && seen.attempts.get(k) !== v).length,
    jobs_lost: lost(truth.jobs.keys(), seen.jobs),
    jobs_extra: lost(seen.jobs.keys(), truth.jobs),
    jobs_stale: [...truth.jobs].filter(([k, v]) => seen.jobs.has(k) && seen.jobs.get(k) !== v).length,
    steps_lost: lost(truth.steps, seen.steps),
    steps_extra: lost(seen.steps, truth.steps),
    versions_lost: lost(truth.versions, seen.versions),
    versions_extra: lost(seen.versions, truth.versions),
    ...Object.fromEntries(Object.entries(seen.duplicates).map(([k, v]) => [`${k}_duplicated`, v])),
  };
}
