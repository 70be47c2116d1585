/**
 * `serve` in-process: a burst of 2,000 signed deliveries built from the simulator's own REST objects
 * (mixed events, 5% duplicates, 1% bad signatures, some out of order), then the warehouse compared with
 * one a poll of the same dataset builds (`runPipeline`). Plus the HTTP contract: 401/400/413/202,
 * secret rotation, the CI-events API, /health and /metrics.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, startSimulator, type Dataset, type Simulator } from "../simulator/index.js";
import { runPipeline } from "../jobs/pipeline.js";
import { openDuckDb } from "../load/duckdb-connection.js";
import { silentLogger } from "../log/logger.js";
import { parseServeConfig } from "../serve/config.js";
import { startServe, type ServeServer } from "../serve/server.js";
import { ConfigError } from "../extract/config.js";
import { jobLifecycle, pool, restObjects, runLifecycle, sign, type Json } from "./serve-fixtures.js";

const ANCHOR = "2026-10-15T12:00:00Z";
const DAYS = 7;
const SECRET = "s3cret";
const OLD_SECRET = "old-secret";
const INGEST = "ingest-token-123";
const HOOK_ID = "4242";

interface Delivery {
  event: string;
  guid: string;
  body: string;
  signature: string;
  /** Expected answer class. */
  good: boolean;
  /** What it carries (for checks). */
  kind: "run" | "job";
  id: number;
}

async function query(path: string, sql: string): Promise<Json[]> {
  const w = await openDuckDb(path);
  try {
    return (await w.connection.runAndReadAll(sql)).getRowObjectsJS() as Json[];
  } finally {
    w.close();
  }
}

async function post(url: string, d: Delivery): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${url}/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": d.event, "x-github-delivery": d.guid, "x-github-hook-id": HOOK_ID, "x-hub-signature-256": d.signature },
    body: d.body,
  });
  return { status: res.status, body: (await res.json()) as Json };
}

describe("serve: burst of signed deliveries equals a poll", () => {
  let dir: string;
  let dataset: Dataset;
  let sim: Simulator;
  let server: ServeServer;
  let liveDb: string;
  let pollDb: string;
  let deliveries: Delivery[];
  let answers: { status: number; body: Json }[];
  let good: Delivery[];
  let duplicates: Delivery[];
  let bad: Delivery[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-serve-"));
    liveDb = join(dir, "live.duckdb");
    pollDb = join(dir, "poll.duckdb");
    dataset = generateDataset({ seed: 11, anchor: ANCHOR, days: DAYS, runsPerRepoPerDay: 4, busyDayRuns: 0, bigRunJobs: 3, bigPackageVersions: 3 });
    sim = await startSimulator({ dataset });
    const { runs, jobs } = await restObjects(sim, dataset);

    // Every run attempt's and job's final state is delivered; earlier states fill the burst up to 1,880 good deliveries.
    const finals: Delivery[] = [];
    const earlier: Delivery[][] = [];
    const make = (event: string, payload: Json, kind: "run" | "job", id: number, secret = SECRET): Delivery => {
      const body = JSON.stringify(payload);
      return { event, guid: randomUUID(), body, signature: sign(secret, body), good: true, kind, id };
    };
    for (const run of runs) {
      const states = runLifecycle(run).map((s, i) => make("workflow_run", { action: s.action, workflow_run: s.run, repository: run.repository }, "run", Number(run.id), i % 7 === 3 ? OLD_SECRET : SECRET));
      finals.push(states.at(-1) as Delivery);
      earlier.push(states.slice(0, -1));
    }
    for (const { job, repository } of jobs) {
      const states = jobLifecycle(job).map((s) => make("workflow_job", { action: s.action, workflow_job: s.job, repository }, "job", Number(job.id)));
      finals.push(states.at(-1) as Delivery);
      earlier.push(states.slice(0, -1));
    }
    const GOOD = 1880;
    expect(finals.length).toBeLessThan(GOOD);
    const extra: Delivery[] = [];
    for (let round = 0; finals.length + extra.length < GOOD; round += 1) {
      let added = false;
      for (const states of earlier) {
        const s = states[round];
        if (s && finals.length + extra.length < GOOD) {
          extra.push(s);
          added = true;
        }
      }
      if (!added) break;
    }
    good = [...extra, ...finals];
    expect(good.length).toBe(GOOD);
    // Some out of order: every 10th entity's final state is posted first.
    const early = finals.filter((_, i) => i % 10 === 0);
    const rest = good.filter((d) => !early.includes(d));
    const ordered = [...early, ...rest];
    duplicates = good.filter((_, i) => i % 18 === 0).slice(0, 100);
    bad = Array.from({ length: 20 }, (_, i) => {
      const body = JSON.stringify({ action: "completed", workflow_run: { ...(runs[0] as Json), id: 9_000_000_000_000 + i }, repository: (runs[0] as Json).repository });
      return { event: "workflow_run", guid: randomUUID(), body, signature: i % 2 === 0 ? sign("wrong", body) : "", good: false, kind: "run" as const, id: 9_000_000_000_000 + i };
    });
    // Duplicates and bad ones spread through the burst.
    deliveries = [...ordered];
    duplicates.forEach((d, i) => deliveries.splice(Math.min(deliveries.length, 200 + i * 17), 0, d));
    bad.forEach((d, i) => deliveries.splice(37 + i * 90, 0, d));
    expect(deliveries.length).toBe(2000);

    server = await startServe(parseServeConfig({ port: 0, host: "127.0.0.1", duckdbPath: liveDb }, { GITHUB_WEBHOOK_SECRET: `${SECRET}, ${OLD_SECRET}`, INGEST_TOKEN: INGEST }), {
      log: silentLogger,
      timers: false,
    });
    answers = await pool(deliveries, 64, (d) => post(server.url, d));
    await server.flush({ transform: "force" });

    await runPipeline({
      extract: { orgs: [dataset.org.login], users: [dataset.user.login], since: new Date(Date.parse(ANCHOR) - (DAYS + 1) * 86_400_000).toISOString().slice(0, 10), apiUrl: sim.url, stagingDir: join(dir, "poll-staging"), concurrency: 4 },
      duckdbPath: pollDb,
      log: silentLogger,
    });
  }, 600_000);

  afterAll(async () => {
    await server?.close();
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers 2xx to every good delivery, 401 to every bad one, and marks duplicates", () => {
    const byGuid = new Map<string, { status: number; body: Json }[]>();
    deliveries.forEach((d, i) => {
      const answer = answers[i] as { status: number; body: Json };
      if (!d.good) {
        expect(answer.status, d.guid).toBe(401);
        return;
      }
      byGuid.set(d.guid, [...(byGuid.get(d.guid) ?? []), answer]);
    });
    expect(byGuid.size).toBe(good.length);
    // Concurrent copies race: whichever is first is stored (202), every other copy is a duplicate (200).
    for (const [guid, list] of byGuid) {
      expect(list.filter((a) => a.status === 202 && a.body.duplicate === false).length, guid).toBe(1);
      expect(list.filter((a) => a.status === 200 && a.body.duplicate === true).length, guid).toBe(list.length - 1);
    }
    expect([...byGuid.values()].filter((l) => l.length === 2).length).toBe(duplicates.length);
  });

  it("stores every good delivery exactly once and no bad one", async () => {
    const keys = await query(liveDb, `SELECT delivery_key, COUNT(*) AS n FROM github_raw._deliveries GROUP BY delivery_key`);
    expect(keys.length).toBe(good.length);
    expect(keys.every((k) => Number(k.n) === 1)).toBe(true);
    const stored = new Set(keys.map((k) => String(k.delivery_key)));
    for (const d of good) expect(stored.has(`gh:${HOOK_ID}:${d.guid}`)).toBe(true);
    for (const d of bad) expect(stored.has(`gh:${HOOK_ID}:${d.guid}`)).toBe(false);
    const [raw] = await query(
      liveDb,
      `SELECT (SELECT COUNT(*) FROM github_raw.workflow_runs) AS runs,
              (SELECT COUNT(*) FROM github_raw.workflow_runs WHERE run_id >= 9000000000000) AS bad_runs,
              (SELECT COUNT(*) FROM github_raw.workflow_jobs) AS jobs,
              (SELECT COUNT(*) FROM github_raw._quarantine) AS quarantined`,
    );
    const runDeliveries = good.filter((d) => d.kind === "run").length;
    const jobDeliveries = good.filter((d) => d.kind === "job").length;
    expect(Number(raw?.runs)).toBe(runDeliveries);
    expect(Number(raw?.bad_runs)).toBe(0);
    // Every job version lands, also one that arrived after a newer one: the models choose by lifecycle.
    expect(Number(raw?.jobs)).toBe(jobDeliveries);
    expect(Number(raw?.quarantined)).toBe(0);
    expect(server.spool.backlog).toBe(0);
    expect(readdirSync(server.spool.dir).filter((f) => f.endsWith(".ndjson")).length).toBeLessThanOrEqual(1);
  });

  it("builds the same run and job facts as a poll of the same dataset", async () => {
    const runsSql = `SELECT run_id, run_attempt, repository, workflow_id, status, conclusion, is_latest_attempt, epoch(updated_at) AS updated, duration_seconds
                     FROM actions_warehouse.fct_workflow_runs ORDER BY run_id, run_attempt`;
    const jobsSql = `SELECT job_id, run_id, run_attempt, status, conclusion, queue_seconds, duration_seconds, runner_name, billable_minutes
                     FROM actions_warehouse.fct_workflow_jobs ORDER BY job_id`;
    const stepsSql = `SELECT COUNT(*) AS n FROM actions_warehouse.fct_job_steps`;
    const live = { runs: await query(liveDb, runsSql), jobs: await query(liveDb, jobsSql), steps: await query(liveDb, stepsSql) };
    const poll = { runs: await query(pollDb, runsSql), jobs: await query(pollDb, jobsSql), steps: await query(pollDb, stepsSql) };
    expect(live.runs.length).toBeGreaterThan(50);
    expect(live.jobs.length).toBeGreaterThan(100);
    expect(live.runs).toEqual(poll.runs);
    expect(live.jobs).toEqual(poll.jobs);
    expect(live.steps).toEqual(poll.steps);
  });

  it("webhook extracts do not move the extract watermark", async () => {
    const rows = await query(liveDb, `SELECT extract_id, len(repositories) AS repos FROM github_raw._extracts`);
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(String(r.extract_id)).toMatch(/^webhook-seg-/);
      expect(Number(r.repos)).toBe(0);
    }
    // Loaded webhook manifests are archived: the next load reads only pending ones.
    expect(readdirSync(join(dir, "live.staging", "manifests")).filter((f) => f.endsWith(".json"))).toEqual([]);
    expect(readdirSync(join(dir, "live.staging", "archive", "manifests")).length).toBe(rows.length);
  });

  it("keeps the HTTP contract: ping, ignored events, malformed JSON, oversize bodies, CI events, health and metrics", async () => {
    const url = server.url;
    const signed = (event: string, body: string, extra: Record<string, string> = {}) =>
      fetch(`${url}/webhook`, { method: "POST", headers: { "content-type": "application/json", "x-github-event": event, "x-github-delivery": randomUUID(), "x-github-hook-id": HOOK_ID, "x-hub-signature-256": sign(SECRET, body), ...extra }, body });
    expect((await signed("ping", JSON.stringify({ zen: "Keep it logically awesome." }))).status).toBe(200);
    const ignored = await signed("push", JSON.stringify({ ref: "refs/heads/main" }));
    expect(ignored.status).toBe(202);
    expect(((await ignored.json()) as Json).ignored).toBe(true);
    expect((await signed("workflow_run", "{not json")).status).toBe(400);
    const big = "x".repeat(26 * 1024 * 1024);
    expect((await signed("workflow_run", big)).status).toBe(413);
    // No signature at all.
    expect((await fetch(`${url}/webhook`, { method: "POST", headers: { "content-type": "application/json", "x-github-event": "workflow_run", "x-github-delivery": "x" }, body: "{}" })).status).toBe(401);

    const ci = (token: string | undefined, body: Json) =>
      fetch(`${url}/api/ci-events`, { method: "POST", headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    const event = { event_id: "ci-1", event_name: "workflow_run", repository: "acme/api", workflow_run: { ...JSON.parse((good[0] as Delivery).body).workflow_run, id: 880_000_001 } };
    expect((await ci(undefined, event)).status).toBe(401);
    expect((await ci("wrong", event)).status).toBe(401);
    expect((await ci(INGEST, { event_name: "x" })).status).toBe(400);
    const first = await ci(INGEST, event);
    expect(first.status).toBe(202);
    expect(((await first.json()) as Json).ok).toBe(true);
    const again = await ci(INGEST, event);
    expect(((await again.json()) as Json).duplicate).toBe(true);

    const health = (await (await fetch(`${url}/healthz`)).json()) as Json;
    expect(health.status).toBe("ok");
    expect(health.spool_backlog).toBe(1);
    expect(typeof health.uptime_seconds).toBe("number");
    expect(health.last_load_at).not.toBeNull();
    expect(health.last_transform_at).not.toBeNull();
    expect((await fetch(`${url}/health`)).status).toBe(200);

    await server.flush({ transform: "never" });
    const rows = await query(liveDb, `SELECT COUNT(*) AS n FROM github_raw.workflow_runs WHERE run_id = 880000001`);
    expect(Number(rows[0]?.n)).toBe(1);

    const metrics = await fetch(`${url}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain("github_actions_webhook_deliveries_total");
  });

  it("refuses to start without a webhook secret, naming GITHUB_WEBHOOK_SECRET", () => {
    expect(() => parseServeConfig({ duckdbPath: join(dir, "x.duckdb") }, {})).toThrow(ConfigError);
    expect(() => parseServeConfig({ duckdbPath: join(dir, "x.duckdb") }, {})).toThrow(/GITHUB_WEBHOOK_SECRET/);
    expect(() => parseServeConfig({ duckdbPath: join(dir, "x.duckdb"), port: "http" }, { GITHUB_WEBHOOK_SECRET: "a" })).toThrow(/--port/);
    expect(() => parseServeConfig({ duckdbPath: join(dir, "x.duckdb"), flushSeconds: "0" }, { GITHUB_WEBHOOK_SECRET: "a" })).toThrow(/--flush-seconds/);
    const config = parseServeConfig({ duckdbPath: join(dir, "x.duckdb") }, { GITHUB_WEBHOOK_SECRET: "a, b", PORT: "9000" });
    expect(config.webhookSecrets).toEqual(["a", "b"]);
    expect(config.port).toBe(9000);
    expect(config.flushSeconds).toBe(5);
    expect(config.transformSeconds).toBe(60);
    expect(config.metricsPrefix).toBe("github_actions_");
  });
});
