/**
 * `serve --warehouse bigquery` against the Google stand-ins (strict BigQuery and Cloud Storage on
 * 127.0.0.1, reached by the real clients through BIGQUERY_EMULATOR_HOST / STORAGE_EMULATOR_HOST):
 * signed deliveries land in the live DuckDB every live flush and in the BigQuery raw tables once per
 * BigQuery window, exactly once across crashes between the ship's steps, a Cloud Storage outage and a stop.
 *
 * Cloud Storage is reached through a small proxy here, so a test can take it down (every request answered
 * 503, as during an outage) and bring it back.
 */
import { randomUUID } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BigQuery } from "@google-cloud/bigquery";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "../extract/config.js";
import { EXTRACT_ID_LENGTH } from "../extract/run.js";
import { bootstrapBigQuery } from "../load/bigquery-bootstrap.js";
import { datasets } from "../load/datasets.js";
import { createLogger, silentLogger } from "../log/logger.js";
import { pendingDirOf, type ShipStep } from "../serve/bigquery-sink.js";
import { parseServeConfig } from "../serve/config.js";
import { startServe, type ServeServer } from "../serve/server.js";
import { sign } from "./serve-fixtures.js";
import { startGoogleStandIns, type GoogleStandIns } from "./stand-ins/google-env.js";

type Json = Record<string, unknown>;

const PROJECT = "stand-in-project";
const BUCKET = "aw-serve-staging";
const SECRET = "bq-serve-secret";
const RAW_TABLES = ["workflow_runs", "workflow_jobs", "job_steps"] as const;

let google: GoogleStandIns;
let gcsProxy: { url: string; down: boolean; close(): Promise<void> };
let dir: string;

/** Forwards to the GCS stand-in, or answers 503 to everything while `down` (an outage). */
async function startGcsProxy(target: string): Promise<typeof gcsProxy> {
  const upstream = new URL(target);
  const state = { down: false };
  const server: Server = createServer((req, res) => {
    if (state.down) {
      req.resume();
      res.writeHead(503, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: 503, message: "Service Unavailable (test outage)", errors: [{ reason: "backendError", message: "outage" }] } }));
      return;
    }
    const forward = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    forward.on("error", () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    get down() {
      return state.down;
    },
    set down(v: boolean) {
      state.down = v;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
const BASE = Date.now() - 2 * 3_600_000;

function runObject(id: number): Json {
  return {
    id,
    name: "CI",
    run_number: id % 1000,
    run_attempt: 1,
    workflow_id: 77,
    path: ".github/workflows/ci.yml",
    event: "push",
    head_branch: "main",
    head_sha: "a".repeat(40),
    actor: { login: "octo", id: 7 },
    triggering_actor: { login: "octo", id: 7 },
    status: "completed",
    conclusion: id % 3 === 0 ? "failure" : "success",
    created_at: iso(BASE + id * 1000),
    run_started_at: iso(BASE + id * 1000 + 5000),
    updated_at: iso(BASE + id * 1000 + 65_000),
    html_url: `https://github.com/acme/api/actions/runs/${id}`,
    repository: { full_name: "acme/api", id: 1 },
  };
}

function jobObject(id: number, runId: number): Json {
  return {
    id,
    run_id: runId,
    run_attempt: 1,
    workflow_name: "CI",
    name: `build (${id})`,
    head_branch: "main",
    head_sha: "a".repeat(40),
    status: "completed",
    conclusion: "success",
    created_at: iso(BASE + runId * 1000),
    started_at: iso(BASE + runId * 1000 + 10_000),
    completed_at: iso(BASE + runId * 1000 + 60_000),
    runner_name: "GitHub Actions 1",
    runner_group_name: "GitHub Actions",
    labels: ["ubuntu-latest"],
    steps: [{ name: "Set up job", status: "completed", conclusion: "success", number: 1, started_at: iso(BASE + runId * 1000 + 10_000), completed_at: iso(BASE + runId * 1000 + 12_000) }],
    html_url: `https://github.com/acme/api/actions/runs/${runId}/job/${id}`,
  };
}

async function post(url: string, event: "workflow_run" | "workflow_job", object: Json, opts: { delivery?: string; secret?: string } = {}): Promise<number> {
  const body = JSON.stringify({ action: "completed", [event]: object, repository: { full_name: "acme/api" } });
  const res = await fetch(`${url}/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": event, "x-github-delivery": opts.delivery ?? randomUUID(), "x-github-hook-id": "42", "x-hub-signature-256": sign(opts.secret ?? SECRET, body) },
    body,
  });
  return res.status;
}

/** Posts one run (and one job with one step) per id; every answer must be 202. */
async function deliverRuns(url: string, ids: number[]): Promise<void> {
  for (const id of ids) {
    expect(await post(url, "workflow_run", runObject(id))).toBe(202);
    expect(await post(url, "workflow_job", jobObject(id * 10, id))).toBe(202);
  }
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

/** BigQuery raw rows of these run ids (the tables are shared by every case of the file). */
function bqRunIds(ids: number[]): number[] {
  const want = new Set(ids);
  return google.bigquery
    .rows(datasets.raw, "workflow_runs")
    .map((r) => Number(r.run_id))
    .filter((id) => want.has(id))
    .sort((a, b) => a - b);
}
function bqJobIds(ids: number[]): number[] {
  const want = new Set(ids.map((id) => id * 10));
  return google.bigquery
    .rows(datasets.raw, "workflow_jobs")
    .map((r) => Number(r.job_id))
    .filter((id) => want.has(id))
    .sort((a, b) => a - b);
}
function bqStepJobIds(ids: number[]): number[] {
  const want = new Set(ids.map((id) => id * 10));
  return google.bigquery
    .rows(datasets.raw, "job_steps")
    .map((r) => Number(r.job_id))
    .filter((id) => want.has(id))
    .sort((a, b) => a - b);
}

interface LoadJob {
  jobId: string;
  table: string;
  prefixUris: string[];
}
/** Load jobs inserted (not answered 409) whose sources are under this bucket prefix. */
function loadJobsUnder(prefix: string): LoadJob[] {
  return google.bigquery
    .loadJobs()
    .map((j) => {
      const load = (j.configuration as { load: { destinationTable: { tableId: string }; sourceUris: string[] } }).load;
      return { jobId: String((j.jobReference as { jobId: string }).jobId), table: load.destinationTable.tableId, prefixUris: load.sourceUris };
    })
    .filter((j) => j.prefixUris.every((u) => u.startsWith(`gs://${BUCKET}/${prefix}/`)));
}
const perTable = (jobs: LoadJob[]) => Object.fromEntries([...new Set(jobs.map((j) => j.table))].sort().map((t) => [t, jobs.filter((j) => j.table === t).length]));

function configFor(name: string, extra: Record<string, string | number> = {}) {
  return parseServeConfig(
    { port: 0, host: "127.0.0.1", duckdbPath: join(dir, `${name}.duckdb`), transformSeconds: 1, warehouse: "bigquery", project: PROJECT, bucket: BUCKET, prefix: `serve/${name}`, stagingDir: join(dir, `${name}-bq-staging`), ...extra },
    { GITHUB_WEBHOOK_SECRET: SECRET },
  );
}

async function start(name: string, onStep?: (step: ShipStep, extractId: string) => void, log = silentLogger): Promise<ServeServer> {
  return startServe(configFor(name), { log, timers: false, bigquery: { pollMs: 20, ...(onStep ? { onStep } : {}) } });
}

async function health(server: ServeServer): Promise<Json> {
  return (await (await fetch(`${server.url}/health`)).json()) as Json;
}

async function liveRunIds(server: ServeServer, ids: number[]): Promise<number[]> {
  const rows = await server.flusher.read(async (c) => (await c.runAndReadAll(`SELECT run_id FROM "${datasets.raw}".workflow_runs`)).getRowObjectsJS());
  const want = new Set(ids);
  return rows
    .map((r) => Number(r.run_id))
    .filter((id) => want.has(id))
    .sort((a, b) => a - b);
}

const pendingFiles = (name: string): string[] => {
  const root = pendingDirOf(join(dir, `${name}.duckdb`));
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(e.name);
    }
  };
  if (existsSync(root)) walk(root);
  return out;
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "aw-serve-bq-"));
  google = await startGoogleStandIns({ projectId: PROJECT, jobLatencyMs: 30 });
  gcsProxy = await startGcsProxy(google.gcs.url);
  // Everything this process sends to Cloud Storage goes through the proxy (the BigQuery stand-in reads gs:// directly).
  process.env.STORAGE_EMULATOR_HOST = gcsProxy.url;
  await bootstrapBigQuery({ bigquery: new BigQuery({ projectId: PROJECT, location: "US" }), location: "US", log: silentLogger });
}, 60_000);

afterAll(async () => {
  await gcsProxy?.close();
  await google?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("serve --warehouse bigquery", () => {
  it("puts every good delivery in the BigQuery raw tables exactly once after a window, and in the live DuckDB every live flush", async () => {
    const server = await start("once");
    const ids = range(1000, 12);
    try {
      await deliverRuns(server.url, ids);
      // A redelivery of the same GUID is a duplicate; a bad signature is refused and never stored.
      const dupGuid = randomUUID();
      expect(await post(server.url, "workflow_run", runObject(1100), { delivery: dupGuid })).toBe(202);
      expect(await post(server.url, "workflow_run", runObject(1100), { delivery: dupGuid })).toBe(200);
      expect(await post(server.url, "workflow_run", runObject(1999), { secret: "wrong" })).toBe(401);
      const all = [...ids, 1100];

      await server.flush({ transform: "never" });
      expect(await liveRunIds(server, [...all, 1999])).toEqual(all);
      // The live flush alone sends nothing to BigQuery: the deliveries wait for the window.
      expect(bqRunIds([...all, 1999])).toEqual([]);
      expect(loadJobsUnder("serve/once")).toEqual([]);
      const before = await health(server);
      expect(before.bigquery_backlog).toEqual({ segments: expect.any(Number), deliveries: 25 });
      expect((before.bigquery_backlog as { segments: number }).segments).toBeGreaterThan(0);
      expect(before.last_bigquery_load_at).toBeNull();
      const metricsBefore = await server.metrics.text();
      expect(metricsBefore).toMatch(/^github_actions_bigquery_backlog_deliveries 25$/m);
      expect(metricsBefore).toMatch(/^github_actions_bigquery_last_load_timestamp_seconds 0$/m);

      const shipped = await server.bigquery?.ship();
      expect(shipped?.extracts).toHaveLength(1);
      expect(shipped?.deliveries).toBe(25);
      expect(bqRunIds([...all, 1999])).toEqual(all);
      expect(bqJobIds(ids)).toEqual(ids.map((id) => id * 10));
      expect(bqStepJobIds(ids)).toEqual(ids.map((id) => id * 10));
      // One extract: one load job per table it has rows for, plus its `_extracts` row.
      expect(perTable(loadJobsUnder("serve/once"))).toEqual({ _extracts: 1, job_steps: 1, workflow_jobs: 1, workflow_runs: 1 });
      const after = await health(server);
      expect(after.bigquery_backlog).toEqual({ segments: 0, deliveries: 0 });
      const metricsAfter = await server.metrics.text();
      expect(metricsAfter).toMatch(/^github_actions_bigquery_backlog_deliveries 0$/m);
      expect(Number(/^github_actions_bigquery_last_load_timestamp_seconds (\S+)$/m.exec(metricsAfter)?.[1]) * 1000).toBeCloseTo(Date.parse(String(after.last_bigquery_load_at)), -1);
      expect(typeof after.last_bigquery_load_at).toBe("string");
      expect(pendingFiles("once")).toEqual([]);
      // The extract id has the extractor's shape, so the ELT's known-runs query (the first 25 characters of
      // a row's batch id among the loaded `_extracts`) counts these webhook rows as known, like polled ones.
      const extractId = shipped?.extracts[0] ?? "";
      expect(extractId).toMatch(/^\d{8}T\d{6}Z-[0-9a-f]{8}$/);
      expect(extractId).toHaveLength(EXTRACT_ID_LENGTH);
      const loaded = new Set(google.bigquery.rows(datasets.raw, "_extracts").map((r) => String(r.extract_id)));
      const ours = google.bigquery.rows(datasets.raw, "workflow_runs").filter((r) => all.includes(Number(r.run_id)));
      expect(ours.every((r) => loaded.has(String(r._batch_id).slice(0, EXTRACT_ID_LENGTH)))).toBe(true);
      expect(google.bigquery.rows(datasets.raw, "_extracts").find((r) => r.extract_id === extractId)).toMatchObject({ repositories: [] });
      // The local staged copies are gone once BigQuery has them (serve runs for months).
      expect(readdirSync(join(dir, "once-bq-staging", "raw", "workflow_runs"), { recursive: true }).filter((f) => String(f).endsWith(".gz"))).toEqual([]);

      // The live rows are still there: the live DuckDB keeps them (for --live-days).
      expect(await liveRunIds(server, all)).toEqual(all);
      // An empty window submits no job.
      const jobs = google.bigquery.loadJobs().length;
      expect((await server.bigquery?.ship())?.extracts).toEqual([]);
      expect(google.bigquery.loadJobs()).toHaveLength(jobs);
    } finally {
      await server.close();
    }
  });

  it("submits exactly one load job per table per window, and the stop (SIGTERM path) ships what is left", async () => {
    const server = await start("windows");
    const a = range(2000, 5);
    const b = range(2100, 4);
    const c = range(2200, 3);
    try {
      // Window 1 holds two live flushes (two segments): still one extract.
      await deliverRuns(server.url, a.slice(0, 3));
      await server.flush({ transform: "never" });
      await deliverRuns(server.url, a.slice(3));
      await server.flush({ transform: "never" });
      expect((await health(server)).bigquery_backlog).toEqual({ segments: 2, deliveries: 10 });
      await server.bigquery?.ship();
      const w1 = loadJobsUnder("serve/windows");
      expect(perTable(w1)).toEqual({ _extracts: 1, job_steps: 1, workflow_jobs: 1, workflow_runs: 1 });

      await deliverRuns(server.url, b);
      await server.flush({ transform: "never" });
      await server.bigquery?.ship();
      const w2 = loadJobsUnder("serve/windows").slice(w1.length);
      expect(perTable(w2)).toEqual({ _extracts: 1, job_steps: 1, workflow_jobs: 1, workflow_runs: 1 });
      expect(new Set([...w1, ...w2].map((j) => j.jobId)).size).toBe(8);
      expect(bqRunIds([...a, ...b])).toEqual([...a, ...b]);

      // Deliveries not even in the live DuckDB yet: the stop loads them live and ships them.
      await deliverRuns(server.url, c);
    } finally {
      await server.close();
    }
    expect(bqRunIds([...a, ...b, ...c])).toEqual([...a, ...b, ...c]);
    expect(bqJobIds(c)).toEqual(c.map((id) => id * 10));
    expect(perTable(loadJobsUnder("serve/windows"))).toEqual({ _extracts: 3, job_steps: 3, workflow_jobs: 3, workflow_runs: 3 });
    expect(pendingFiles("windows")).toEqual([]);
  });

  for (const [n, step] of (["sealed", "staged", "published", "loaded"] as const).entries()) {
    it(`a crash right after the ship step "${step}" repeats only the later steps after a restart: rows exactly once`, async () => {
      const name = `crash-${step}`;
      const ids = range(3000 + n * 100, 6);
      const order: ShipStep[] = ["sealed", "staged", "published", "loaded"];
      let crashing = true;
      // Until the "restart", every step from this one on crashes (the stop's own try included).
      const crash = (at: ShipStep) => {
        if (crashing && order.indexOf(at) >= order.indexOf(step)) throw new Error(`simulated crash after ${at}`);
      };
      const first = await start(name, crash);
      await deliverRuns(first.url, ids);
      await first.flush({ transform: "never" });
      await expect(first.bigquery?.ship()).rejects.toThrow(/simulated crash/);
      const jobsAtCrash = loadJobsUnder(`serve/${name}`);
      // Before the load step nothing reached BigQuery; after it, everything did.
      expect(bqRunIds(ids)).toEqual(step === "loaded" ? ids : []);
      // The stop tries the window again and meets the same crash: it fails, keeping everything.
      await expect(first.close()).rejects.toThrow(/12 deliveries .* not yet in BigQuery/);
      expect(pendingFiles(name).filter((f) => f.endsWith(".ndjson")).length).toBeGreaterThan(0);

      crashing = false;
      const second = await start(name, crash);
      try {
        expect((await health(second)).bigquery_backlog).toEqual({ segments: 1, deliveries: 12 });
        const shipped = await second.bigquery?.ship();
        expect(shipped?.extracts).toHaveLength(1);
        expect(bqRunIds(ids)).toEqual(ids);
        expect(bqJobIds(ids)).toEqual(ids.map((id) => id * 10));
        expect(bqStepJobIds(ids)).toEqual(ids.map((id) => id * 10));
        const jobs = loadJobsUnder(`serve/${name}`);
        // One job per table in all: a job submitted before the crash is found by its id, never submitted again.
        expect(perTable(jobs)).toEqual({ _extracts: 1, job_steps: 1, workflow_jobs: 1, workflow_runs: 1 });
        if (step === "loaded") expect(jobs).toEqual(jobsAtCrash);
        expect(pendingFiles(name)).toEqual([]);
        // The live DuckDB has each delivery once too (the restart did not load the retained segments again).
        const live = await second.flusher.read(async (c) => (await c.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM "${datasets.raw}".workflow_runs WHERE run_id BETWEEN ${ids[0]} AND ${ids[ids.length - 1]}`)).getRowObjectsJS());
        expect(Number(live[0]?.n)).toBe(ids.length);
      } finally {
        await second.close();
      }
    }, 30_000);
  }

  it("keeps the segments through a Cloud Storage outage (a warning and a processing error, not an error) and ships them at the next window", async () => {
    const lines: Json[] = [];
    const log = createLogger({ json: true, level: "debug", write: (line) => lines.push(JSON.parse(line) as Json) });
    const server = await start("outage", undefined, log);
    const ids = range(4000, 4);
    try {
      await deliverRuns(server.url, ids);
      await server.flush({ transform: "never" });
      gcsProxy.down = true;
      expect(await server.bigquery?.window()).toBeUndefined();
      gcsProxy.down = false;
      expect(bqRunIds(ids)).toEqual([]);
      expect(loadJobsUnder("serve/outage")).toEqual([]);
      expect(pendingFiles("outage").filter((f) => f.endsWith(".ndjson"))).toHaveLength(1);
      const h = await health(server);
      expect(h.bigquery_backlog).toEqual({ segments: 1, deliveries: 8 });
      expect(String(h.last_bigquery_error)).not.toBe("null");
      expect(await server.metrics.text()).toMatch(/^github_actions_webhook_processing_errors_total 1$/m);
      expect(lines.filter((l) => l.level === "error")).toEqual([]);
      expect(lines.some((l) => l.level === "warn" && /BigQuery flush failed/.test(String(l.msg)))).toBe(true);
      // The live side never noticed.
      expect(await liveRunIds(server, ids)).toEqual(ids);

      const next = await server.bigquery?.window();
      expect(next?.extracts).toHaveLength(1);
      expect(bqRunIds(ids)).toEqual(ids);
      expect(perTable(loadJobsUnder("serve/outage"))).toEqual({ _extracts: 1, job_steps: 1, workflow_jobs: 1, workflow_runs: 1 });
      expect((await health(server)).bigquery_backlog).toEqual({ segments: 0, deliveries: 0 });
    } finally {
      gcsProxy.down = false;
      await server.close();
    }
  }, 60_000);
});

describe("serve --warehouse bigquery: BigQuery failing", () => {
  it("a window whose load jobs were created but could not be followed is finished by the next window, with the same jobs", async () => {
    const server = await start("bq-fault");
    const ids = range(7000, 3);
    let broken = true;
    // Job inserts go through (the jobs run), but asking about them fails: the window cannot know.
    google.bigquery.setFault((req) => (broken && req.method === "GET" && /\/jobs\/aw_/.test(req.path) ? { status: 403, afterHandling: false } : undefined));
    try {
      await deliverRuns(server.url, ids);
      await server.flush({ transform: "never" });
      expect(await server.bigquery?.window()).toBeUndefined();
      const jobsAfterFailure = loadJobsUnder("serve/bq-fault");
      expect(jobsAfterFailure.length).toBeGreaterThan(0);
      expect((await health(server)).bigquery_backlog).toEqual({ segments: 1, deliveries: 6 });
      broken = false;
      const next = await server.bigquery?.window();
      expect(next?.extracts).toHaveLength(1);
      // The next window found the jobs by their ids: nothing submitted twice, every row once.
      expect(perTable(loadJobsUnder("serve/bq-fault"))).toEqual({ _extracts: 1, job_steps: 1, workflow_jobs: 1, workflow_runs: 1 });
      expect(bqRunIds(ids)).toEqual(ids);
      expect(bqJobIds(ids)).toEqual(ids.map((id) => id * 10));
    } finally {
      google.bigquery.setFault(undefined);
      await server.close();
    }
  }, 60_000);
});

describe("serve --warehouse bigquery as a process", () => {
  const BIN = join(import.meta.dirname, "..", "bin", "actions-warehouse.js");

  async function freePort(): Promise<number> {
    const s = createServer();
    await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    return port;
  }

  function spawnServe(args: string[]): { proc: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
    const env: NodeJS.ProcessEnv = { ...process.env, ...google.env, STORAGE_EMULATOR_HOST: gcsProxy.url, GITHUB_WEBHOOK_SECRET: SECRET, LOG_LEVEL: "info" };
    for (const name of ["GCS_BUCKET", "GCS_PREFIX", "BIGQUERY_LOCATION", "PORT"]) delete env[name];
    const proc = spawn(process.execPath, [BIN, "serve", ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    proc.stderr?.on("data", (c: Buffer) => (err += c.toString()));
    proc.stdout?.resume();
    return { proc, exited: new Promise((resolve) => proc.once("exit", (code) => resolve(code))), stderr: () => err };
  }

  async function waitForHealth(port: number, ok: (h: Json) => boolean, timeoutMs = 60_000): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/health`);
        if (res.ok) {
          const h = (await res.json()) as Json;
          if (ok(h)) return h;
        }
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for /health on ${port}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it("survives a SIGKILL after the live load, and SIGTERM ships the rest and exits 0: every delivery in BigQuery once", async () => {
    const port = await freePort();
    const duckdbPath = join(dir, "process.duckdb");
    const args = ["--port", String(port), "--host", "127.0.0.1", "--duckdb-path", duckdbPath, "--warehouse", "bigquery", "--project", PROJECT, "--bucket", BUCKET, "--prefix", "serve/process", "--staging-dir", join(dir, "process-bq-staging"), "--live-flush-seconds", "1", "--transform-seconds", "3600"];
    const a = range(6000, 5);
    const b = range(6100, 4);
    const first = spawnServe(args);
    await waitForHealth(port, () => true);
    await deliverRuns(`http://127.0.0.1:${port}`, a);
    // Loaded into the live DuckDB and retained for BigQuery (the 300 s window has not come).
    await waitForHealth(port, (h) => (h.bigquery_backlog as { deliveries: number }).deliveries === 10 && (h.spool_backlog as number) === 0);
    first.proc.kill("SIGKILL");
    await first.exited;
    expect(bqRunIds(a)).toEqual([]);

    const second = spawnServe(args);
    const h = await waitForHealth(port, () => true);
    expect(h.bigquery_backlog).toEqual({ segments: 1, deliveries: 10 });
    await deliverRuns(`http://127.0.0.1:${port}`, b);
    second.proc.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    expect(second.stderr()).not.toMatch(/"level":"error"/);
    expect(bqRunIds([...a, ...b])).toEqual([...a, ...b]);
    expect(bqJobIds([...a, ...b])).toEqual([...a, ...b].map((id) => id * 10));
    // The stop shipped one extract: the SIGKILLed process's retained segment and the new deliveries together.
    expect(perTable(loadJobsUnder("serve/process"))).toEqual({ _extracts: 1, job_steps: 1, workflow_jobs: 1, workflow_runs: 1 });
    expect(pendingFiles("process")).toEqual([]);
  }, 120_000);
});

describe("serve --warehouse bigquery: --live-days", () => {
  it("deletes raw rows older than --live-days from the live DuckDB only and rebuilds the models from what is left", async () => {
    const server = await start("live-days");
    const ids = range(5000, 3);
    try {
      await deliverRuns(server.url, ids);
      await server.flush({ transform: "force" });
      await server.bigquery?.ship();
      const modelRuns = () =>
        server.flusher.read(async (c) => (await c.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM "${datasets.models}".fct_workflow_runs WHERE run_id BETWEEN 5000 AND 5002`)).getRowObjectsJS());
      expect(Number((await modelRuns())[0]?.n)).toBe(3);

      // Today: nothing is older than 14 days, nothing is deleted, no rebuild.
      expect(await server.bigquery?.pruneLive(server.flusher)).toEqual({ deleted: {}, rebuilt: false });
      expect(await liveRunIds(server, ids)).toEqual(ids);

      // Fifteen days on, the rows received today are past the 14 days: they leave the live file and its models.
      const later = new Date(Date.now() + 15 * 86_400_000);
      const pruned = await server.bigquery?.pruneLive(server.flusher, later);
      expect(pruned?.rebuilt).toBe(true);
      expect(pruned?.deleted.workflow_runs).toBeGreaterThanOrEqual(3);
      expect(pruned?.deleted.workflow_jobs).toBeGreaterThanOrEqual(3);
      expect(await liveRunIds(server, ids)).toEqual([]);
      expect(Number((await modelRuns())[0]?.n)).toBe(0);
      // BigQuery keeps everything.
      expect(bqRunIds(ids)).toEqual(ids);
    } finally {
      await server.close();
    }
  }, 120_000);
});

describe("serve --warehouse bigquery configuration", () => {
  const base = { duckdbPath: join(tmpdir(), "cfg.duckdb"), warehouse: "bigquery", project: PROJECT, bucket: BUCKET };
  const env = { GITHUB_WEBHOOK_SECRET: SECRET };

  it("ships every 300 s by default while the live DuckDB stays at 5 s", () => {
    const config = parseServeConfig(base, env);
    expect(config.bigquery?.flushSeconds).toBe(300);
    expect(config.flushSeconds).toBe(5);
    expect(config.bigquery?.liveDays).toBe(14);
    expect(config.bigquery?.settings.staging).toEqual({ bucket: BUCKET, prefix: "" });
    // BigQuery's staging folder lives with the retained segments, beside the DuckDB file (crash state).
    expect(config.bigquery?.stagingDir).toBe(join(tmpdir(), "cfg.bigquery-staging"));
    expect(config.stagingDir).toBe(join(tmpdir(), "cfg.staging"));
    expect(parseServeConfig({ ...base, flushSeconds: 120, liveFlushSeconds: 2 }, env)).toMatchObject({ flushSeconds: 2, bigquery: { flushSeconds: 120 } });
    expect(parseServeConfig({ duckdbPath: base.duckdbPath }, env).bigquery).toBeUndefined();
  });

  it("refuses a BigQuery flush interval that could exceed the load-job quota, with the arithmetic", () => {
    let error: unknown;
    try {
      parseServeConfig({ ...base, flushSeconds: 60 }, env);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain("--flush-seconds");
    expect(message).toContain("86,400 / 60 = 1440 windows");
    expect(message).toContain("2928 load jobs per table per day");
    expect(message).toContain("1500");
    expect(message).toMatch(/Use 120 or more/);
    expect(() => parseServeConfig({ ...base, flushSeconds: 119 }, env)).toThrow(/--flush-seconds/);
  });

  it("refuses --poll-every on BigQuery and the BigQuery-only flags on DuckDB", () => {
    expect(() => parseServeConfig({ ...base, pollEvery: "1h", repo: ["acme/api"] }, env)).toThrow(/--poll-every.*elt\.yml/s);
    expect(() => parseServeConfig({ duckdbPath: base.duckdbPath, liveFlushSeconds: 2 }, env)).toThrow(/--live-flush-seconds.*--warehouse bigquery only/s);
    expect(() => parseServeConfig({ duckdbPath: base.duckdbPath, warehouse: "bigquery", project: PROJECT }, {})).toThrow(/--bucket/);
  });
});
