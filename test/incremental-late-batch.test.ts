/**
 * A batch loaded late (e.g. after a load outage of days) carries old `_extracted_at` values. The fact
 * tables' incremental builds must still pick it up: they rebuild every key whose staging version differs
 * from the one they hold, with no time watermark to slip under.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { DuckDBConnection } from "@duckdb/node-api";
import { createRawTables, openDuckDb } from "../load/duckdb-connection.js";
import { runTransform } from "../transform/run.js";

const dir = mkdtempSync(join(tmpdir(), "aw-late-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const repo = "acme/app";
type Value = string | number | null | string[];
const lit = (v: Value): string =>
  v === null ? "NULL" : typeof v === "number" ? String(v) : Array.isArray(v) ? `[${v.map(lit).join(", ")}]::VARCHAR[]` : `'${v.replaceAll("'", "''")}'`;
async function insert(c: DuckDBConnection, table: string, row: Record<string, Value>): Promise<void> {
  const full: Record<string, Value> = { payload: "{}", ...row };
  const cols = Object.keys(full);
  await c.run(`INSERT INTO github_raw.${table} (${cols.join(", ")}) VALUES (${cols.map((k) => lit(full[k] ?? null)).join(", ")})`);
}
const run = (id: number, extractedAt: string, batch: string, o: Record<string, Value> = {}) => ({
  repository: repo, run_id: id, run_attempt: 1, workflow_id: 10, workflow_name: "CI", workflow_path: ".github/workflows/ci.yml", event: "push",
  head_branch: "main", head_sha: "abc", actor_login: "octocat", html_url: `https://github.com/${repo}/actions/runs/${id}`, status: "completed",
  conclusion: "success", created_at: "2026-01-01T10:00:00Z", run_started_at: "2026-01-01T10:00:00Z", updated_at: "2026-01-01T10:05:00Z",
  _batch_id: batch, _extracted_at: extractedAt, ...o,
});
const job = (id: number, runId: number, extractedAt: string, batch: string, o: Record<string, Value> = {}) => ({
  repository: repo, job_id: id, run_id: runId, run_attempt: 1, workflow_name: "CI", job_name: "build", head_branch: "main", status: "completed",
  conclusion: "success", created_at: "2026-01-01T10:00:00Z", started_at: "2026-01-01T10:00:10Z", completed_at: "2026-01-01T10:04:10Z",
  runner_name: "r1", runner_group_name: "GitHub Actions", labels: ["ubuntu-latest"], _batch_id: batch, _extracted_at: extractedAt, ...o,
});

async function facts(path: string): Promise<{ runs: string[]; jobs: string[] }> {
  const w = await openDuckDb(path);
  try {
    const runs = (await w.connection.runAndReadAll(`SELECT run_id || '/' || run_attempt || '/' || is_latest_attempt || '/' || status AS k FROM actions_warehouse.fct_workflow_runs ORDER BY 1`)).getRowObjectsJS();
    const jobs = (await w.connection.runAndReadAll(`SELECT job_id || '/' || status || '/' || COALESCE(conclusion, '-') AS k FROM actions_warehouse.fct_workflow_jobs ORDER BY 1`)).getRowObjectsJS();
    return { runs: runs.map((r) => String(r.k)), jobs: jobs.map((r) => String(r.k)) };
  } finally {
    w.close();
  }
}

describe("incremental facts and late batches", () => {
  it("a batch loaded days late is merged by the next incremental build, equal to a full refresh", async () => {
    const path = join(dir, "w.duckdb");
    let w = await openDuckDb(path);
    await createRawTables(w.connection);
    // The hourly extracts of January 5th are loaded and modelled.
    await insert(w.connection, "workflow_runs", run(100, "2026-01-05T12:00:00Z", "e2-workflow_runs"));
    await insert(w.connection, "workflow_jobs", job(1001, 100, "2026-01-05T12:00:00Z", "e2-workflow_jobs"));
    await insert(w.connection, "workflow_runs", run(200, "2026-01-05T12:00:00Z", "e2-workflow_runs", { status: "in_progress", conclusion: null }));
    w.close();
    await runTransform({ duckdbPath: path, tags: ["runs", "jobs"], includeDependencies: true });
    expect((await facts(path)).runs).toEqual(["100/1/true/completed", "200/1/true/in_progress"]);

    // Then the batch of an extract from January 2nd, stuck in staging for three days, is loaded: a run
    // and a job nobody else reported, and a re-run attempt of run 100. Every _extracted_at is days older
    // than the newest one in the facts, so a "MAX(_extracted_at) - 6 h" filter would skip all of it.
    w = await openDuckDb(path);
    await insert(w.connection, "workflow_runs", run(300, "2026-01-02T08:00:00Z", "e1-workflow_runs"));
    await insert(w.connection, "workflow_runs", run(100, "2026-01-02T08:00:00Z", "e1-workflow_runs", { run_attempt: 2, updated_at: "2026-01-01T11:00:00Z" }));
    await insert(w.connection, "workflow_jobs", job(3001, 300, "2026-01-02T08:00:00Z", "e1-workflow_jobs"));
    // And a newer version of run 200 with a later extraction time, as a normal hourly batch.
    await insert(w.connection, "workflow_runs", run(200, "2026-01-05T13:00:00Z", "e3-workflow_runs", { updated_at: "2026-01-01T10:09:00Z" }));
    w.close();
    await runTransform({ duckdbPath: path, tags: ["runs", "jobs"], includeDependencies: true });
    const incremental = await facts(path);
    expect(incremental.runs).toEqual(["100/1/false/completed", "100/2/true/completed", "200/1/true/completed", "300/1/true/completed"]);
    expect(incremental.jobs).toEqual(["1001/completed/success", "3001/completed/success"]);

    await runTransform({ duckdbPath: path, tags: ["runs", "jobs"], includeDependencies: true, fullRefresh: true });
    expect(await facts(path)).toEqual(incremental);
  }, 120_000);
});
