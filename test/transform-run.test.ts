import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DuckDBConnection } from "@duckdb/node-api";
import { createRawTables, openDuckDb } from "../load/duckdb-connection.js";
import { AssertionFailedError, runTransform, type TransformResult } from "../transform/run.js";

const vars = { kpi_reference_time: "2026-01-02T00:00:00Z" };
type Value = string | number | boolean | null | string[];

function lit(v: Value): string {
  if (v === null) return "NULL";
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map((x) => lit(x)).join(", ")}]::VARCHAR[]`;
  return `'${v.replaceAll("'", "''")}'`;
}

async function insert(c: DuckDBConnection, table: string, rows: Record<string, Value>[]): Promise<void> {
  for (const row of rows) {
    const full: Record<string, Value> = { payload: "{}", ...row };
    const cols = Object.keys(full);
    await c.run(`INSERT INTO github_raw.${table} (${cols.join(", ")}) VALUES (${cols.map((k) => lit(full[k] ?? null)).join(", ")})`);
  }
}

const repo = "acme/app";
function run(id: number, attempt: number, o: Record<string, Value>): Record<string, Value> {
  return {
    repository: repo, run_id: id, run_attempt: attempt, workflow_id: 10, workflow_name: "CI", workflow_path: ".github/workflows/ci.yml",
    event: "push", head_branch: "main", head_sha: "abc", actor_login: "octocat", html_url: `https://github.com/${repo}/actions/runs/${id}`,
    _batch_id: "b1", _extracted_at: "2026-01-01T20:00:00Z", ...o,
  };
}
function job(id: number, runId: number, attempt: number, o: Record<string, Value>): Record<string, Value> {
  return {
    repository: repo, job_id: id, run_id: runId, run_attempt: attempt, workflow_name: "CI", job_name: "build", head_branch: "main",
    status: "completed", conclusion: "success", runner_name: "runner-1", runner_group_name: "GitHub Actions",
    _batch_id: "b1", _extracted_at: "2026-01-01T20:00:00Z", ...o,
  };
}

async function seed(c: DuckDBConnection): Promise<void> {
  await createRawTables(c);
  await insert(c, "workflows", [
    { repository: repo, workflow_id: 10, name: "CI", path: ".github/workflows/ci.yml", state: "active", created_at: "2025-01-01T00:00:00Z", updated_at: "2025-06-01T00:00:00Z", _batch_id: "b1", _extracted_at: "2026-01-01T20:00:00Z" },
  ]);
  await insert(c, "workflow_runs", [
    // Run 100: attempt 1 failed, attempt 2 succeeded; attempt 2 extracted twice (b1, b2).
    run(100, 1, { status: "completed", conclusion: "failure", created_at: "2026-01-01T10:00:00Z", run_started_at: "2026-01-01T10:00:00Z", updated_at: "2026-01-01T10:05:00Z" }),
    run(100, 2, { status: "completed", conclusion: "success", created_at: "2026-01-01T10:00:00Z", run_started_at: "2026-01-01T11:00:00Z", updated_at: "2026-01-01T11:02:30.5Z" }),
    run(100, 2, { status: "completed", conclusion: "success", created_at: "2026-01-01T10:00:00Z", run_started_at: "2026-01-01T11:00:00Z", updated_at: "2026-01-01T11:02:30.5Z", _batch_id: "b2", _extracted_at: "2026-01-01T21:00:00Z" }),
    // Run 200: in progress, conclusion NULL.
    run(200, 1, { status: "in_progress", conclusion: null, created_at: "2026-01-01T12:00:00Z", run_started_at: "2026-01-01T12:00:10Z", updated_at: "2026-01-01T12:01:00Z" }),
    // Run 300: crosses midnight UTC, 1200.9 s -> 1200.
    run(300, 1, { status: "completed", conclusion: "success", created_at: "2025-12-31T23:50:00Z", run_started_at: "2025-12-31T23:50:00Z", updated_at: "2026-01-01T00:10:00.9Z", head_branch: "release" }),
    run(400, 1, { status: "completed", conclusion: "failure", created_at: "2026-01-01T08:00:00Z", run_started_at: "2026-01-01T08:00:00Z", updated_at: "2026-01-01T08:01:40Z", head_branch: "feature" }),
    run(500, 1, { status: "completed", conclusion: "cancelled", created_at: "2026-01-01T09:00:00Z", run_started_at: "2026-01-01T09:00:00Z", updated_at: "2026-01-01T09:06:40Z" }),
  ]);
  await insert(c, "workflow_jobs", [
    // Job 1001 extracted twice: first in progress (b1), then completed (b2).
    job(1001, 100, 1, { job_name: "build (ubuntu-latest)", status: "in_progress", conclusion: null, labels: ["ubuntu-latest"], created_at: "2026-01-01T10:00:00Z", started_at: "2026-01-01T10:00:30Z", completed_at: null }),
    job(1001, 100, 1, { job_name: "build (ubuntu-latest)", conclusion: "failure", labels: ["ubuntu-latest"], created_at: "2026-01-01T10:00:00Z", started_at: "2026-01-01T10:00:30Z", completed_at: "2026-01-01T10:04:31Z", _batch_id: "b2", _extracted_at: "2026-01-01T21:00:00Z" }),
    job(1002, 100, 2, { job_name: "build (windows-latest)", labels: ["windows-latest"], created_at: "2026-01-01T11:00:00Z", started_at: "2026-01-01T11:00:05Z", completed_at: "2026-01-01T11:02:05Z" }),
    job(1003, 300, 1, { job_name: "mac", labels: ["macos-14"], created_at: "2025-12-31T23:50:00Z", started_at: "2025-12-31T23:51:00Z", completed_at: "2026-01-01T00:01:00.5Z" }),
    job(1004, 300, 1, { job_name: "selfhosted", labels: ["self-hosted", "linux", "x64"], runner_group_name: "Default", created_at: "2025-12-31T23:50:00Z", started_at: "2025-12-31T23:50:20Z", completed_at: "2026-01-01T00:05:20Z" }),
    job(1010, 300, 1, { job_name: "lint", labels: ["ubuntu-24.04"], created_at: "2025-12-31T23:50:00Z", started_at: "2025-12-31T23:59:30Z", completed_at: "2026-01-01T00:00:31Z" }),
    job(1005, 400, 1, { job_name: "deploy", conclusion: "skipped", labels: ["ubuntu-latest"], runner_name: null, created_at: "2026-01-01T08:00:00Z", started_at: "2026-01-01T08:00:00Z", completed_at: "2026-01-01T08:00:00Z" }),
    job(1006, 500, 1, { job_name: "test", conclusion: "cancelled", labels: ["ubuntu-22.04"], runner_name: null, created_at: "2026-01-01T09:00:00Z", started_at: null, completed_at: "2026-01-01T09:05:00Z" }),
    job(1007, 200, 1, { job_name: "queued", status: "queued", conclusion: null, labels: ["ubuntu-latest"], runner_name: null, created_at: "2026-01-01T12:00:10Z", started_at: null, completed_at: null }),
    job(1008, 200, 1, { job_name: "win-self", status: "in_progress", conclusion: null, labels: ["self-hosted", "windows"], created_at: "2026-01-01T12:00:10Z", started_at: "2026-01-01T12:00:40Z", completed_at: null }),
  ]);
  await insert(c, "job_steps", [
    { repository: repo, job_id: 1001, run_id: 100, run_attempt: 1, step_number: 1, step_name: "checkout", status: "completed", conclusion: "success", started_at: "2026-01-01T10:00:30Z", completed_at: "2026-01-01T10:00:31.9Z", _batch_id: "b1", _extracted_at: "2026-01-01T20:00:00Z" },
    { repository: repo, job_id: 1001, run_id: 100, run_attempt: 1, step_number: 2, step_name: "test", status: "completed", conclusion: "failure", started_at: "2026-01-01T10:00:32Z", completed_at: "2026-01-01T10:04:31Z", _batch_id: "b1", _extracted_at: "2026-01-01T20:00:00Z" },
  ]);
  await insert(c, "packages", [
    { owner: "acme", owner_type: "Organization", package_id: 1, package_type: "npm", package_name: "lib", visibility: "public", repository: repo, version_count: 3, created_at: "2025-01-01T00:00:00Z", updated_at: "2026-01-05T00:00:00Z", _batch_id: "b1", _extracted_at: "2026-01-06T00:00:00Z" },
  ]);
  const v = (id: number, name: string, created: string, o: Record<string, Value> = {}): Record<string, Value> => ({
    owner: "acme", package_type: "npm", package_name: "lib", version_id: id, version_name: name, tags: [], created_at: created, updated_at: created,
    deleted_at: null, _batch_id: "b1", _extracted_at: "2026-01-06T00:00:00Z", ...o,
  });
  await insert(c, "package_versions", [
    v(7001, "1.0.0", "2026-01-01T10:00:00Z"),
    v(7001, "1.0.0", "2026-01-01T10:00:00Z", { updated_at: "2026-01-03T00:00:00Z", deleted_at: "2026-01-03T00:00:00Z", _batch_id: "b2", _extracted_at: "2026-01-07T00:00:00Z" }),
    v(7003, "1.1.0", "2026-01-04T10:00:00Z"),
    v(7002, "2.0.0", "2026-01-05T10:00:00Z"),
  ]);
}

async function query(path: string, sql: string): Promise<Record<string, unknown>[]> {
  const w = await openDuckDb(path);
  try {
    return (await w.connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    w.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), "transform-run-"));
const db = join(dir, "warehouse.duckdb");
let first: TransformResult;

beforeAll(async () => {
  const w = await openDuckDb(db);
  await seed(w.connection);
  w.close();
  first = await runTransform({ duckdbPath: db, vars });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("runTransform on the hand-made fixture", () => {
  it("runs every action", () => {
    expect(first.ok).toBe(true);
    expect(first.actions.every((a) => a.status === "done")).toBe(true);
    expect(first.actions.find((a) => a.name === "actions_warehouse.fct_workflow_runs")).toMatchObject({ mode: "full", rowCount: 6 });
  });

  it("fct_workflow_runs: one row per attempt, latest flags, truncated durations", async () => {
    const rows = await query(db, "SELECT run_id, run_attempt, is_latest_attempt, duration_seconds, conclusion FROM actions_warehouse.fct_workflow_runs ORDER BY run_id, run_attempt");
    expect(rows).toEqual([
      { run_id: "100", run_attempt: "1", is_latest_attempt: false, duration_seconds: "300", conclusion: "failure" },
      { run_id: "100", run_attempt: "2", is_latest_attempt: true, duration_seconds: "150", conclusion: "success" },
      { run_id: "200", run_attempt: "1", is_latest_attempt: true, duration_seconds: null, conclusion: null },
      { run_id: "300", run_attempt: "1", is_latest_attempt: true, duration_seconds: "1200", conclusion: "success" },
      { run_id: "400", run_attempt: "1", is_latest_attempt: true, duration_seconds: "100", conclusion: "failure" },
      { run_id: "500", run_attempt: "1", is_latest_attempt: true, duration_seconds: "400", conclusion: "cancelled" },
    ]);
  });

  it("fct_workflow_jobs: queue, duration, runner OS, billable minutes and dated cost", async () => {
    const rows = await query(db, "SELECT job_id, status, queue_seconds, duration_seconds, runner_os, is_self_hosted, billable_minutes, estimated_cost_usd FROM actions_warehouse.fct_workflow_jobs ORDER BY job_id");
    const byId = Object.fromEntries(rows.map((r) => [String(r.job_id), r]));
    expect(rows).toHaveLength(9);
    expect(byId["1001"]).toMatchObject({ status: "completed", queue_seconds: "30", duration_seconds: "241", runner_os: "Linux", is_self_hosted: false, billable_minutes: "5" });
    expect(byId["1001"]?.estimated_cost_usd).toBeCloseTo(0.03, 9);
    expect(byId["1002"]).toMatchObject({ queue_seconds: "5", duration_seconds: "120", runner_os: "Windows", billable_minutes: "2" });
    expect(byId["1002"]?.estimated_cost_usd).toBeCloseTo(0.02, 9);
    expect(byId["1003"]).toMatchObject({ queue_seconds: "60", duration_seconds: "600", runner_os: "macOS", billable_minutes: "10" });
    expect(byId["1003"]?.estimated_cost_usd).toBeCloseTo(0.8, 9); // started 2025-12-31: old macOS rate
    expect(byId["1004"]).toMatchObject({ queue_seconds: "20", duration_seconds: "900", runner_os: "Linux", is_self_hosted: true, billable_minutes: "0", estimated_cost_usd: 0 });
    expect(byId["1010"]).toMatchObject({ queue_seconds: "570", duration_seconds: "61", billable_minutes: "2" });
    expect(byId["1010"]?.estimated_cost_usd).toBeCloseTo(0.016, 9); // 2025 Linux rate
    expect(byId["1005"]).toMatchObject({ queue_seconds: null, duration_seconds: null, billable_minutes: "0", estimated_cost_usd: 0 });
    expect(byId["1006"]).toMatchObject({ queue_seconds: null, duration_seconds: null, billable_minutes: "0" });
    expect(byId["1007"]).toMatchObject({ queue_seconds: null, duration_seconds: null, billable_minutes: "0" });
    expect(byId["1008"]).toMatchObject({ queue_seconds: "30", duration_seconds: null, runner_os: "Windows", is_self_hosted: true });
    const [total] = await query(db, "SELECT SUM(billable_minutes)::INTEGER AS m, ROUND(SUM(estimated_cost_usd), 6) AS c FROM actions_warehouse.rpt_cost_monthly");
    expect(total).toEqual({ m: 19, c: 0.866 });
  });

  it("rpt_pipeline_health_daily: counts, pass_rate, p50/p95", async () => {
    const rows = await query(db, "SELECT CAST(run_date AS VARCHAR) AS d, runs, successes, failures, pass_rate, p50_duration_seconds AS p50, p95_duration_seconds AS p95 FROM actions_warehouse.rpt_pipeline_health_daily ORDER BY d");
    expect(rows).toMatchObject([
      { d: "2025-12-31", runs: "1", successes: "1", failures: "0", pass_rate: 1, p50: 1200, p95: 1200 },
      { d: "2026-01-01", runs: "3", successes: "1", failures: "1", pass_rate: 0.5, p50: 150 },
    ]);
    // durations 100, 150, 400: p95 = 150 + 0.9 * 250 (floating-point interpolation)
    expect(rows[1]?.p95).toBeCloseTo(375, 9);
  });

  it("rpt_kpi_summary compares the periods before the kpi_reference_time var", async () => {
    const rows = await query(db, "SELECT period, runs_current, runs_previous, success_rate_current, success_rate_previous FROM actions_warehouse.rpt_kpi_summary ORDER BY period");
    expect(rows).toEqual([
      { period: "last_24h", runs_current: "3", runs_previous: "1", success_rate_current: 0.5, success_rate_previous: 1 },
      { period: "last_7d", runs_current: "4", runs_previous: "0", success_rate_current: 2 / 3, success_rate_previous: null },
    ]);
  });

  it("other facts and reports", async () => {
    expect(await query(db, "SELECT step_number, duration_seconds FROM actions_warehouse.fct_job_steps ORDER BY step_number")).toEqual([
      { step_number: "1", duration_seconds: "1" },
      { step_number: "2", duration_seconds: "239" },
    ]);
    expect(await query(db, "SELECT version_id, is_deleted, repository FROM actions_warehouse.fct_package_versions ORDER BY version_id")).toEqual([
      { version_id: "7001", is_deleted: true, repository: repo },
      { version_id: "7002", is_deleted: false, repository: repo },
      { version_id: "7003", is_deleted: false, repository: repo },
    ]);
    expect(await query(db, "SELECT CAST(week_start AS VARCHAR) AS w, versions_published FROM actions_warehouse.rpt_package_publish_frequency ORDER BY w")).toEqual([
      { w: "2025-12-29", versions_published: "2" },
      { w: "2026-01-05", versions_published: "1" },
    ]);
    const running = await query(db, "SELECT entity_type, COALESCE(job_id, run_id) AS id, age_seconds FROM actions_warehouse.rpt_running_now ORDER BY entity_type, id");
    expect(running).toEqual([
      { entity_type: "job", id: "1007", age_seconds: "43190" },
      { entity_type: "job", id: "1008", age_seconds: "43190" },
      { entity_type: "run", id: "200", age_seconds: "43200" },
    ]);
    const edges = await query(db, "SELECT target_id, runs, failures FROM actions_warehouse.rpt_workflow_topology_edges WHERE edge_type = 'workflow_job' AND target_id LIKE '%/build' ");
    expect(edges).toEqual([{ target_id: "job:acme/app/CI/build", runs: "2", failures: "1" }]);
  });
});

describe("incremental builds", () => {
  it("a re-run attempt merges incrementally and equals a full refresh", async () => {
    const w = await openDuckDb(db);
    await insert(w.connection, "workflow_runs", [
      run(100, 3, { status: "completed", conclusion: "success", created_at: "2026-01-01T10:00:00Z", run_started_at: "2026-01-01T13:00:00Z", updated_at: "2026-01-01T13:01:00Z", _batch_id: "b3", _extracted_at: "2026-01-02T12:00:00Z" }),
    ]);
    await insert(w.connection, "workflow_jobs", [
      job(1011, 100, 3, { labels: ["ubuntu-latest"], created_at: "2026-01-01T13:00:00Z", started_at: "2026-01-01T13:00:01Z", completed_at: "2026-01-01T13:00:59Z", _batch_id: "b3", _extracted_at: "2026-01-02T12:00:00Z" }),
    ]);
    w.close();
    const second = await runTransform({ duckdbPath: db, vars, tags: ["actions"], includeDependencies: true });
    const runs = second.actions.find((a) => a.name === "actions_warehouse.fct_workflow_runs");
    expect(runs).toMatchObject({ mode: "incremental", rowCount: 7 });
    // Only runs whose staging version changed are recomputed: run 100 gained attempt 3, so its three
    // attempts (is_latest_attempt moves) are merged and nothing else.
    expect(runs?.rowsMerged).toBe(3);
    expect(second.actions.find((a) => a.name === "actions_warehouse.fct_workflow_jobs")).toMatchObject({ mode: "incremental", rowCount: 10 });

    const sql = {
      runs: "SELECT * EXCLUDE (_extracted_at) FROM actions_warehouse.fct_workflow_runs ORDER BY run_id, run_attempt",
      jobs: "SELECT * EXCLUDE (_extracted_at) FROM actions_warehouse.fct_workflow_jobs ORDER BY job_id",
    };
    const incremental = { runs: await query(db, sql.runs), jobs: await query(db, sql.jobs) };
    expect(incremental.runs.filter((r) => r.run_id === "100").map((r) => r.is_latest_attempt)).toEqual([false, false, true]);

    const copy = join(dir, "full.duckdb");
    copyFileSync(db, copy);
    const full = await runTransform({ duckdbPath: copy, vars, fullRefresh: true, tags: ["actions"], includeDependencies: true });
    expect(full.actions.find((a) => a.name === "actions_warehouse.fct_workflow_runs")?.mode).toBe("full");
    expect(await query(copy, sql.runs)).toEqual(incremental.runs);
    expect(await query(copy, sql.jobs)).toEqual(incremental.jobs);
  });
});

describe("assertions and selection", () => {
  it("tags select only tagged actions; includeDependencies adds upstream", async () => {
    const packagesOnly = await runTransform({ duckdbPath: db, vars, tags: ["packages"] });
    const names = packagesOnly.actions.map((a) => a.name);
    expect(names).toContain("actions_warehouse.fct_package_versions");
    expect(names).toContain("actions_staging.stg_package_versions");
    expect(names).not.toContain("actions_warehouse.fct_workflow_runs");
    const health = await runTransform({ duckdbPath: db, vars, tags: ["reporting"], includeDependencies: true });
    expect(health.actions.map((a) => a.name)).toContain("actions_staging.stg_workflow_runs");
    const reportingOnly = await runTransform({ duckdbPath: db, vars, tags: ["reporting"] });
    // The reporting views and the assertions beside them (rpt_alerts' uniqueKey and nonNull), nothing upstream.
    expect(reportingOnly.actions.map((a) => a.name).filter((n) => !/^actions_warehouse\.rpt_|^actions_assertions\.actions_warehouse_rpt_/.test(n))).toEqual([]);
    expect(reportingOnly.actions.map((a) => a.name)).toContain("actions_warehouse.rpt_alerts");
  });

  it("a model whose kind changed between releases (view ↔ table) replaces the old relation", async () => {
    // A warehouse built by a release where fct_workflow_job_mapping was a view and rpt_kpi_summary a table:
    // DuckDB's CREATE OR REPLACE refuses to replace one kind with the other.
    const old = join(dir, "kinds.duckdb");
    copyFileSync(db, old);
    const w = await openDuckDb(old);
    await w.connection.run("DROP TABLE actions_warehouse.fct_workflow_job_mapping; CREATE VIEW actions_warehouse.fct_workflow_job_mapping AS SELECT 1 AS x");
    await w.connection.run("DROP VIEW actions_warehouse.rpt_kpi_summary; CREATE TABLE actions_warehouse.rpt_kpi_summary AS SELECT 1 AS x");
    w.close();
    const result = await runTransform({ duckdbPath: old, vars, tags: ["graph", "reporting"], includeDependencies: true });
    expect(result.ok).toBe(true);
    const kinds = await query(old, "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'actions_warehouse' AND table_name IN ('fct_workflow_job_mapping', 'rpt_kpi_summary') ORDER BY table_name");
    expect(kinds).toEqual([
      { table_name: "fct_workflow_job_mapping", table_type: "BASE TABLE" },
      { table_name: "rpt_kpi_summary", table_type: "VIEW" },
    ]);
  });

  it("an unknown conclusion fails the run with the assertion name and the row", async () => {
    const bad = join(dir, "bad.duckdb");
    copyFileSync(db, bad);
    const w = await openDuckDb(bad);
    await insert(w.connection, "workflow_runs", [
      run(900, 1, { status: "completed", conclusion: "exploded", created_at: "2026-01-01T10:00:00Z", run_started_at: "2026-01-01T10:00:00Z", updated_at: "2026-01-01T10:01:00Z", _extracted_at: "2026-01-03T00:00:00Z" }),
    ]);
    w.close();
    const error = await runTransform({ duckdbPath: bad, vars }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AssertionFailedError);
    const failure = error as AssertionFailedError;
    expect(failure.assertionName).toBe("actions_assertions.assert_workflow_runs_accepted_values");
    expect(failure.message).toContain("assert_workflow_runs_accepted_values");
    expect(failure.message).toContain("exploded");
    expect(failure.rows).toEqual([{ run_id: "900", run_attempt: "1", repository: repo, status: "completed", conclusion: "exploded" }]);
    expect(failure.result?.actions.find((a) => a.name === failure.assertionName)?.status).toBe("failed");
  });
});
