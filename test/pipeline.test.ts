/**
 * The whole slice on the embedded default: simulator → extract → NDJSON → DuckDB → Dataform models.
 * Every figure is compared with ground truth computed independently from the simulator's seed data.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, landmarks, startSimulator, type Dataset, type Simulator } from "../simulator/index.js";
import { runPipeline, type PipelineResult } from "../jobs/pipeline.js";
import { loadIntoDuckDb } from "../load/duckdb-load.js";
import { silentLogger } from "../log/logger.js";
import { counts, pipelineHealth, queueSeconds, runsInWindow } from "./ground-truth.js";
import { queryWarehouse as query } from "./warehouse-query.js";

const ANCHOR = "2026-10-15T12:00:00Z";
const SINCE = "2026-10-01";

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

describe("pipeline on the simulator", () => {
  let dir: string;
  let dataset: Dataset;
  let simulator: Simulator;
  let result: PipelineResult;
  let duckdbPath: string;
  let stagingDir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-pipeline-"));
    duckdbPath = join(dir, "warehouse.duckdb");
    stagingDir = join(dir, "staging");
    dataset = generateDataset({ seed: 7, anchor: ANCHOR, days: 14 });
    simulator = await startSimulator({ dataset });
    result = await runPipeline({
      extract: { orgs: [dataset.org.login], users: [dataset.user.login], since: SINCE, apiUrl: simulator.url, stagingDir, concurrency: 8 },
      duckdbPath,
      vars: { kpi_reference_time: ANCHOR },
      log: silentLogger,
    });
  }, 300_000);

  afterAll(async () => {
    await simulator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("extracts and models every run attempt, job, step and package version exactly once", async () => {
    const runs = runsInWindow(dataset, `${SINCE}T00:00:00Z`, ANCHOR);
    expect(runs.length).toBe(dataset.runs.length);
    const truth = counts(dataset, runs);
    const [facts] = await query(
      duckdbPath,
      `SELECT (SELECT COUNT(*) FROM actions_warehouse.fct_workflow_runs) AS attempts,
              (SELECT COUNT(DISTINCT (run_id, run_attempt)) FROM actions_warehouse.fct_workflow_runs) AS distinct_attempts,
              (SELECT COUNT(*) FROM actions_warehouse.fct_workflow_jobs) AS jobs,
              (SELECT COUNT(DISTINCT job_id) FROM actions_warehouse.fct_workflow_jobs) AS distinct_jobs,
              (SELECT COUNT(*) FROM actions_warehouse.fct_job_steps) AS steps,
              (SELECT COUNT(*) FROM actions_warehouse.fct_package_versions) AS versions,
              (SELECT COUNT(*) FROM actions_warehouse.fct_workflow_runs WHERE is_latest_attempt) AS latest`,
    );
    expect(num(facts?.attempts)).toBe(truth.attempts);
    expect(num(facts?.distinct_attempts)).toBe(truth.attempts);
    expect(num(facts?.jobs)).toBe(truth.jobs);
    expect(num(facts?.distinct_jobs)).toBe(truth.jobs);
    expect(num(facts?.steps)).toBe(truth.steps);
    expect(num(facts?.versions)).toBe(truth.versions);
    expect(num(facts?.latest)).toBe(runs.length);
    expect(result.extract.manifest.quarantined).toBe(0);
  });

  it("extracts the day with more than 1,000 runs and the run with more than 100 jobs completely", async () => {
    const marks = landmarks(dataset);
    expect(marks.busyDay).not.toBeNull();
    const busy = marks.busyDay!;
    const [day] = await query(
      duckdbPath,
      `SELECT COUNT(*) AS n FROM actions_warehouse.fct_workflow_runs
        WHERE is_latest_attempt AND repository = '${busy.repo}' AND CAST(created_at AS DATE) = DATE '${busy.date}'`,
    );
    expect(busy.runs).toBeGreaterThan(1000);
    expect(num(day?.n)).toBe(busy.runs);
    const bigRun = dataset.runs.find((r) => r.id === marks.bigRunId)!;
    const [big] = await query(duckdbPath, `SELECT COUNT(*) AS n FROM actions_warehouse.fct_workflow_jobs WHERE run_id = ${bigRun.id}`);
    expect(num(big?.n)).toBeGreaterThan(100);
    expect(num(big?.n)).toBe(counts(dataset, [bigRun]).jobs);
  });

  it("computes pass rate and p50/p95 duration per workflow and day exactly as the ground truth", async () => {
    const truth = pipelineHealth(dataset.runs);
    const rows = await query(
      duckdbPath,
      `SELECT CAST(run_date AS VARCHAR) AS run_date, repository, workflow_name, runs, successes, failures, pass_rate,
              p50_duration_seconds AS p50, p95_duration_seconds AS p95
         FROM actions_warehouse.rpt_pipeline_health_daily`,
    );
    expect(rows.length).toBe(truth.length);
    const byKey = new Map(rows.map((r) => [`${r.run_date}|${r.repository}|${r.workflow_name}`, r]));
    for (const t of truth) {
      const row = byKey.get(`${t.run_date}|${t.repository}|${t.workflow_name}`);
      expect(row, `${t.run_date} ${t.repository} ${t.workflow_name}`).toBeDefined();
      expect(num(row!.runs)).toBe(t.runs);
      expect(num(row!.successes)).toBe(t.successes);
      expect(num(row!.failures)).toBe(t.failures);
      if (t.pass_rate === null) expect(row!.pass_rate).toBeNull();
      else expect(num(row!.pass_rate)).toBeCloseTo(t.pass_rate, 9);
      expect(num(row!.p50)).toBeCloseTo(t.p50!, 6);
      expect(num(row!.p95)).toBeCloseTo(t.p95!, 6);
    }
  });

  it("computes queue seconds of every job exactly as the ground truth", async () => {
    const truth = queueSeconds(dataset, dataset.runs);
    const rows = await query(duckdbPath, `SELECT job_id, queue_seconds FROM actions_warehouse.fct_workflow_jobs`);
    expect(rows.length).toBe(truth.size);
    let compared = 0;
    for (const r of rows) {
      const expected = truth.get(Number(r.job_id));
      expect(expected, `job ${r.job_id}`).not.toBeUndefined();
      expect(num(r.queue_seconds), `queue_seconds of job ${r.job_id}`).toBe(expected);
      if (expected !== null) compared += 1;
    }
    expect(compared).toBeGreaterThan(1000);
  });

  it("loading the same batches again doubles nothing", async () => {
    const again = await loadIntoDuckDb({ duckdbPath, stagingDir, log: silentLogger });
    expect(again.loaded).toHaveLength(0);
    expect(again.skipped).toBe(result.extract.manifest.files.length);
    const [raw] = await query(duckdbPath, `SELECT COUNT(*) AS n FROM github_raw.workflow_jobs`);
    expect(num(raw?.n)).toBe(result.extract.manifest.counts.workflow_jobs);
  });

  it("spends about the minimum number of API requests", () => {
    const runs = dataset.runs.length;
    const extraAttempts = dataset.runs.reduce((n, r) => n + r.attempts.length - 1, 0);
    // One jobs page per run (two for the >100-job run), earlier attempts, plus list pages; and the workflow
    // files read (one request per new (path, commit), two over 1 MB) while the rate limit left stayed above
    // the reserve (extract/workflow-definitions.ts).
    const files = result.extract.workflowDefinitions;
    // And per deployment one statuses request, per new pair of consecutive deployed SHAs one compare (extract/deployments.ts).
    const deployments = result.extract.deployments;
    const floor = runs + extraAttempts + (files?.fetched ?? 0) + (files?.raw ?? 0) + (deployments?.deployments ?? 0) + (deployments?.compares ?? 0);
    expect(result.extract.manifest.api.requests).toBeGreaterThanOrEqual(floor);
    expect(result.extract.manifest.api.requests).toBeLessThan(floor * 1.1);
  });
});
