/**
 * The spool and the delivery → raw row mapping of `serve`, without HTTP: group commit, torn last line,
 * dedupe index rebuilt on restart, every job version, packages and CI events without a GitHub object.
 */
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Spool, readSegment, spoolLine, webhookKey, type SpoolEntry } from "../serve/spool.js";
import { stageDeliveries } from "../serve/events.js";
import { targetId } from "../load/targets.js";
import { createHmac } from "node:crypto";
import { startServe } from "../serve/server.js";
import { parseServeConfig } from "../serve/config.js";
import { silentLogger } from "../log/logger.js";
import { Flusher, loadedDeliveryKeys } from "../serve/flusher.js";
import { loadIntoDuckDb } from "../load/duckdb-load.js";
import { openDuckDb } from "../load/duckdb-connection.js";

type Json = Record<string, unknown>;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "aw-serve-spool-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const T0 = Date.now() - 60_000;
const entry = (i: number, body: Json = { action: "completed" }, event = "workflow_run"): SpoolEntry => ({
  // Recent: keys older than the redelivery window are pruned.
  received_at: new Date(T0 + i).toISOString(),
  source: "webhook",
  event,
  delivery: `d-${i}`,
  hook_id: "1",
  key: webhookKey("1", `d-${i}`),
  body,
});

describe("spool", () => {
  it("writes a delivery's JSON text as it came, on one line, and reads back the very value that was parsed", async () => {
    // Pretty-printed (GitHub's own deliveries are compact, a CI exporter's may not be), CRLF, escapes and
    // non-ASCII text: the line holds the raw text with its line breaks turned into spaces.
    const raw = '{\r\n  "action": "completed",\n  "workflow_run": {"id": 7, "name": "CI \\n build \\u2028 ✓", "path": "a\\"b"}\n}';
    const e = entry(42, JSON.parse(raw) as Json);
    const line = spoolLine(e, raw);
    expect(line.endsWith("\n")).toBe(true);
    expect(line.slice(0, -1)).not.toMatch(/[\r\n]/);
    expect(JSON.parse(line)).toEqual(e);
    expect(line).toContain('"name": "CI \\n build \\u2028 ✓"');
    // Without the text, the parsed object is serialised (the same value).
    expect(JSON.parse(spoolLine(e))).toEqual(e);
    const spool = await Spool.open(join(dir, "raw-text"));
    expect((await spool.append(e, raw)).duplicate).toBe(false);
    await spool.rotate();
    const [segment] = spool.sealedSegments();
    expect(segment && readSegment(join(dir, "raw-text", segment)).entries).toEqual([e]);
    await spool.close();
  });

  it("shares one fsync among concurrent appends and dedupes concurrent copies", async () => {
    const spool = await Spool.open(join(dir, "group.spool"));
    const results = await Promise.all([...Array.from({ length: 200 }, (_, i) => spool.append(entry(i))), spool.append(entry(5)), spool.append(entry(7))]);
    expect(results.filter((r) => !r.duplicate).length).toBe(200);
    expect(results.filter((r) => r.duplicate).length).toBe(2);
    expect(spool.syncs).toBeLessThan(200);
    expect(spool.backlog).toBe(200);
    await spool.close();
  });

  it("ignores a torn last line and still knows every complete delivery after a restart", async () => {
    const path = join(dir, "torn.spool");
    const spool = await Spool.open(path);
    for (let i = 0; i < 10; i += 1) await spool.append(entry(i));
    // What a crash mid-write leaves: half a line, never acknowledged. (No close: like SIGKILL.)
    const segment = readdirSync(path).find((f) => f.endsWith(".ndjson")) as string;
    appendFileSync(join(path, segment), '{"received_at":"2026-11-01T00:00:00.000Z","source":"webhook","ev');
    const again = await Spool.open(path);
    expect(again.backlog).toBe(10);
    expect((await again.append(entry(3))).duplicate).toBe(true);
    expect((await again.append(entry(10))).duplicate).toBe(false);
    await again.rotate();
    const entries = again.sealedSegments().flatMap((s) => again.read(s));
    expect(entries.map((e) => e.delivery).sort()).toEqual(Array.from({ length: 11 }, (_, i) => `d-${i}`).sort());
    await again.close();
  });

  it("forgets keys older than the redelivery window", async () => {
    const spool = await Spool.open(join(dir, "prune.spool"), [webhookKey("1", "old")]);
    await spool.append(entry(1));
    expect(spool.knownKeys).toBe(2);
    expect(spool.pruneKeys(1000, Date.now() + 2000)).toBe(2);
    expect(spool.knownKeys).toBe(0);
    await spool.close();
  });

  it("answers 503 on /health and refuses deliveries when the spool cannot be written", async () => {
    const duckdbPath = join(dir, "gone.duckdb");
    const server = await startServe(parseServeConfig({ port: 0, host: "127.0.0.1", duckdbPath }, { GITHUB_WEBHOOK_SECRET: "s" }), { log: silentLogger, timers: false });
    try {
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
      rmSync(server.spool.dir, { recursive: true, force: true });
      const health = await fetch(`${server.url}/health`);
      expect(health.status).toBe(503);
      expect(((await health.json()) as Json).status).toBe("unavailable");
      const body = JSON.stringify({ action: "completed", workflow_run: { id: 1 } });
      const res = await fetch(`${server.url}/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-github-event": "workflow_run", "x-github-delivery": "g", "x-hub-signature-256": `sha256=${createHmac("sha256", "s").update(body).digest("hex")}` },
        body,
      });
      expect(res.status).toBe(503);
      expect(await server.metrics.text()).toMatch(/webhook_processing_errors_total\S* 1/);
    } finally {
      await server.close();
    }
  });

  it("knows delivery keys already loaded (from the warehouse) after its segments are gone", async () => {
    const spool = await Spool.open(join(dir, "loaded.spool"), [webhookKey("1", "d-1")]);
    expect((await spool.append(entry(1))).duplicate).toBe(true);
    expect(spool.backlog).toBe(0);
    await spool.close();
  });
});

function readNdjson(path: string): Json[] {
  return gunzipSync(readFileSync(path))
    .toString("utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Json);
}

describe("deliveries to raw rows", () => {
  const job = (status: string, extra: Json = {}): Json => ({
    id: 501,
    run_id: 401,
    run_attempt: 1,
    workflow_name: "CI",
    name: "build",
    head_branch: "main",
    head_sha: "a".repeat(40),
    status,
    conclusion: status === "completed" ? "success" : null,
    created_at: "2026-11-01T00:00:00Z",
    started_at: "2026-11-01T00:00:10Z",
    completed_at: status === "completed" ? "2026-11-01T00:01:10Z" : null,
    runner_name: null,
    runner_group_name: null,
    labels: ["ubuntu-latest"],
    steps: status === "completed" ? [{ name: "Set up job", number: 1, status: "completed", conclusion: "success", started_at: "2026-11-01T00:00:10Z", completed_at: "2026-11-01T00:00:20Z" }] : [],
    ...extra,
  });

  it("writes jobs and steps with the extractor's builders, keeps every job version (the models choose by lifecycle), and maps package webhooks", async () => {
    const stagingDir = join(dir, "staging");
    const repository = { full_name: "acme/api" };
    const registryPackage = {
      id: 9,
      name: "api",
      namespace: "acme",
      description: null,
      ecosystem: "CONTAINER",
      package_type: "CONTAINER",
      html_url: "https://github.com/orgs/acme/packages/container/package/api",
      created_at: "2026-11-01T00:00:00Z",
      updated_at: "2026-11-01T00:05:00Z",
      owner: { login: "acme", type: "Organization" },
      package_version: {
        id: 77,
        version: "sha256:abc",
        name: "sha256:abc",
        created_at: "2026-11-01T00:05:00Z",
        updated_at: "2026-11-01T00:05:00Z",
        container_metadata: { tag: { name: "v1.2.3", digest: "sha256:abc" } },
      },
      registry: null,
    };
    const entries = [
      entry(1, { action: "completed", workflow_job: job("completed"), repository }, "workflow_job"),
      entry(2, { action: "in_progress", workflow_job: job("in_progress"), repository }, "workflow_job"),
      entry(3, { action: "published", registry_package: registryPackage, repository }, "registry_package"),
      { ...entry(4, { event_id: "e-1", event_name: "deployment", repository: "acme/api" }, "deployment"), source: "ci-events" as const },
    ];
    const result = await stageDeliveries(entries, { stagingDir, extractId: "webhook-test", target: targetId({ kind: "duckdb", path: join(dir, "w.duckdb") }) });
    const { manifest } = result;
    expect(manifest.scope).toEqual({ repositories: [], organizations: [], users: [] });
    expect(manifest.counts).toEqual({ workflow_jobs: 2, job_steps: 1, package_versions: 1 });
    const byTable = new Map(manifest.files.map((f) => [f.table, readNdjson(join(stagingDir, f.path))]));
    const jobRow = byTable.get("workflow_jobs")?.[0];
    expect(jobRow?.repository).toBe("acme/api");
    expect(jobRow?.status).toBe("completed");
    expect(jobRow?._extracted_at).toBe(entries[0]?.received_at);
    const version = byTable.get("package_versions")?.[0];
    expect(version).toMatchObject({ owner: "acme", package_type: "container", package_name: "api", version_id: 77, version_name: "sha256:abc", tags: ["v1.2.3"] });
    // The webhook package object has no visibility: quarantined with the column, like any bad record.
    expect(manifest.quarantined).toBe(2);
    const reasons = Object.keys(manifest.quarantine_reasons ?? {}).join("\n");
    expect(reasons).toMatch(/packages: visibility/);
    expect(reasons).toMatch(/without a workflow_run, workflow_job or package object/);
  });
});

describe("flusher after a crash between its steps", () => {
  it("loads a segment staged and loaded before the crash exactly once, and its keys stay known", async () => {
    const duckdbPath = join(dir, "crash.duckdb");
    const stagingDir = join(dir, "crash.staging");
    const spoolDir = join(dir, "crash.spool");
    const run = (id: number): Json => ({
      id,
      name: "CI",
      run_attempt: 1,
      workflow_id: 3,
      path: ".github/workflows/ci.yml",
      event: "push",
      head_branch: "main",
      head_sha: "b".repeat(40),
      actor: { login: "octocat" },
      status: "completed",
      conclusion: "success",
      created_at: "2026-11-01T00:00:00Z",
      run_started_at: "2026-11-01T00:00:00Z",
      updated_at: "2026-11-01T00:02:00Z",
      html_url: `https://github.com/acme/api/actions/runs/${id}`,
      repository: { full_name: "acme/api" },
    });
    const first = await Spool.open(spoolDir);
    for (let i = 0; i < 5; i += 1) await first.append(entry(i, { action: "completed", workflow_run: run(100 + i) }));
    await first.rotate();
    const [segment] = first.sealedSegments();
    // The first process staged and loaded the segment, then died before recording its keys and deleting it.
    await stageDeliveries(first.read(segment as string), { stagingDir, extractId: `webhook-${(segment as string).replace(/\.ndjson$/, "")}`, target: targetId({ kind: "duckdb", path: duckdbPath }) });
    await loadIntoDuckDb({ duckdbPath, stagingDir, log: silentLogger });

    const second = await Spool.open(spoolDir, await loadedDeliveryKeys(duckdbPath));
    expect((await second.append(entry(2))).duplicate).toBe(true);
    await second.append(entry(9, { action: "completed", workflow_run: run(109) }));
    const flusher = new Flusher({ duckdbPath, stagingDir, spool: second, transformSeconds: 3600, log: silentLogger });
    const result = await flusher.flush({ transform: "never" });
    expect(result.deliveries).toBe(6);
    expect(second.backlog).toBe(0);
    await second.close();

    const w = await openDuckDb(duckdbPath);
    try {
      const rows = (await w.connection.runAndReadAll(`SELECT run_id, COUNT(*) AS n FROM github_raw.workflow_runs GROUP BY run_id ORDER BY run_id`)).getRowObjectsJS();
      expect(rows.map((r) => [Number(r.run_id), Number(r.n)])).toEqual([100, 101, 102, 103, 104, 109].map((id) => [id, 1]));
      const keys = (await w.connection.runAndReadAll(`SELECT COUNT(*) AS n, COUNT(DISTINCT delivery_key) AS d FROM github_raw._deliveries`)).getRowObjectsJS()[0];
      expect([Number(keys?.n), Number(keys?.d)]).toEqual([6, 6]);
    } finally {
      w.close();
    }
    // After the restart the keys come from the warehouse alone.
    const third = await Spool.open(spoolDir, await loadedDeliveryKeys(duckdbPath));
    expect((await third.append(entry(9))).duplicate).toBe(true);
    await third.close();
  });
});

