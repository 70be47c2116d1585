/**
 * Flaky jobs end to end (issue 15, Must show): simulator → extract → DuckDB → rpt_flaky_jobs, compared
 * with ground truth computed in plain TypeScript from the simulator's dataset (test/flaky-jobs-truth.ts),
 * independently of the SQL: per repository, workflow and job name (matrix legs apart), which runs had an attempt of the job
 * fail (failure, timed_out, startup_failure) and a later attempt pass, and the billable minutes of the
 * failed attempts of those runs with GitHub's rounding (each job up to the whole minute, self-hosted free)
 * priced at the published per-minute rates of the runner's OS on the job's start date.
 * Then re-runs made after the first extract (one turning a failed run flaky, one failing a passed run
 * again) reach the view through an incremental extract, and the figures still equal the ground truth.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, latestAttempt, startSimulator, type Dataset, type Simulator } from "../simulator/index.js";
import { runExtract } from "../extract/run.js";
import { loadIntoDuckDb } from "../load/duckdb-load.js";
import { openDuckDb } from "../load/duckdb-connection.js";
import { duckDbExtractState } from "../load/watermark-duckdb.js";
import { silentLogger } from "../log/logger.js";
import { runTransform } from "../transform/run.js";
import { byIdentity, flakyJobsTruth, hostedOs, isFlaky, jobRuns, type FlakyJobTruth } from "./flaky-jobs-truth.js";

const ANCHOR = "2026-10-15T12:00:00Z";
const SINCE = "2026-10-01";
const DAY = 86_400_000;

// ---- the warehouse -----------------------------------------------------------------------------------

async function readView(path: string): Promise<FlakyJobTruth[]> {
  const w = await openDuckDb(path);
  try {
    const rows = (await w.connection.runAndReadAll(`SELECT * FROM actions_warehouse.rpt_flaky_jobs`)).getRowObjectsJS() as Record<string, unknown>[];
    return rows
      .map((r) => ({
        repository: String(r.repository),
        workflow_name: String(r.workflow_name),
        job_name: String(r.job_name),
        runs: Number(r.runs),
        flaky_runs: Number(r.flaky_runs),
        flake_rate: Number(r.flake_rate),
        wasted_billable_minutes: Number(r.wasted_billable_minutes),
        wasted_cost_usd: Number(r.wasted_cost_usd),
        last_flaky_at: r.last_flaky_at instanceof Date ? r.last_flaky_at.toISOString().replace(/\.000Z$/, "Z") : String(r.last_flaky_at),
        workflow_runs: Number(r.workflow_runs),
        workflow_flaky_runs: Number(r.workflow_flaky_runs),
        workflow_flake_rate: Number(r.workflow_flake_rate),
        workflow_wasted_billable_minutes: Number(r.workflow_wasted_billable_minutes),
        workflow_wasted_cost_usd: Number(r.workflow_wasted_cost_usd),
      }))
      .sort(byIdentity);
  } finally {
    w.close();
  }
}

/** Rates as fractions to 9 decimals and dollars to 6, so float sums compare exactly. */
const comparable = (rows: FlakyJobTruth[]) =>
  rows.map((r) => ({ ...r, flake_rate: r.flake_rate.toFixed(9), workflow_flake_rate: r.workflow_flake_rate.toFixed(9), wasted_cost_usd: r.wasted_cost_usd.toFixed(6), workflow_wasted_cost_usd: r.workflow_wasted_cost_usd.toFixed(6) }));

describe("rpt_flaky_jobs on the simulator", () => {
  let dir: string;
  let duckdbPath: string;
  let stagingDir: string;
  let ds: Dataset;
  let sim: Simulator;
  const now = new Date(Date.parse(ANCHOR) + DAY);

  const pipeline = async (since?: string) => {
    await runExtract(
      { orgs: [ds.org.login], users: [ds.user.login], ...(since ? { since } : {}), apiUrl: sim.url, stagingDir, now, concurrency: 8 },
      { log: silentLogger, state: duckDbExtractState(duckdbPath) },
    );
    await loadIntoDuckDb({ stagingDir, duckdbPath, log: silentLogger });
    await runTransform({ duckdbPath, tags: ["flaky_jobs"], includeDependencies: true });
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-flaky-jobs-"));
    duckdbPath = join(dir, "warehouse.duckdb");
    stagingDir = join(dir, "staging");
    ds = generateDataset({ seed: 7, anchor: ANCHOR, days: 14, busyDayRuns: 0 });
    sim = await startSimulator({ dataset: ds, rateLimit: 100_000 });
    await pipeline(SINCE);
  }, 300_000);

  afterAll(async () => {
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the dataset holds enough flaky jobs to mean something: matrix legs, every runner OS, self-hosted, both re-run modes", () => {
    const truth = flakyJobsTruth(ds);
    expect(truth.length).toBeGreaterThanOrEqual(20);
    expect(truth.reduce((n, r) => n + r.flaky_runs, 0)).toBeGreaterThanOrEqual(100);
    // Two legs of one matrix, each its own flaky job.
    const legs = truth.filter((r) => r.repository === "acme/ml-platform" && r.workflow_name === "CI").map((r) => r.job_name);
    expect(legs).toEqual(expect.arrayContaining(["test (ubuntu-latest, 3.12)", "test (windows-latest, 3.12)"]));
    // Wasted minutes on Linux, Windows and macOS runners, and a self-hosted job that flaked for free.
    const flakyFailed = [...jobRuns(ds).values()].flat().filter(isFlaky).flatMap((t) => t.failedJobs);
    expect(new Set(flakyFailed.map(hostedOs))).toEqual(new Set(["Linux", "Windows", "macOS", null]));
    expect(truth.some((r) => r.wasted_billable_minutes === 0)).toBe(true);
    // Flaky runs re-run with all jobs and with failed jobs only; one failed twice before it passed.
    const flakyRuns = [...jobRuns(ds).values()].flat().filter(isFlaky).map((t) => t.run);
    expect(new Set(flakyRuns.flatMap((r) => r.attempts.slice(1).map((a) => a.rerun_mode)))).toEqual(new Set(["all", "failed"]));
    expect([...jobRuns(ds).values()].flat().some((t) => isFlaky(t) && t.failedJobs.length >= 2)).toBe(true);
    // Runs that failed and never passed are not flaky, yet count among the job's runs.
    expect([...jobRuns(ds).values()].flat().some((t) => t.failedJobs.length > 0 && !isFlaky(t))).toBe(true);
  });

  it("flaky jobs, their runs, flake rates, wasted minutes and cost, and the workflow roll-up equal the ground truth", async () => {
    const truth = flakyJobsTruth(ds);
    const got = await readView(duckdbPath);
    expect(comparable(got)).toEqual(comparable(truth));
    const minutes = got.reduce((n, r) => n + r.wasted_billable_minutes, 0);
    expect(minutes).toBeGreaterThan(0);
  });

  it("re-runs after the first extract reach the view through an incremental extract: a failed run turned flaky, a passed run failing again is not", async () => {
    const before = flakyJobsTruth(ds);
    const anchorDay = ANCHOR.slice(0, 10);
    // A failed run that no re-run passed: re-running its failed jobs with success makes the culprit flaky.
    const failed = ds.runs.find((r) => r.created_at.slice(0, 10) < anchorDay && r.attempts.length === 1 && latestAttempt(r).conclusion === "failure");
    // A run that passed: re-running all its jobs into a failure passes then fails, which is not a flake.
    const passed = ds.runs.find((r) => r.created_at.slice(0, 10) < anchorDay && r.attempts.length === 1 && latestAttempt(r).conclusion === "success" && r.repo === failed?.repo);
    if (!failed || !passed) throw new Error("no failed and passed single-attempt runs in one repository");
    sim.rerun(failed.id, { failedOnly: true, outcome: "success" });
    sim.rerun(passed.id, { outcome: "failure" });
    const after = flakyJobsTruth(ds);
    const flakyRunsOf = (rows: FlakyJobTruth[]) => rows.reduce((n, r) => n + r.flaky_runs, 0);
    expect(flakyRunsOf(after)).toBe(flakyRunsOf(before) + 1);

    await pipeline();
    expect(comparable(await readView(duckdbPath))).toEqual(comparable(after));
  }, 300_000);
});
