/**
 * `serve --redeliver-every --redeliver-hook`: the server runs `redeliver` itself. The simulator pushes a
 * dataset's lifecycle as signed deliveries of its organisation hook while nothing listens on the port (every
 * delivery fails: "failed to connect to host"); then serve starts on that port, its first redelivery check
 * asks GitHub (the simulator) to deliver exactly the failed GUIDs again, once each, to serve's /webhook, and
 * every event lands in the warehouse once. A second check requests nothing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, startSimulator, type Dataset, type Simulator } from "../simulator/index.js";
import { silentLogger } from "../log/logger.js";
import { ConfigError } from "../extract/config.js";
import { parseServeConfig } from "../serve/config.js";
import { startServe, type ServeServer } from "../serve/server.js";
import { RedeliverTimer } from "../serve/redeliver-timer.js";
import { parseExposition } from "./prometheus-text.js";

const SECRET = "redeliver-secret";
const TOKEN = "ghp_redeliver_test_token";

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe("serve --redeliver-every: deliveries missed while serve was down come back", () => {
  let dir: string;
  let dataset: Dataset;
  let sim: Simulator;
  let server: ServeServer;
  let port: number;
  let pushedGuids: Set<string>;
  let hookId: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-serve-redeliver-"));
    dataset = generateDataset({ seed: 11, anchor: "2026-11-29T12:00:00Z", days: 1, runsPerRepoPerDay: 1, busyDayRuns: 0, bigRunJobs: 2, bigPackageVersions: 2 });
    sim = await startSimulator({ dataset, token: TOKEN, hooks: { events: 0 } });
    const hook = sim.hooks().find((h) => h.scope.kind === "org");
    if (!hook) throw new Error("the simulator has no organisation hook");
    hookId = hook.id;
    port = await freePort();
    const runs = dataset.runs.filter((r) => r.attempts.every((a) => a.status === "completed")).slice(0, 1);
    // serve is down: every POST fails to connect and is recorded as a failed delivery of the hook.
    const pushed = await sim.pushLifecycle({ url: `http://127.0.0.1:${port}/webhook`, secret: SECRET, hookId, runIds: runs.map((r) => r.id), duplicateRate: 0.1, outOfOrderRate: 0.1 });
    // Few events: Octokit's throttling keeps GitHub's one second between mutating requests, per redelivery.
    expect(pushed.sent).toBeGreaterThan(5);
    pushedGuids = new Set(sim.deliveries(hookId).map((d) => d.guid));
    server = await startServe(
      parseServeConfig(
        { port, host: "127.0.0.1", duckdbPath: join(dir, "live.duckdb"), redeliverEvery: "1h", redeliverHook: [`org:${dataset.org.login}:${hookId}`] },
        { GITHUB_WEBHOOK_SECRET: SECRET, GITHUB_API_URL: sim.url, GITHUB_TOKEN: TOKEN },
      ),
      { log: silentLogger, timers: false },
    );
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("had every pushed delivery fail while serve was down", () => {
    const deliveries = sim.deliveries(hookId);
    expect(deliveries.length).toBeGreaterThan(0);
    expect(deliveries.every((d) => d.status_code === 0)).toBe(true);
  });

  it("redelivers exactly the failed GUIDs, once each, and every event lands once", async () => {
    expect(server.redeliverer).toBeDefined();
    const run = await server.redeliverer?.run();
    await sim.hookStore?.settled();
    // The first check looks back over GitHub's whole retention (the simulator's URL is not
    // api.github.com, so it counts as GitHub Enterprise Server: 7 days).
    expect(run?.sinceHours).toBe(168);
    expect(run?.results[0]?.error).toBeUndefined();
    const requested = sim.redeliveries();
    expect(new Set(requested.map((r) => r.guid))).toEqual(pushedGuids);
    expect(requested).toHaveLength(pushedGuids.size);
    // Each redelivery reached serve and was acknowledged.
    const redelivered = sim.deliveries(hookId).filter((d) => d.redelivery);
    expect(redelivered).toHaveLength(pushedGuids.size);
    expect(redelivered.every((d) => d.status_code === 202)).toBe(true);
    await server.flush({ transform: "never" });
    const keys = await server.flusher.read(async (c) => (await c.runAndReadAll(`SELECT delivery_key, COUNT(*) AS n FROM github_raw._deliveries GROUP BY 1`)).getRowObjectsJS());
    expect(new Set(keys.map((k) => String(k.delivery_key)))).toEqual(new Set([...pushedGuids].map((g) => `gh:${hookId}:${g}`)));
    expect(keys.every((k) => Number(k.n) === 1)).toBe(true);
    const metrics = parseExposition(await (await fetch(`${server.url}/metrics`)).text());
    const requestedMetric = metrics.find((s) => s.name === "github_actions_webhook_redeliveries_requested_total" && s.labels.outcome === "redelivered");
    expect(requestedMetric?.value).toBe(pushedGuids.size);
  });

  it("requests nothing on the next check, over a window of twice the period", async () => {
    const before = sim.redeliveries().length;
    const run = await server.redeliverer?.run();
    expect(run?.sinceHours).toBe(2);
    expect(run?.results[0]?.result?.redelivered).toBe(0);
    expect(run?.results[0]?.result?.alreadyDelivered).toBe(pushedGuids.size);
    expect(sim.redeliveries()).toHaveLength(before);
  });
});

describe("serve --redeliver-every configuration", () => {
  const env = { GITHUB_WEBHOOK_SECRET: SECRET, GITHUB_TOKEN: TOKEN };
  const parse = (flags: { redeliverEvery?: string; redeliverHook?: string[] }, e: NodeJS.ProcessEnv = env) => parseServeConfig({ port: 0, duckdbPath: "/tmp/x.duckdb", ...flags }, e);
  const issues = (fn: () => unknown): string => {
    try {
      fn();
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    throw new Error("no ConfigError");
  };

  it("names the flag and the hook that are wrong", () => {
    expect(issues(() => parse({ redeliverHook: ["app"] }))).toMatch(/--redeliver-every: is required with --redeliver-hook/);
    expect(issues(() => parse({ redeliverEvery: "1h" }))).toMatch(/--redeliver-every: needs at least one --redeliver-hook/);
    expect(issues(() => parse({ redeliverEvery: "1m", redeliverHook: ["org:acme:1"] }))).toMatch(/--redeliver-every: must be a duration of at least 5m/);
    expect(issues(() => parse({ redeliverEvery: "1h", redeliverHook: ["hook:42"] }))).toMatch(/--redeliver-hook hook:42: must be repo:OWNER\/NAME:HOOK_ID/);
    expect(issues(() => parse({ redeliverEvery: "1h", redeliverHook: ["repo:not a repo:5"] }))).toMatch(/--redeliver-hook repo:not a repo:5 \(--repo\): must be OWNER\/NAME/);
    // The App's hook needs the App's credentials, not a token.
    expect(issues(() => parse({ redeliverEvery: "1h", redeliverHook: ["app"] }))).toMatch(/--redeliver-hook app \(--app\): the App's hook needs the App's credentials/);
  });

  it("parses repository and organisation hooks with their credential", () => {
    const config = parse({ redeliverEvery: "30m", redeliverHook: ["repo:acme/api:7", "org:acme:8"] });
    expect(config.redeliver?.everyMs).toBe(30 * 60_000);
    expect(config.redeliver?.hooks.map((h) => h.target)).toEqual([
      { kind: "repo", owner: "acme", repo: "api", hookId: 7 },
      { kind: "org", org: "acme", hookId: 8 },
    ]);
    expect(config.redeliver?.hooks[0]?.apiUrl).toBe("https://api.github.com");
  });

  it("checks the whole retention first, then twice the period within it", async () => {
    const timer = new RedeliverTimer({ everyMs: 30 * 60_000, hooks: [], log: silentLogger });
    expect(timer.sinceHours("https://api.github.com")).toBe(72);
    expect(timer.sinceHours("https://ghe.example.com/api/v3")).toBe(168);
    await timer.run();
    expect(timer.sinceHours("https://api.github.com")).toBe(1);
    const daily = new RedeliverTimer({ everyMs: 86_400_000, hooks: [], log: silentLogger });
    await daily.run();
    expect(daily.sinceHours("https://api.github.com")).toBe(48);
    const weekly = new RedeliverTimer({ everyMs: 7 * 86_400_000, hooks: [], log: silentLogger });
    await weekly.run();
    expect(weekly.sinceHours("https://api.github.com")).toBe(72);
  });
});
