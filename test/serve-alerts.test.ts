/**
 * `serve` evaluates the alert rules itself and exposes them (issue 13, items 2 and 3), on a warehouse
 * built by the real pipeline from the simulator (anchored an hour ago, so its landmark run is stuck in
 * progress now), with the Slack stand-in:
 * - an evaluation flushes first (a webhook delivered just before it fires too) and runs through the
 *   flusher; each firing alert is notified once;
 * - GET /api/alerts lists them; POST /api/alerts/{fingerprint}/ack acknowledges one (its repeat is then
 *   suppressed while an unacknowledged one repeats); POST /api/alerts/test delivers a test message;
 * - the write endpoints need ALERTS_TOKEN (401 without or with a wrong one); bad bodies are 400 naming
 *   the field; an unknown fingerprint is 404;
 * - a failing evaluation is a warning and a counted failure; serve keeps serving.
 * The alert clock is injected (ServeOptions.alertsClock) to step past the repeat interval.
 */
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fingerprintOf } from "../alerts/types.js";
import { ConfigError } from "../extract/config.js";
import { runPipeline } from "../jobs/pipeline.js";
import { createLogger, silentLogger } from "../log/logger.js";
import { parseServeConfig } from "../serve/config.js";
import { startServe, type ServeServer } from "../serve/server.js";
import { generateDataset, landmarks, startSimulator, type Dataset } from "../simulator/index.js";
import { getJson, sign, type Json } from "./serve-fixtures.js";
import { startSlackStandIn, type SlackStandIn } from "./stand-ins/slack.js";

/** The wall's panel is checked in headless Chromium, as test/serve-wall.test.ts does (CI installs it: .ci/run). */
const CHROMIUM = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find((p): p is string => typeof p === "string" && p !== "" && existsSync(p));
const SECRET = "s3cret";
const TOKEN = "alerts-token-0123456789";
const H = 3_600_000;

const RULES = `rules:
  - name: stuck-runs
    kind: stuck
    threshold: 2h
    repeat_interval: 1h
    channels: [slack]
`;

interface AlertJson {
  fingerprint: string;
  rule: string;
  state: string;
  scope: Record<string, string>;
  acknowledged_by: string | null;
  acknowledged_until: string | null;
}

let dir: string;
let dataset: Dataset;
let slack: SlackStandIn;
let server: ServeServer;
let clock = Date.now();
let stuckRunId: string;
let webhookRunId: string;
let logs = "";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "aw-serve-alerts-"));
  dataset = generateDataset({ seed: "serve-alerts", anchor: new Date(Date.now() - H).toISOString().replace(/\.\d{3}Z$/, "Z"), days: 2, runsPerRepoPerDay: 2, busyDayRuns: 0, bigRunJobs: 3, bigPackageVersions: 3 });
  const simulator = await startSimulator({ dataset });
  const duckdbPath = join(dir, "live.duckdb");
  let stuckRun: Json;
  try {
    await runPipeline({
      extract: { orgs: [dataset.org.login], since: new Date(Date.now() - 3 * 86_400_000).toISOString().slice(0, 10), apiUrl: simulator.url, stagingDir: join(dir, "live.duckdb.staging"), concurrency: 8, packages: false },
      duckdbPath,
      log: silentLogger,
    });
    stuckRunId = String(landmarks(dataset).stuckQueuedRunId);
    const run = dataset.runs.find((r) => String(r.id) === stuckRunId);
    stuckRun = await getJson(`${simulator.url}/repos/${run?.repo ?? "acme/ml-platform"}/actions/runs/${stuckRunId}`);
  } finally {
    await simulator.close();
  }
  writeFileSync(join(dir, "alerts.yml"), RULES);
  slack = await startSlackStandIn();
  const log = createLogger({ level: "info", json: true, write: (line: string) => (logs += `${line}\n`) });
  server = await startServe(
    parseServeConfig({ port: 0, host: "127.0.0.1", duckdbPath, rules: join(dir, "alerts.yml") }, { GITHUB_WEBHOOK_SECRET: SECRET, ALERTS_TOKEN: TOKEN, SLACK_WEBHOOK_URL: slack.hookUrl }),
    { log, timers: false, alertsClock: () => new Date(clock) },
  );
  // A run the warehouse does not have yet, in progress for 3 hours, delivered as a webhook just before the evaluation.
  webhookRunId = String(Number(stuckRunId) + 7_000_000);
  const started = new Date(Date.now() - 3 * H).toISOString().replace(/\.\d{3}Z$/, "Z");
  const body = JSON.stringify({
    action: "in_progress",
    workflow_run: { ...stuckRun, id: Number(webhookRunId), run_number: 99_999, status: "in_progress", conclusion: null, created_at: started, run_started_at: started, updated_at: new Date(Date.now() - H).toISOString().replace(/\.\d{3}Z$/, "Z") },
    repository: stuckRun.repository,
  });
  const res = await fetch(`${server.url}/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": "workflow_run", "x-github-delivery": randomUUID(), "x-github-hook-id": "1", "x-hub-signature-256": sign(SECRET, body) },
    body,
  });
  expect(res.status).toBe(202);
}, 300_000);

afterAll(async () => {
  await server?.close();
  await slack?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const post = (path: string, body: unknown, token: string | null = TOKEN) =>
  fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });

async function list(state = "open"): Promise<AlertJson[]> {
  const res = await fetch(`${server.url}/api/alerts?state=${state}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { alerts: AlertJson[] }).alerts;
}

describe("serve evaluates alerts.yml", () => {
  const landmarkFp = () => fingerprintOf("stuck-runs", { run_id: stuckRunId });
  const webhookFp = () => fingerprintOf("stuck-runs", { run_id: webhookRunId });

  it("flushes the spool first, then evaluates through the flusher: the webhook's stuck run and the landmark fire, each notified once", async () => {
    const result = await server.alerts?.evaluate();
    expect(result, logs.slice(-2000)).toBeDefined();
    const firing = result?.plan.transitions.filter((t) => t.to === "firing") ?? [];
    const fingerprints = firing.map((t) => t.fingerprint);
    expect(fingerprints).toContain(landmarkFp());
    expect(fingerprints).toContain(webhookFp());
    expect(slack.accepted).toHaveLength(firing.length);
    for (const fp of fingerprints) expect(slack.accepted.filter((p) => p.raw.includes(fp)), fp).toHaveLength(1);
    expect(server.flusher.lastTransformAt).toBeDefined();
    // The alert state is not raw data: the next due flush rebuilds no model (not even the live ones).
    const next = await server.flush();
    expect(next.transformed).toBe(false);
    expect(next.live ?? false).toBe(false);
  });

  it("GET /api/alerts lists them (open by default, every state with ?state=all); a bad state is 400", async () => {
    const open = await list();
    expect(open.map((a) => a.fingerprint)).toEqual(expect.arrayContaining([landmarkFp(), webhookFp()]));
    expect(open.find((a) => a.fingerprint === webhookFp())).toMatchObject({ rule: "stuck-runs", state: "firing", scope: { run_id: webhookRunId }, acknowledged_by: null });
    expect((await list("all")).length).toBeGreaterThanOrEqual(open.length);
    expect(await list("resolved")).toEqual([]);
    const bad = await fetch(`${server.url}/api/alerts?state=burning`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^state: must be one of open, firing, pending, resolved, all/);
    const answer = (await (await fetch(`${server.url}/api/alerts`)).json()) as { evaluation: { enabled: boolean; every_seconds: number; last: { ok: boolean; firing: number } }; channels: string[] };
    expect(answer.evaluation).toMatchObject({ enabled: true, every_seconds: 60, last: { ok: true, firing: open.filter((a) => a.state === "firing").length } });
    expect(answer.channels).toEqual(["slack"]);
  });

  it("the status wall shows the firing alerts in its own panel", async () => {
    if (!CHROMIUM) throw new Error("no Chromium: install it with apt-get install chromium or set CHROMIUM_PATH");
    const profile = mkdtempSync(join(tmpdir(), "aw-chromium-profile-"));
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(server.url);
      await page.waitForSelector("html[data-ready=true]", { timeout: 30_000 });
      expect(await page.locator("#panel-alerts").isVisible()).toBe(true);
      const rows = await page.locator("#alerts-table tbody tr").evaluateAll((trs) => trs.map((tr) => ({ fingerprint: (tr as HTMLElement).dataset.fingerprint, text: tr.textContent ?? "" })));
      const firing = (await list("firing")).map((a) => a.fingerprint);
      expect(rows.map((r) => r.fingerprint).sort()).toEqual([...firing].sort());
      expect(rows.find((r) => r.fingerprint === webhookFp())?.text).toMatch(new RegExp(`stuck-runs.*run_id=${webhookRunId}`));
      expect(await page.locator("#alerts-empty").isVisible()).toBe(false);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });

  it("POST /api/alerts/{fingerprint}/ack needs ALERTS_TOKEN, checks its body, 404s an unknown fingerprint and acknowledges; the acknowledged alert's repeat is suppressed, another's is sent", async () => {
    expect((await post(`/api/alerts/${webhookFp()}/ack`, {}, null)).status).toBe(401);
    expect((await post(`/api/alerts/${webhookFp()}/ack`, {}, "wrong-token")).status).toBe(401);
    const badUntil = await post(`/api/alerts/${webhookFp()}/ack`, { until: "whenever" });
    expect(badUntil.status).toBe(400);
    expect(((await badUntil.json()) as { error: string }).error).toMatch(/^until: must be a duration/);
    const unknownField = await post(`/api/alerts/${webhookFp()}/ack`, { untill: "2h" });
    expect(unknownField.status).toBe(400);
    expect(((await unknownField.json()) as { error: string }).error).toMatch(/untill: is not a field/);
    const unknown = await post(`/api/alerts/ffffffffffffffff/ack`, { until: "2h" });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/no open \(pending or firing\) alert has fingerprint ffffffffffffffff/);

    const ack = await post(`/api/alerts/${webhookFp()}/ack`, { until: "6h", by: "alice" });
    expect(ack.status).toBe(200);
    const acked = ((await ack.json()) as { alert: AlertJson }).alert;
    expect(acked).toMatchObject({ fingerprint: webhookFp(), acknowledged_by: "alice", acknowledged_until: new Date(clock + 6 * H).toISOString() });
    expect((await list()).find((a) => a.fingerprint === webhookFp())?.acknowledged_by).toBe("alice");

    // Past the 1 h repeat interval: the landmark repeats, the acknowledged alert does not.
    const before = slack.accepted.length;
    clock += 2 * H;
    const result = await server.alerts?.evaluate();
    expect(result).toBeDefined();
    const sent = slack.accepted.slice(before);
    expect(sent.filter((p) => p.raw.includes(landmarkFp()))).toHaveLength(1);
    expect(sent.filter((p) => p.raw.includes(webhookFp()))).toHaveLength(0);
    expect(result?.plan.transitions.find((t) => t.fingerprint === webhookFp())?.suppressed).toBe("acknowledged");
  });

  it("POST /api/alerts/test delivers a test message to Slack; an unconfigured or unknown channel and a missing token are refused", async () => {
    expect((await post("/api/alerts/test", { channel: "slack" }, null)).status).toBe(401);
    const unknown = await post("/api/alerts/test", { channel: "sms" });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/^channel: must be "slack" or "webhook"/);
    const webhook = await post("/api/alerts/test", { channel: "webhook" });
    expect(webhook.status).toBe(409);
    expect(((await webhook.json()) as { error: string }).error).toMatch(/set ALERT_WEBHOOK_URL and ALERT_WEBHOOK_SECRET/);
    const before = slack.accepted.length;
    const res = await post("/api/alerts/test", { channel: "slack" });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(slack.accepted).toHaveLength(before + 1);
    expect(slack.accepted.at(-1)?.body.blocks?.[0]?.text?.text).toMatch(/TEST/);
    expect(logs).not.toContain(slack.hookUrl);
  });

  it("a failing evaluation is a warning and a counted failure; serve keeps serving", async () => {
    // A model that no longer has the columns the rules read (as after a bad deploy of the models). Nothing
    // is left to transform first, and the change is not raw data: a transform would rebuild the model
    // (the runner replaces a view standing where a table model belongs).
    await server.flush({ transform: "force" });
    await server.flusher.exclusive(async () => {
      const { openDuckDb } = await import("../load/duckdb-connection.js");
      const w = await openDuckDb(join(dir, "live.duckdb"));
      try {
        await w.connection.run(`DROP TABLE actions_warehouse.fct_workflow_jobs`);
        await w.connection.run(`CREATE VIEW actions_warehouse.fct_workflow_jobs AS SELECT 1 AS nothing`);
      } finally {
        w.close();
      }
    }, { rawChanged: false });
    logs = "";
    expect(await server.alerts?.evaluate()).toBeUndefined();
    expect(logs).toMatch(/"level":"warn","msg":"alert evaluation failed: serve keeps running/);
    expect(logs).not.toMatch(/"level":"error"/);
    expect(server.alerts?.last).toMatchObject({ ok: false });
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/github_actions_alert_evaluations_total\{outcome="failed"\} 1\b/);
    expect(metrics).toMatch(/github_actions_alert_evaluations_total\{outcome="ok"\} 2\b/);
  });
});

describe("serve's alert configuration", () => {
  const flags = (extra: Record<string, unknown>) => ({ duckdbPath: join(tmpdir(), "x.duckdb"), ...extra });
  const env = { GITHUB_WEBHOOK_SECRET: "a" };

  it("a bad alerts.yml, a missing --rules file or a too short --alerts-every stops serve naming the field; --no-alerts turns evaluation off", () => {
    const bad = join(dir, "bad.yml");
    writeFileSync(bad, "rules:\n  - { name: stuck-runs, kind: stuck }\n");
    expect(() => parseServeConfig(flags({ rules: bad }), env)).toThrow(ConfigError);
    expect(() => parseServeConfig(flags({ rules: bad }), env)).toThrow(/rule "?stuck-runs"?, threshold: is required for kind stuck/);
    expect(() => parseServeConfig(flags({ rules: join(dir, "none.yml") }), env)).toThrow(/--rules: .*none\.yml does not exist/);
    expect(() => parseServeConfig(flags({ rules: join(dir, "alerts.yml"), alertsEvery: "10s" }), env)).toThrow(/--alerts-every: must be a duration of at least 30s/);
    expect(parseServeConfig(flags({ rules: join(dir, "alerts.yml"), alertsEvery: "5m" }), env).alerts?.everyMs).toBe(300_000);
    expect(parseServeConfig(flags({ rules: join(dir, "alerts.yml"), alerts: false }), env).alerts).toBeUndefined();
    expect(parseServeConfig(flags({ rules: join(dir, "alerts.yml") }), env).alertsToken).toBeUndefined();
  });
});
