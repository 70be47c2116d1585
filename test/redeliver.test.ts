/**
 * `actions-warehouse redeliver` against the simulator's hooks: it redelivers exactly the GUIDs with no
 * successful attempt, once each; a second run redelivers nothing; `--dry-run` requests nothing; the
 * listing pages through GitHub's cursor pagination; and the simulator's hook endpoints answer what GitHub's
 * OpenAPI description says.
 */
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { verify } from "@octokit/webhooks-methods";
import type { Ajv, ValidateFunction } from "ajv";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, HookStore, startSimulator, type Dataset, type HookDelivery, type SimHook, type Simulator } from "../simulator/index.js";
import { classify, maxSinceHours } from "../jobs/redeliver.js";
import { cliSession, type CliSession } from "./cli-session.js";
import { gitHubSpec, responseValidator, schemaValidatorFactory, type Json, type Obj } from "./openapi-schema.js";

const TOKEN = "ghp_redelivertesttoken0123456789abcdef";
const DAY = 86_400_000;
const LIST = "GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries";

let ds: Dataset;
let spec: Obj;
let ajv: Ajv;
const validators = new Map<string, ValidateFunction>();
const validator = (method: string, path: string, status: number): ValidateFunction => {
  const key = `${method} ${path} ${status}`;
  let v = validators.get(key);
  if (!v) validators.set(key, (v = responseValidator(spec, ajv, method, path, status)));
  return v;
};

beforeAll(() => {
  ds = generateDataset({ seed: 11, anchor: "2026-10-15T12:00:00Z", days: 3, runsPerRepoPerDay: 4, busyDayRuns: 0, bigRunJobs: 10, bigPackageVersions: 5 });
  spec = gitHubSpec();
  ajv = schemaValidatorFactory();
});

/** Independent of jobs/redeliver.ts: the GUIDs inside the retention with no 2xx attempt. */
function failedGuids(deliveries: HookDelivery[], retentionDays = 3): Set<string> {
  const cutoff = Date.now() - retentionDays * DAY;
  const ok = new Map<string, boolean>();
  for (const d of deliveries) {
    if (Date.parse(d.delivered_at) < cutoff) continue;
    ok.set(d.guid, (ok.get(d.guid) ?? false) || (d.status_code >= 200 && d.status_code < 300));
  }
  return new Set([...ok].filter(([, delivered]) => !delivered).map(([guid]) => guid));
}

function hookOf(sim: Simulator, kind: SimHook["scope"]["kind"]): SimHook {
  const hook = sim.hooks().find((h) => h.scope.kind === kind);
  if (!hook) throw new Error(`no ${kind} hook`);
  return hook;
}

describe("simulator hooks and deliveries", () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ dataset: ds, hooks: { events: 120 } });
  });
  afterAll(async () => {
    await sim?.close();
  });

  async function check(method: "get" | "post", operation: string, url: string, status: number): Promise<{ body: Json; link: string | null }> {
    const res = await fetch(`${sim.url}${url}`, { method: method.toUpperCase() });
    expect(res.status, url).toBe(status);
    const body = (await res.json()) as Json;
    const validate = validator(method, operation, status);
    expect(validate(body), `${url}: ${JSON.stringify(validate.errors?.slice(0, 5))}`).toBe(true);
    return { body, link: res.headers.get("link") };
  }

  it("is seeded: the same seed and time give the same deliveries, failures and redeliveries among them", () => {
    const now = Date.parse("2026-11-30T00:00:00Z");
    const a = new HookStore(ds, { now, events: 50 }, () => now);
    const b = new HookStore(ds, { now, events: 50 }, () => now);
    expect(a.hooks).toEqual(b.hooks);
    const all = a.hooks.flatMap((h) => h.deliveries);
    expect(all.some((d) => d.status_code >= 500)).toBe(true);
    expect(all.some((d) => d.status_code === 0)).toBe(true);
    expect(all.some((d) => d.redelivery)).toBe(true);
    expect(new Set(a.hooks.map((h) => h.scope.kind))).toEqual(new Set(["repo", "org", "app"]));
  });

  it("lists repository, organisation and App hook deliveries newest first with cursor pagination, conformant to the OpenAPI description", async () => {
    const repo = hookOf(sim, "repo");
    const scope = repo.scope.kind === "repo" ? repo.scope.repo : "";
    const org = hookOf(sim, "org");
    for (const [operation, path] of [
      ["/repos/{owner}/{repo}/hooks/{hook_id}/deliveries", `/repos/${scope}/hooks/${repo.id}/deliveries`],
      ["/orgs/{org}/hooks/{hook_id}/deliveries", `/orgs/${ds.org.login}/hooks/${org.id}/deliveries`],
      ["/app/hook/deliveries", "/app/hook/deliveries"],
    ] as const) {
      const seen: number[] = [];
      let url: string | null = `${path}?per_page=25`;
      let pages = 0;
      while (url) {
        const { body, link }: { body: Json; link: string | null } = await check("get", operation, url, 200);
        pages += 1;
        for (const d of body as Obj[]) seen.push(Number(d.id));
        const next = link ? /<([^>]+)>;\s*rel="next"/.exec(link)?.[1] : undefined;
        if (next) expect(next).toMatch(/[?&]cursor=v1_\d+/);
        url = next ? next.slice(sim.url.length) : null;
      }
      expect(pages).toBeGreaterThan(2);
      expect(seen).toEqual([...seen].sort((x, y) => y - x));
      expect(new Set(seen).size).toBe(seen.length);
    }
  });

  it("keeps GitHub's retention: nothing older than 3 days is listed or found", async () => {
    const hook = hookOf(sim, "repo");
    const scope = hook.scope.kind === "repo" ? hook.scope.repo : "";
    const old = hook.deliveries.filter((d) => Date.parse(d.delivered_at) < Date.now() - 3 * DAY);
    expect(old.length).toBeGreaterThan(0);
    const res = await fetch(`${sim.url}/repos/${scope}/hooks/${hook.id}/deliveries?per_page=100`);
    const listed = (await res.json()) as { id: number; delivered_at: string }[];
    expect(listed.length).toBe(hook.deliveries.length - old.length);
    for (const d of listed) expect(Date.parse(d.delivered_at)).toBeGreaterThanOrEqual(Date.now() - 3 * DAY - 60_000);
    expect((await fetch(`${sim.url}/repos/${scope}/hooks/${hook.id}/deliveries/${old[0]?.id}`)).status).toBe(404);
  });

  it("serves one delivery with its request and response, and a redelivery attempt (202) adds a redelivery with the same GUID", async () => {
    const hook = hookOf(sim, "org");
    const visible = hook.deliveries.filter((d) => Date.parse(d.delivered_at) >= Date.now() - 3 * DAY);
    const failed = visible.find((d) => d.status_code === 0) ?? visible[0];
    if (!failed) throw new Error("no delivery");
    const { body } = await check("get", "/orgs/{org}/hooks/{hook_id}/deliveries/{delivery_id}", `/orgs/${ds.org.login}/hooks/${hook.id}/deliveries/${failed.id}`, 200);
    expect((body as Obj).guid).toBe(failed.guid);
    const before = sim.redeliveries().length;
    await check("post", "/orgs/{org}/hooks/{hook_id}/deliveries/{delivery_id}/attempts", `/orgs/${ds.org.login}/hooks/${hook.id}/deliveries/${failed.id}/attempts`, 202);
    const requests = sim.redeliveries().slice(before);
    expect(requests).toHaveLength(1);
    const created = sim.deliveries(hook.id).find((d) => d.id === requests[0]?.newDeliveryId);
    expect(created).toMatchObject({ guid: failed.guid, redelivery: true, status_code: 200 });
    await check("get", "/app/hook/deliveries/{delivery_id}", `/app/hook/deliveries/${hookOf(sim, "app").deliveries.at(-1)?.id}`, 200);
    expect((await fetch(`${sim.url}/orgs/${ds.org.login}/hooks/${hook.id}/deliveries/1/attempts`, { method: "POST" })).status).toBe(404);
  });

  it("keeps 7 days on GHES when asked", async () => {
    const ghes = await startSimulator({ dataset: ds, hooks: { retentionDays: 7, events: 40 } });
    try {
      const hook = hookOf(ghes, "app");
      const listed = (await (await fetch(`${ghes.url}/app/hook/deliveries?per_page=100`)).json()) as unknown[];
      expect(listed.length).toBe(hook.deliveries.length);
    } finally {
      await ghes.close();
    }
  });
});

describe("actions-warehouse redeliver", () => {
  let session: CliSession | undefined;
  afterEach(() => {
    session?.close();
    session = undefined;
  });
  const open = (sim: Simulator, env: Record<string, string> = { GITHUB_TOKEN: TOKEN }): CliSession => {
    session = cliSession({ GITHUB_API_URL: sim.url, LOG_LEVEL: "info", ...env });
    for (const name of ["GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_PRIVATE_KEY_FILE", "GITHUB_TOKEN"]) if (!(name in env)) delete process.env[name];
    return session;
  };

  it("redelivers exactly the failed GUIDs of a repository hook, once each, over several pages; a second run redelivers nothing", async () => {
    const sim = await startSimulator({ dataset: ds, token: TOKEN, hooks: { events: 150 } });
    try {
      const hook = hookOf(sim, "repo");
      const scope = hook.scope.kind === "repo" ? hook.scope.repo : "";
      const expected = failedGuids(sim.deliveries(hook.id));
      expect(expected.size).toBeGreaterThan(5);
      const s = open(sim);
      expect(await s.run("redeliver", "--repo", scope, "--hook-id", String(hook.id), "--per-page", "20")).toBe(0);
      expect(sim.stats().byRoute[LIST]).toBeGreaterThan(3);
      const requests = sim.redeliveries();
      expect(new Set(requests.map((r) => r.guid))).toEqual(expected);
      expect(requests).toHaveLength(expected.size);
      // Each request names the newest failed attempt of its GUID.
      const deliveries = sim.deliveries(hook.id);
      for (const r of requests) {
        const attempts = deliveries.filter((d) => d.guid === r.guid && d.id !== r.newDeliveryId);
        expect(r.deliveryId).toBe(Math.max(...attempts.map((d) => d.id)));
      }
      expect(s.stdout).toMatch(new RegExp(`redelivered\\s+${expected.size}\\b`));
      expect(s.stdout + s.stderr).not.toContain(TOKEN);

      s.clear();
      expect(await s.run("redeliver", "--repo", scope, "--hook-id", String(hook.id), "--per-page", "20")).toBe(0);
      expect(sim.redeliveries()).toHaveLength(expected.size);
      expect(s.stdout).toMatch(/redelivered\s+0\b/);
      expect(s.stdout).toMatch(/never delivered\s+0\b/);
    } finally {
      await sim.close();
    }
  });

  it("--dry-run requests nothing; an organisation hook is then redelivered; a queued redelivery is not requested again", async () => {
    const sim = await startSimulator({ dataset: ds, token: TOKEN, hooks: { events: 90, redeliveryOutcome: "pending" } });
    try {
      const hook = hookOf(sim, "org");
      const expected = failedGuids(sim.deliveries(hook.id));
      const s = open(sim);
      expect(await s.run("redeliver", "--org", ds.org.login, "--hook-id", String(hook.id), "--dry-run")).toBe(0);
      expect(sim.redeliveries()).toHaveLength(0);
      expect(sim.stats().byRoute["POST /orgs/{org}/hooks/{hook_id}/deliveries/{delivery_id}/attempts"] ?? 0).toBe(0);
      expect(s.stdout).toMatch(new RegExp(`would redeliver \\(dry run\\)\\s+${expected.size}\\b`));

      expect(await s.run("redeliver", "--org", ds.org.login, "--hook-id", String(hook.id))).toBe(0);
      expect(new Set(sim.redeliveries().map((r) => r.guid))).toEqual(expected);
      expect(sim.redeliveries()).toHaveLength(expected.size);
      s.clear();
      expect(await s.run("redeliver", "--org", ds.org.login, "--hook-id", String(hook.id))).toBe(0);
      expect(sim.redeliveries()).toHaveLength(expected.size);
      expect(s.stdout).toMatch(new RegExp(`redelivery pending\\s+${expected.size}\\b`));
    } finally {
      await sim.close();
    }
  });

  it("--app redelivers the App hook's failures with the App's JWT", async () => {
    const keys = generateKeyPairSync("rsa", { modulusLength: 2048, publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs1", format: "pem" } });
    const sim = await startSimulator({ dataset: ds, app: { id: 5150, publicKeyPem: keys.publicKey, installations: [{ id: 77, account: ds.org.login }] }, hooks: { events: 60 } });
    try {
      const hook = hookOf(sim, "app");
      const expected = failedGuids(sim.deliveries(hook.id));
      expect((await fetch(`${sim.url}/app/hook/deliveries`)).status).toBe(401);
      const s = open(sim, { GITHUB_APP_ID: "5150", GITHUB_APP_PRIVATE_KEY: keys.privateKey });
      expect(await s.run("redeliver", "--app")).toBe(0);
      expect(new Set(sim.redeliveries().map((r) => r.guid))).toEqual(expected);
      expect(sim.redeliveries()).toHaveLength(expected.size);
      expect(s.stdout + s.stderr).not.toContain(keys.privateKey.split("\n")[1] ?? "-");
    } finally {
      await sim.close();
    }
  });

  it("refuses bad flags with the field named (exit 3) before any request", async () => {
    const sim = await startSimulator({ dataset: ds, hooks: {} });
    try {
      const s = open(sim);
      expect(await s.run("redeliver", "--hook-id", "1")).toBe(3);
      expect(s.stderr).toMatch(/--repo\/--org\/--app/);
      expect(await s.run("redeliver", "--repo", "acme/api")).toBe(3);
      expect(s.stderr).toMatch(/--hook-id/);
      expect(await s.run("redeliver", "--app")).toBe(3);
      expect(await s.run("redeliver", "--org", "acme", "--hook-id", "1", "--since-hours", "200")).toBe(3);
      expect(s.stderr).toMatch(/--since-hours: must be 1 to 168/);
      expect(sim.stats().requests).toBe(0);
    } finally {
      await sim.close();
    }
  });

  it("knows GitHub's retention per host and classifies attempts by GUID", () => {
    expect(maxSinceHours("https://api.github.com")).toBe(72);
    expect(maxSinceHours("https://ghe.example.com/api/v3")).toBe(168);
    const d = (id: number, guid: string, status_code: number, redelivery = false, status = "x") => ({ id, guid, delivered_at: new Date(1e12 + id * 1000).toISOString(), redelivery, status, status_code, event: "workflow_run", action: "completed" });
    const c = classify([d(1, "a", 502), d(2, "a", 0), d(3, "b", 500), d(4, "b", 200, true), d(5, "c", 503), d(6, "c", 0, true, "pending"), d(7, "e", 200)]);
    expect(c).toMatchObject({ guids: 4, alreadyDelivered: 2, pending: 1 });
    expect(c.toRedeliver.map((x) => x.id)).toEqual([2]);
  });
});

describe("simulator push: the dataset's lifecycle as signed deliveries", () => {
  const SECRET = "push-secret";
  let session: CliSession | undefined;
  afterEach(() => {
    session?.close();
    session = undefined;
  });

  it("POSTs runs and jobs through their states, signed, some out of order and some twice; failures are found and redelivered by redeliver", async () => {
    const received: { guid: string; event: string; hookId: string; action: string; body: Obj; status: number; signed: boolean }[] = [];
    const seen = new Set<string>();
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        void (async () => {
          const raw = Buffer.concat(chunks).toString("utf8");
          const guid = String(req.headers["x-github-delivery"]);
          const signed = await verify(SECRET, raw, String(req.headers["x-hub-signature-256"]));
          // The first attempt of about a quarter of the events fails.
          const status = !seen.has(guid) && Number.parseInt(guid.slice(0, 2), 16) % 4 === 0 ? 503 : signed ? 202 : 401;
          seen.add(guid);
          const body = JSON.parse(raw) as Obj;
          received.push({ guid, event: String(req.headers["x-github-event"]), hookId: String(req.headers["x-github-hook-id"]), action: String(body.action), body, status, signed });
          res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ ok: status < 300 }));
        })();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhook`;
    const sim = await startSimulator({ dataset: ds, token: TOKEN, hooks: { events: 0 } });
    try {
      const hook = hookOf(sim, "org");
      const runs = ds.runs.filter((r) => r.attempts.every((a) => a.status === "completed")).slice(0, 2);
      const result = await sim.pushLifecycle({ url, secret: SECRET, runIds: runs.map((r) => r.id), duplicateRate: 0.2, outOfOrderRate: 0.2 });
      expect(result.sent).toBe(received.length);
      expect(result.duplicates).toBeGreaterThan(0);
      expect(result.outOfOrder).toBeGreaterThan(0);
      expect(received.every((r) => r.signed && r.hookId === String(hook.id))).toBe(true);
      expect(received.length - new Set(received.map((r) => r.guid)).size).toBe(result.duplicates);
      const runValidator = validator("get", "/repos/{owner}/{repo}/actions/runs/{run_id}", 200);
      const jobValidator = validator("get", "/repos/{owner}/{repo}/actions/jobs/{job_id}", 200);
      for (const run of runs) {
        const actions = received.filter((r) => r.event === "workflow_run" && (r.body.workflow_run as Obj).id === run.id).map((r) => r.action);
        for (const a of ["requested", "in_progress", "completed"]) expect(actions).toContain(a);
        const completed = received.find((r) => r.event === "workflow_run" && r.action === "completed" && (r.body.workflow_run as Obj).id === run.id);
        expect(runValidator(completed?.body.workflow_run), JSON.stringify(runValidator.errors?.slice(0, 3))).toBe(true);
      }
      const jobs = received.filter((r) => r.event === "workflow_job");
      expect(new Set(jobs.map((r) => r.action))).toEqual(new Set(["queued", "in_progress", "completed"]));
      for (const j of jobs.filter((r) => r.action === "completed")) expect(jobValidator(j.body.workflow_job), JSON.stringify(jobValidator.errors?.slice(0, 3))).toBe(true);
      // Every POST is a delivery of the hook, with its HTTP result.
      const deliveries = sim.deliveries(hook.id);
      expect(deliveries).toHaveLength(result.sent);
      expect(deliveries.filter((d) => d.status_code === 503)).toHaveLength(result.failed);
      const expected = failedGuids(deliveries);
      expect(expected.size).toBeGreaterThan(0);

      session = cliSession({ GITHUB_API_URL: sim.url, GITHUB_TOKEN: TOKEN, LOG_LEVEL: "info" });
      const before = received.length;
      expect(await session.run("redeliver", "--org", ds.org.login, "--hook-id", String(hook.id))).toBe(0);
      await sim.hookStore?.settled();
      const again = received.slice(before);
      expect(new Set(again.map((r) => r.guid))).toEqual(expected);
      expect(again).toHaveLength(expected.size);
      expect(again.every((r) => r.signed && r.status < 300)).toBe(true);
      session.clear();
      expect(await session.run("redeliver", "--org", ds.org.login, "--hook-id", String(hook.id))).toBe(0);
      expect(received.length).toBe(before + expected.size);
      expect(session.stdout).toMatch(/redelivered\s+0\b/);
    } finally {
      await sim.close();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });
});
