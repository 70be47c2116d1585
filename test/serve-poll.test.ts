/**
 * `serve --poll-every`: the scheduled extract as the reconciliation of the webhooks. Webhooks deliver every
 * run of the organisation but a few (missed deliveries); the server's own poll (runExtract with the
 * warehouse's extract state, staged into its staging folder, loaded under the lock serve holds) brings the
 * missed runs in, and no run is doubled.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, startSimulator, type Dataset, type Simulator } from "../simulator/index.js";
import { silentLogger } from "../log/logger.js";
import { ConfigError } from "../extract/config.js";
import { parseServeConfig } from "../serve/config.js";
import { startServe, type ServeServer } from "../serve/server.js";
import { pool, restObjects, sign, type Json } from "./serve-fixtures.js";

const ANCHOR = "2026-10-15T12:00:00Z";
const SECRET = "s3cret";

describe("serve --poll-every: runs missed by webhooks arrive through the poll", () => {
  let dir: string;
  let dataset: Dataset;
  let sim: Simulator;
  let server: ServeServer;
  let orgRuns: Json[];
  let missed: Set<number>;

  const runIds = (): Promise<{ run_id: number; n: number }[]> =>
    server.flusher.read(async (c) =>
      (await c.runAndReadAll(`SELECT run_id, COUNT(*) AS n FROM actions_warehouse.fct_workflow_runs GROUP BY run_id`)).getRowObjectsJS().map((r) => ({ run_id: Number(r.run_id), n: Number(r.n) })),
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-serve-poll-"));
    dataset = generateDataset({ seed: 3, anchor: ANCHOR, days: 3, runsPerRepoPerDay: 2, busyDayRuns: 0, bigRunJobs: 2, bigPackageVersions: 2 });
    sim = await startSimulator({ dataset });
    const { runs } = await restObjects(sim, dataset);
    orgRuns = runs.filter((r) => ((r.repository as Json).owner as Json).login === dataset.org.login);
    const ids = [...new Set(orgRuns.map((r) => Number(r.id)))];
    missed = new Set(ids.filter((_, i) => i % 7 === 3));
    server = await startServe(
      parseServeConfig(
        { port: 0, host: "127.0.0.1", duckdbPath: join(dir, "live.duckdb"), pollEvery: "1h", org: [dataset.org.login], initialSince: new Date(Date.parse(ANCHOR) - 5 * 86_400_000).toISOString().slice(0, 10) },
        { GITHUB_WEBHOOK_SECRET: SECRET, GITHUB_API_URL: sim.url },
      ),
      { log: silentLogger, timers: false },
    );
    const delivered = orgRuns.filter((r) => !missed.has(Number(r.id)));
    const statuses = await pool(delivered, 8, async (run) => {
      const body = JSON.stringify({ action: run.status === "completed" ? "completed" : "requested", workflow_run: run, repository: run.repository });
      const res = await fetch(`${server.url}/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-github-event": "workflow_run", "x-github-delivery": randomUUID(), "x-github-hook-id": "9", "x-hub-signature-256": sign(SECRET, body) },
        body,
      });
      await res.arrayBuffer();
      return res.status;
    });
    expect(statuses.every((s) => s === 202)).toBe(true);
    await server.flush({ transform: "force" });
  }, 300_000);

  afterAll(async () => {
    await server?.close();
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("has only the delivered runs before the poll", async () => {
    expect(missed.size).toBeGreaterThan(0);
    const seen = new Set((await runIds()).map((r) => r.run_id));
    for (const id of missed) expect(seen.has(id)).toBe(false);
    expect(seen.size).toBe(new Set(orgRuns.map((r) => Number(r.id))).size - missed.size);
  });

  it("brings the missed runs in through the poll, doubling none", async () => {
    expect(server.poller).toBeDefined();
    const result = await server.poller?.poll();
    expect(result?.load.loaded.length).toBeGreaterThan(0);
    await server.flush({ transform: "force" });
    const rows = await runIds();
    const seen = new Set(rows.map((r) => r.run_id));
    for (const id of missed) expect(seen.has(id), String(id)).toBe(true);
    expect(seen).toEqual(new Set(orgRuns.map((r) => Number(r.id))));
    // One row per run attempt: webhook rows and polled rows are one truth.
    const attempts = new Map<number, number>();
    for (const r of orgRuns) attempts.set(Number(r.id), (attempts.get(Number(r.id)) ?? 0) + 1);
    for (const r of rows) expect(r.n, String(r.run_id)).toBe(attempts.get(r.run_id));
    expect(server.poller?.lastPollAt).toBeInstanceOf(Date);
  });

  it("checks --poll-every and its scope", () => {
    const base = { duckdbPath: join(dir, "x.duckdb") };
    const env = { GITHUB_WEBHOOK_SECRET: "a" };
    expect(parseServeConfig(base, env).poll).toBeUndefined();
    expect(parseServeConfig({ ...base, pollEvery: "1h", repo: ["acme/api"] }, env).poll?.everyMs).toBe(3_600_000);
    expect(parseServeConfig({ ...base, pollEvery: "30m", org: ["acme"] }, env).poll?.everyMs).toBe(1_800_000);
    expect(() => parseServeConfig({ ...base, pollEvery: "1h" }, env)).toThrow(ConfigError);
    expect(() => parseServeConfig({ ...base, pollEvery: "1h" }, env)).toThrow(/--poll-every/);
    expect(() => parseServeConfig({ ...base, pollEvery: "soon", org: ["acme"] }, env)).toThrow(/--poll-every/);
    expect(() => parseServeConfig({ ...base, pollEvery: "10s", org: ["acme"] }, env)).toThrow(/at least 1m/);
    expect(() => parseServeConfig({ ...base, org: ["acme"] }, env)).toThrow(/--poll-every/);
  });
});
