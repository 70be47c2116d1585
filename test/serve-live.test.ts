/**
 * The live transform of `serve` (serve/flusher.ts LIVE_TAG): between full transforms, every flush that
 * loaded rows builds only the models the live endpoints read. Those models must be exactly what a full
 * transform builds from the same raw rows, whatever order the lifecycle states arrived in.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, startSimulator, type Simulator } from "../simulator/index.js";
import { silentLogger } from "../log/logger.js";
import { parseServeConfig } from "../serve/config.js";
import { startServe, type ServeServer } from "../serve/server.js";
import type { FlushResult } from "../serve/flusher.js";
import { jobLifecycle, pool, restObjects, runLifecycle, sign, type Json } from "./serve-fixtures.js";

const SECRET = "s3cret";

interface Delivery {
  event: string;
  body: string;
}

async function post(url: string, d: Delivery): Promise<number> {
  const res = await fetch(`${url}/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": d.event, "x-github-delivery": randomUUID(), "x-github-hook-id": "1", "x-hub-signature-256": sign(SECRET, d.body) },
    body: d.body,
  });
  await res.arrayBuffer();
  return res.status;
}

describe("serve: the live transform builds the live models exactly as the full transform", () => {
  let dir: string;
  let sim: Simulator;
  let server: ServeServer;
  const flushes: FlushResult[] = [];
  let live: { runs: Json[]; jobs: Json[] };
  let full: { runs: Json[]; jobs: Json[] };

  const facts = async (): Promise<{ runs: Json[]; jobs: Json[] }> =>
    server.flusher.read(async (c) => ({
      // Every column, as JSON text, so a difference in any value or type shows.
      runs: (await c.runAndReadAll(`SELECT * FROM actions_warehouse.fct_workflow_runs ORDER BY run_id, run_attempt`)).getRowObjectsJson() as Json[],
      jobs: (await c.runAndReadAll(`SELECT * FROM actions_warehouse.fct_workflow_jobs ORDER BY job_id`)).getRowObjectsJson() as Json[],
    }));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-serve-live-"));
    const dataset = generateDataset({ seed: 23, anchor: "2026-10-15T12:00:00Z", days: 3, runsPerRepoPerDay: 3, busyDayRuns: 0, bigRunJobs: 3, bigPackageVersions: 0 });
    sim = await startSimulator({ dataset });
    const { runs, jobs } = await restObjects(sim, dataset);
    // Lifecycle states in waves: every entity's first state, then its second, ... so a fact built live
    // from an early state is later corrected by a newer one (and a re-run's attempts arrive apart).
    const waves: Delivery[][] = [];
    const add = (i: number, d: Delivery) => (waves[i] ??= []).push(d);
    for (const run of runs) runLifecycle(run).forEach((s, i) => add(i, { event: "workflow_run", body: JSON.stringify({ action: s.action, workflow_run: s.run, repository: run.repository }) }));
    for (const { job, repository } of jobs) jobLifecycle(job).forEach((s, i) => add(i, { event: "workflow_job", body: JSON.stringify({ action: s.action, workflow_job: s.job, repository }) }));
    // The last state of some jobs first (out of order): the lifecycle rank must still choose it.
    const last = waves.at(-1) ?? [];
    waves[0] = [...last.filter((_, i) => i % 7 === 0), ...(waves[0] ?? [])];

    server = await startServe(parseServeConfig({ port: 0, host: "127.0.0.1", duckdbPath: join(dir, "live.duckdb"), transformSeconds: 3600 }, { GITHUB_WEBHOOK_SECRET: SECRET }), { log: silentLogger, timers: false });
    for (const wave of waves) {
      const statuses = await pool(wave, 16, (d) => post(server.url, d));
      expect(statuses.every((s) => s === 202 || s === 200)).toBe(true);
      flushes.push(await server.flush());
    }
    live = await facts();
    await server.flush({ transform: "force" });
    full = await facts();
  }, 600_000);

  afterAll(async () => {
    await server?.close();
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("ran the full transform once (the first flush) and the live one after each later flush", () => {
    expect(flushes.length).toBeGreaterThanOrEqual(3);
    expect(flushes[0]?.transformed).toBe(true);
    for (const f of flushes.slice(1)) {
      expect(f.transformed).toBe(false);
      expect(f.live).toBe(true);
    }
  });

  it("fct_workflow_runs and fct_workflow_jobs equal a full transform's, row for row", () => {
    expect(live.runs.length).toBeGreaterThan(0);
    expect(live.jobs.length).toBeGreaterThan(0);
    expect(live.runs).toEqual(full.runs);
    expect(live.jobs).toEqual(full.jobs);
  });
});
