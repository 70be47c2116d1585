/**
 * GitHub App authentication against the simulator: the extractor finds one installation per owner,
 * mints installation tokens and refreshes them while a long extract runs (tokens live 1.5 s here), a 401
 * re-mints once, packages need GITHUB_PACKAGES_TOKEN, bad App settings name the field, doctor lists what
 * the credential reaches, no secret reaches a log line, and the simulator's new answers match GitHub's
 * OpenAPI description.
 */
import { generateKeyPairSync, createPrivateKey, createSign } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allJobsOf, generateDataset, operationsDisabledForApps, startSimulator, type Dataset, type FaultHook, type Simulator, type SimulatorApp } from "../simulator/index.js";
import { runExtract, type ExtractResult } from "../extract/run.js";
import { ConfigError, parseExtractConfig, type ExtractConfigInput } from "../extract/config.js";
import { refreshTime, requestTarget } from "../extract/app-auth.js";
import { createGitHubClient } from "../extract/client.js";
import { doctorReport, runDoctor, type CheckResult } from "../jobs/doctor.js";
import { createLogger } from "../log/logger.js";
import { counts } from "./ground-truth.js";
import { gitHubSpec, isObj, responseValidator, schemaValidatorFactory, type Json, type Obj } from "./openapi-schema.js";

const APP_ID = 4711;
const ANCHOR = "2026-10-15T12:00:00Z";
const TTL_MS = 1500;
const PACKAGES_PAT = "ghp_packagesOnlyClassicPat0123456789abcd";
const ACCESS_TOKENS = "POST /app/installations/{installation_id}/access_tokens";

const keys = generateKeyPairSync("rsa", { modulusLength: 2048, publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs1", format: "pem" } });
const otherKeys = generateKeyPairSync("rsa", { modulusLength: 2048, publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs1", format: "pem" } });
const keyLines = keys.privateKey.split("\n").filter((l) => l && !l.startsWith("-----"));

const dir = mkdtempSync(join(tmpdir(), "aw-app-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Installation ids differ per simulator: auth-app shares in-flight mints process-wide by installation id. */
let nextInstallation = 9100;
function appOf(ds: Dataset, options: { ttlMs?: number; accounts?: string[] } = {}): SimulatorApp {
  const accounts = options.accounts ?? [ds.org.login, ds.user.login];
  return { id: APP_ID, publicKeyPem: keys.publicKey, tokenTtlMs: options.ttlMs, installations: accounts.map((account) => ({ id: (nextInstallation += 1), account })) };
}

/** Every Authorization credential the simulator received, by route and by the account in the path. */
function recorder(ds?: Dataset): { hook: FaultHook; seen: Map<string, Set<string>>; byAccount: Map<string, Set<string>>; all: () => string[] } {
  const seen = new Map<string, Set<string>>();
  const byAccount = new Map<string, Set<string>>();
  const add = (map: Map<string, Set<string>>, key: string, value: string) => map.set(key, (map.get(key) ?? new Set<string>()).add(value));
  return {
    seen,
    byAccount,
    hook: (ctx) => {
      const credential = /^\S+\s+(.+)$/.exec(String(ctx.headers.authorization ?? ""))?.[1];
      if (!credential) return undefined;
      add(seen, ctx.route, credential);
      // Repository paths arrive as /repositories/{id}/... (as in GitHub's Link headers).
      const repoId = /^\/repositories\/(\d+)/.exec(ctx.path)?.[1];
      const account = repoId ? ds?.repos.find((r) => r.id === Number(repoId))?.owner : /^\/(?:orgs|users)\/([^/]+)\/(?!installation)/.exec(ctx.path)?.[1];
      if (account && credential.startsWith("ghs_")) add(byAccount, account, credential);
      return undefined;
    },
    all: () => [...new Set([...seen.values()].flatMap((s) => [...s]))],
  };
}

function logs() {
  const lines: string[] = [];
  return { lines, log: createLogger({ json: true, level: "debug", write: (l) => lines.push(l) }) };
}

function rows(stagingDir: string, result: ExtractResult, table: string): Record<string, unknown>[] {
  return result.manifest.files
    .filter((f) => f.table === table)
    .flatMap((f) =>
      gunzipSync(readFileSync(join(stagingDir, f.path)))
        .toString("utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    );
}

function expectNoSecrets(lines: string[], credentials: string[]): void {
  expect(credentials.length).toBeGreaterThan(0);
  for (const line of lines) {
    for (const secret of [...credentials, ...keyLines]) expect(line.includes(secret), `secret in log line: ${line.slice(0, 160)}`).toBe(false);
    expect(line).not.toContain("PRIVATE KEY");
  }
}

function extractInput(sim: Simulator, ds: Dataset, stagingDir: string, extra: Partial<ExtractConfigInput> = {}): ExtractConfigInput {
  return {
    orgs: [ds.org.login],
    users: [ds.user.login],
    since: ANCHOR.slice(0, 10),
    apiUrl: sim.url,
    appId: String(APP_ID),
    appPrivateKey: keys.privateKey,
    stagingDir,
    now: new Date(ANCHOR),
    concurrency: 4,
    retryTimeScaleMs: 10,
    ...extra,
  };
}

describe("GitHub App: a long extract outlasts several installation tokens", () => {
  let ds: Dataset;
  let sim: Simulator;
  let result: ExtractResult;
  const out = logs();
  const stagingDir = join(dir, "long");
  let rec: ReturnType<typeof recorder>;

  beforeAll(async () => {
    ds = generateDataset({ seed: "app-auth", anchor: ANCHOR, days: 3, runsPerRepoPerDay: 12, busyDayRuns: 0, bigRunJobs: 120, bigPackageVersions: 3 });
    rec = recorder(ds);
    // 60 ms per answer and 4 concurrent requests: the extract takes several token lifetimes.
    sim = await startSimulator({ dataset: ds, latencyMs: 60, app: appOf(ds, { ttlMs: TTL_MS }), faults: rec.hook });
    result = await runExtract(extractInput(sim, ds, stagingDir, { since: "2026-10-12" }), { log: out.log });
  }, 120_000);
  afterAll(async () => {
    await sim?.close();
  });

  it("completes, re-minting tokens for each installation as they near expiry", () => {
    const minted = sim.stats().byRoute[ACCESS_TOKENS] ?? 0;
    expect(result.durationMs).toBeGreaterThan(4 * TTL_MS);
    // Two installations, each refreshed at least every 1.5 s of a run lasting more than 6 s.
    expect(minted).toBeGreaterThanOrEqual(6);
    expect(result.auth).toEqual({ installations: 2, tokensMinted: minted, requests: expect.any(Number) as number });
    // Lookups and mints are counted apart from the data requests.
    expect(result.auth?.requests).toBe(minted + 2);
    expect(result.manifest.api.requests).toBe(sim.stats().requests - minted - 2);
    // No data request was answered 401: every token was replaced before it expired.
    expect(out.lines.filter((l) => l.includes("installation token rejected"))).toEqual([]);
    expect(rec.seen.get("GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs")?.size).toBeGreaterThanOrEqual(6);
  });

  it("uses one installation per owner of the scope", () => {
    const byRoute = sim.stats().byRoute;
    expect(byRoute["GET /orgs/{org}/installation"]).toBe(1);
    expect(byRoute["GET /users/{username}/installation"]).toBe(1);
    const found = out.lines.filter((l) => l.includes("GitHub App installation found")).map((l) => JSON.parse(l) as { owner: string; installation_id: number });
    expect(found.map((f) => f.owner).sort()).toEqual([ds.org.login, ds.user.login].sort());
    expect(new Set(found.map((f) => f.installation_id)).size).toBe(2);
    // Each account's requests carried its own installation's tokens, never the other's.
    const orgTokens = rec.byAccount.get(ds.org.login) ?? new Set<string>();
    const userTokens = rec.byAccount.get(ds.user.login) ?? new Set<string>();
    expect(orgTokens.size).toBeGreaterThan(1);
    expect(userTokens.size).toBeGreaterThan(0);
    expect([...orgTokens].filter((t) => userTokens.has(t))).toEqual([]);
  });

  it("extracts every run attempt and job exactly as the ground truth", () => {
    const since = "2026-10-12T00:00:00Z";
    const runs = ds.runs.filter((r) => r.created_at >= since && r.created_at <= ANCHOR);
    expect(runs.length).toBeGreaterThan(150);
    const attempts = new Map<string, string>();
    const jobs = new Map<number, string>();
    for (const run of runs) {
      for (const a of run.attempts) attempts.set(`${run.id}/${a.run_attempt}`, `${a.status} ${a.conclusion} ${a.updated_at}`);
      for (const j of allJobsOf(ds, run).flat()) jobs.set(j.id, `${j.run_id}/${j.run_attempt} ${j.status} ${j.conclusion} ${j.name}`);
    }
    const gotRuns = rows(stagingDir, result, "workflow_runs");
    expect(gotRuns.length).toBe(attempts.size);
    for (const r of gotRuns) expect(`${String(r.status)} ${String(r.conclusion)} ${String(r.updated_at)}`, `run ${String(r.run_id)}/${String(r.run_attempt)}`).toBe(attempts.get(`${String(r.run_id)}/${String(r.run_attempt)}`));
    const gotJobs = rows(stagingDir, result, "workflow_jobs");
    expect(gotJobs.length).toBe(jobs.size);
    for (const j of gotJobs) expect(`${String(j.run_id)}/${String(j.run_attempt)} ${String(j.status)} ${String(j.conclusion)} ${String(j.job_name)}`, `job ${String(j.job_id)}`).toBe(jobs.get(Number(j.job_id)));
    expect(result.manifest.quarantined).toBe(0);
  });

  it("warns once and skips packages: GitHub Apps cannot read them", () => {
    const warnings = out.lines.filter((l) => l.includes("GitHub Apps cannot read GitHub Packages"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("GITHUB_PACKAGES_TOKEN");
    expect(warnings[0]).toContain("read:packages");
    expect(result.packagesSkipped).toEqual([ds.org.login, ds.user.login]);
    expect(Object.keys(sim.stats().byRoute).filter((r) => r.includes("/packages"))).toEqual([]);
    expect(result.manifest.counts.package_versions ?? 0).toBe(0);
    const finished = out.lines.find((l) => l.includes('"extract finished"'));
    expect(finished).toContain('"packages_skipped":["acme","octo-dev"]');
  });

  it("never logs a token, a JWT or the private key", () => {
    const credentials = rec.all();
    // Installation tokens and JWTs both passed through.
    expect(credentials.some((c) => c.startsWith("ghs_"))).toBe(true);
    expect(credentials.some((c) => c.split(".").length === 3)).toBe(true);
    expect(out.lines.length).toBeGreaterThan(10);
    expectNoSecrets(out.lines, credentials);
  });
});

describe("GitHub App: 401s, packages token, installations missing", () => {
  let ds: Dataset;

  beforeAll(() => {
    ds = generateDataset({ seed: "app-small", anchor: ANCHOR, days: 1, runsPerRepoPerDay: 4, busyDayRuns: 0, bigRunJobs: 3, bigPackageVersions: 3 });
  });

  it("a revoked token is answered 401, re-minted once and the request retried", async () => {
    let revoked = 0;
    let dataRequests = 0;
    let sim: Simulator | undefined;
    const rec = recorder();
    sim = await startSimulator({
      dataset: ds,
      app: appOf(ds),
      faults: (ctx) => {
        rec.hook(ctx);
        if (ctx.route.startsWith("GET /repos/") && ++dataRequests === 15) return { kind: "before", run: () => void (revoked += sim?.revokeInstallationTokens() ?? 0) };
        return undefined;
      },
    });
    const out = logs();
    try {
      const stagingDir = join(dir, "revoked");
      const result = await runExtract(extractInput(sim, ds, stagingDir, { packages: false }), { log: out.log });
      expect(revoked).toBe(2);
      const rejected = out.lines.filter((l) => l.includes("installation token rejected (401)")).map((l) => JSON.parse(l) as { installation_id: number });
      expect(rejected.length).toBeGreaterThanOrEqual(1);
      // One first token per installation, and one replacement per installation whose token was refused
      // (however many requests were in flight with it).
      const replaced = new Set(rejected.map((r) => r.installation_id)).size;
      expect(sim.stats().byRoute[ACCESS_TOKENS]).toBe(2 + replaced);
      expect(result.auth?.tokensMinted).toBe(2 + replaced);
      const runs = ds.runs.filter((r) => r.created_at >= `${ANCHOR.slice(0, 10)}T00:00:00Z`);
      expect(rows(stagingDir, result, "workflow_runs").length).toBe(runs.reduce((n, r) => n + r.attempts.length, 0));
      expectNoSecrets(out.lines, rec.all());
    } finally {
      await sim.close();
    }
  }, 60_000);

  it("extracts packages with GITHUB_PACKAGES_TOKEN, and only the packages endpoints use it", async () => {
    const rec = recorder();
    const sim = await startSimulator({ dataset: ds, app: appOf(ds), token: PACKAGES_PAT, faults: rec.hook });
    const out = logs();
    try {
      const stagingDir = join(dir, "packages");
      const result = await runExtract(extractInput(sim, ds, stagingDir, { packagesToken: PACKAGES_PAT }), { log: out.log });
      expect(result.packagesSkipped).toEqual([]);
      expect(out.lines.some((l) => l.includes("GitHub Apps cannot read GitHub Packages"))).toBe(false);
      expect(result.manifest.counts.package_versions).toBe(counts(ds, []).versions);
      for (const [route, set] of rec.seen) {
        if (route.includes("/packages")) expect([...set], route).toEqual([PACKAGES_PAT]);
        else expect(set.has(PACKAGES_PAT), route).toBe(false);
      }
      expectNoSecrets(out.lines, rec.all());
    } finally {
      await sim.close();
    }
  }, 60_000);

  it("with GITHUB_TOKEN too, GITHUB_PACKAGES_TOKEN authenticates only the packages endpoints", async () => {
    const rec = recorder();
    const sim = await startSimulator({ dataset: ds, faults: rec.hook });
    const token = "ghp_mainTokenForActions0123456789abcdef";
    try {
      const result = await runExtract(extractInput(sim, ds, join(dir, "token-packages"), { appId: undefined, appPrivateKey: undefined, token, packagesToken: PACKAGES_PAT }), { log: logs().log });
      expect(result.auth).toBeNull();
      expect(result.manifest.counts.package_versions).toBe(counts(ds, []).versions);
      for (const [route, set] of rec.seen) expect([...set], route).toEqual([route.includes("/packages") ? PACKAGES_PAT : token]);
    } finally {
      await sim.close();
    }
  });

  it("finds the installation of a /repositories/{id} link it never saw (an ETag chain of an earlier extract)", async () => {
    const sim = await startSimulator({ dataset: ds, app: appOf(ds) });
    try {
      const { octokit, usage } = createGitHubClient({ apiUrl: sim.url, log: logs().log, app: { appId: APP_ID, privateKey: keys.privateKey, scope: { repos: [], orgs: [ds.org.login], users: [ds.user.login] } } });
      const repo = ds.repos.find((r) => r.owner === ds.user.login);
      if (!repo) throw new Error("no user repository");
      const url = `${sim.url}/repositories/${repo.id}/actions/runs?per_page=1`;
      const first = await octokit.request({ method: "GET", url });
      expect(first.status).toBe(200);
      // The organisation's installation was tried first (404), then the user's.
      expect(sim.stats().byRoute["GET /repos/{owner}/{repo}/actions/runs"]).toBe(2);
      await octokit.request({ method: "GET", url: `${url}&page=2` });
      expect(sim.stats().byRoute["GET /repos/{owner}/{repo}/actions/runs"]).toBe(3);
      expect(usage.logical).toBe(2);
      expect((await octokit.request("GET /rate_limit")).status).toBe(200);
    } finally {
      await sim.close();
    }
  });

  it("fails naming the owner the App is not installed on", async () => {
    const sim = await startSimulator({ dataset: ds, app: appOf(ds, { accounts: [ds.org.login] }) });
    try {
      await expect(runExtract(extractInput(sim, ds, join(dir, "missing"), { packages: false }), { log: logs().log })).rejects.toThrow(
        /GitHub App 4711 is not installed on octo-dev \(GET \/users\/octo-dev\/installation answered 404\)/,
      );
    } finally {
      await sim.close();
    }
  });

  it("says when the JWT is rejected (App ID and key of different Apps)", async () => {
    const sim = await startSimulator({ dataset: ds, app: appOf(ds) });
    try {
      await expect(runExtract(extractInput(sim, ds, join(dir, "jwt"), { appPrivateKey: otherKeys.privateKey, packages: false }), { log: logs().log })).rejects.toThrow(
        /GitHub rejected the App's JWT .*401 A JSON web token could not be decoded.*GITHUB_APP_ID and the private key must belong to the same App/,
      );
    } finally {
      await sim.close();
    }
  });
});

describe("GitHub App configuration", () => {
  const base = { orgs: ["acme"], since: "2026-10-01", stagingDir: "/tmp/x" };
  const attempt = (input: Partial<ExtractConfigInput>): string => {
    try {
      parseExtractConfig({ ...base, ...input });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).message;
    }
    throw new Error("expected a ConfigError");
  };

  it("names the field of every bad App setting, never the key", () => {
    const keyFile = join(dir, "app.pem");
    writeFileSync(keyFile, keys.privateKey);
    expect(attempt({ appId: "abc", appPrivateKey: keys.privateKey })).toMatch(/appId: GITHUB_APP_ID must be the App's numeric ID .*got "abc"/);
    expect(attempt({ appId: "Iv23liAbCdEf", appPrivateKey: keys.privateKey })).toMatch(/appId: .*a Client ID: use the App ID/);
    expect(attempt({ appId: "123", appPrivateKey: "not a key" })).toMatch(/appPrivateKey: GITHUB_APP_PRIVATE_KEY is not a PEM private key/);
    expect(attempt({ appId: "123", appPrivateKey: "-----BEGIN RSA PRIVATE KEY-----" })).toMatch(/appPrivateKey: GITHUB_APP_PRIVATE_KEY holds only the first line/);
    const corrupted = keys.privateKey.replace(/\n[A-Za-z0-9+/]{10}/, "\nAAAAAAAAAA");
    const corruptedMessage = attempt({ appId: "123", appPrivateKey: corrupted });
    expect(corruptedMessage).toMatch(/appPrivateKey: GITHUB_APP_PRIVATE_KEY is not a readable PEM private key/);
    expect(attempt({ appId: "123", appPrivateKeyFile: join(dir, "missing.pem") })).toMatch(/appPrivateKeyFile: GITHUB_APP_PRIVATE_KEY_FILE cannot be read: .*missing\.pem: ENOENT/);
    expect(attempt({ appId: "123", appPrivateKey: keys.privateKey, appPrivateKeyFile: keyFile })).toMatch(/appPrivateKeyFile: give the App's private key once/);
    expect(attempt({ appId: "123" })).toMatch(/appPrivateKey: GITHUB_APP_ID is set but the App's private key is not/);
    expect(attempt({ appPrivateKeyFile: keyFile })).toMatch(/appId: GITHUB_APP_ID is required/);
    expect(attempt({ appId: "123", appPrivateKeyFile: keyFile, token: "ghp_x1234567" })).toMatch(/token: both GITHUB_TOKEN and a GitHub App \(GITHUB_APP_ID\) are set: give one/);
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256", privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
    expect(attempt({ appId: "123", appPrivateKey: ec.privateKey })).toMatch(/appPrivateKey: GITHUB_APP_PRIVATE_KEY is a ec key; GitHub App keys are RSA/);
    for (const message of [corruptedMessage, attempt({ appId: "x", appPrivateKey: keys.privateKey })]) for (const line of keyLines) expect(message).not.toContain(line);
  });

  it("accepts the key as PEM text, as one line with \\n escapes, or as a file", () => {
    const keyFile = join(dir, "app2.pem");
    writeFileSync(keyFile, keys.privateKey);
    const pem = keys.privateKey.trim();
    expect(parseExtractConfig({ ...base, appId: "123", appPrivateKey: keys.privateKey }).app).toEqual({ appId: 123, privateKey: pem });
    expect(parseExtractConfig({ ...base, appId: 123, appPrivateKey: keys.privateKey.replace(/\n/g, "\\n") }).app).toEqual({ appId: 123, privateKey: pem });
    expect(parseExtractConfig({ ...base, appId: " 123 ", appPrivateKeyFile: keyFile }).app).toEqual({ appId: 123, privateKey: pem });
    expect(parseExtractConfig({ ...base, token: "ghp_x1234567" }).app).toBeUndefined();
  });
});

describe("GitHub App token bookkeeping", () => {
  it("refreshes 5 minutes early, or a quarter of a short lifetime early", () => {
    expect(refreshTime(0, 3600_000)).toBe(3300_000);
    expect(refreshTime(0, 2000)).toBe(1500);
    expect(refreshTime(0, -5)).toBe(750);
  });

  it("reads the owner from the request path", () => {
    expect(requestTarget("/repos/acme/api/actions/runs?per_page=100")).toEqual({ kind: "owner", owner: "acme", packages: false });
    expect(requestTarget("/orgs/acme/packages?package_type=npm")).toEqual({ kind: "owner", owner: "acme", packages: true });
    expect(requestTarget("/users/octo-dev/packages/npm/x/versions")).toEqual({ kind: "owner", owner: "octo-dev", packages: true });
    expect(requestTarget("/users/octo-dev/repos")).toEqual({ kind: "owner", owner: "octo-dev", packages: false });
    expect(requestTarget("/orgs/acme/packages-report")).toEqual({ kind: "owner", owner: "acme", packages: false });
    expect(requestTarget("/repositories/42/actions/runs?page=2")).toEqual({ kind: "repository", id: "42" });
    expect(requestTarget("/rate_limit")).toEqual({ kind: "none" });
  });
});

describe("doctor with GitHub App credentials", () => {
  let ds: Dataset;
  let sim: Simulator;
  beforeAll(async () => {
    ds = generateDataset({ seed: "app-doctor", anchor: ANCHOR, days: 1, runsPerRepoPerDay: 2, busyDayRuns: 0, bigRunJobs: 3, bigPackageVersions: 2 });
    sim = await startSimulator({ dataset: ds, app: appOf(ds, { accounts: [ds.org.login] }), token: PACKAGES_PAT });
  });
  afterAll(async () => {
    await sim?.close();
  });
  const doctor = (extra: Partial<Parameters<typeof runDoctor>[0]> = {}) =>
    runDoctor({ apiUrl: sim.url, duckdbPath: join(dir, "none.duckdb"), stagingDir: join(dir, "doctor-staging"), app: { appId: String(APP_ID), privateKey: keys.privateKey }, scope: { orgs: [ds.org.login], users: [ds.user.login] }, ...extra });
  const byCheck = (results: CheckResult[]) => Object.fromEntries(results.map((r) => [r.check, r]));

  it("checks the JWT, the installation of each owner and lists the endpoints the token reaches", async () => {
    const results = await doctor();
    const r = byCheck(results);
    expect(r["App JWT"]).toMatchObject({ status: "ok", detail: `accepted: App actions-warehouse (ID ${APP_ID})` });
    expect(r["installation on acme"]?.status).toBe("ok");
    expect(r["installation on acme"]?.detail).toMatch(/^installation \d+ \(all repositories\); token minted, expires /);
    expect(r["endpoints for acme"]?.status).toBe("warn");
    expect(r["endpoints for acme"]?.detail).toMatch(/^installation token reaches: repositories, workflows, runs list, jobs \(acme\/\S+\)/);
    expect(r["endpoints for acme"]?.detail).toMatch(/packages: unreachable \(403 Resource not accessible by integration\): GitHub Apps cannot use the packages API: set GITHUB_PACKAGES_TOKEN to a classic personal access token with read:packages/);
    expect(r["installation on octo-dev"]).toMatchObject({ status: "fail" });
    expect(r["installation on octo-dev"]?.detail).toMatch(/the App is not installed on octo-dev \(GET \/users\/octo-dev\/installation answered 404\)/);
    expect(r["rate limit"]?.status).toBe("ok");
    const report = doctorReport(results);
    expect(report).toMatch(/WARN\s+endpoints for acme\s+installation token reaches: repositories, workflows, runs list, jobs/);
    expect(report).not.toContain("ghs_");
    for (const line of keyLines) expect(report).not.toContain(line);
  });

  it("marks packages reachable with GITHUB_PACKAGES_TOKEN", async () => {
    const r = byCheck(await doctor({ packagesToken: PACKAGES_PAT, scope: { orgs: [ds.org.login] } }));
    expect(r["endpoints for acme"]?.status).toBe("ok");
    expect(r["endpoints for acme"]?.detail).toMatch(/packages: not with the App \(403 Resource not accessible by integration\), reachable with GITHUB_PACKAGES_TOKEN/);
    expect(JSON.stringify(r)).not.toContain(PACKAGES_PAT);
  });

  it("fails on a rejected JWT and on bad settings, naming them", async () => {
    const rejected = byCheck(await doctor({ app: { appId: String(APP_ID), privateKey: otherKeys.privateKey } }));
    expect(rejected["App JWT"]).toMatchObject({ status: "fail" });
    expect(rejected["App JWT"]?.detail).toMatch(/rejected \(401 A JSON web token could not be decoded\): GITHUB_APP_ID 4711 and the private key must belong to the same App/);
    const bad = byCheck(await doctor({ app: { appId: "abc", privateKey: keys.privateKey } }));
    expect(bad["GitHub App"]).toMatchObject({ status: "fail" });
    expect(bad["GitHub App"]?.detail).toMatch(/appId: GITHUB_APP_ID must be the App's numeric ID/);
  });
});

describe("simulator: GitHub App mode", () => {
  let spec: Obj;
  let ajv: Ajv;
  let ds: Dataset;
  let sim: Simulator;
  let orgInstallation: number;

  function conforms(method: string, path: string, status: number, body: Json): void {
    const validate = responseValidator(spec, ajv, method, path, status);
    expect(validate(body), `${method.toUpperCase()} ${path} ${status}: ${JSON.stringify(validate.errors?.slice(0, 3))}`).toBe(true);
  }

  /** An App JWT signed here, so the claims can be anything. */
  function jwt(claims: Record<string, unknown>, key = keys.privateKey): string {
    const enc = (x: unknown) => Buffer.from(JSON.stringify(x)).toString("base64url");
    const data = `${enc({ alg: "RS256", typ: "JWT" })}.${enc(claims)}`;
    return `${data}.${createSign("RSA-SHA256").update(data).sign(createPrivateKey(key), "base64url")}`;
  }
  const now = () => Math.floor(Date.now() / 1000);
  const call = async (path: string, credential?: string, method = "GET"): Promise<{ status: number; body: Json }> => {
    const res = await fetch(`${sim.url}${path}`, { method, headers: credential ? { authorization: `Bearer ${credential}` } : {} });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const mint = async (installation: number): Promise<string> => {
    const { status, body } = await call(`/app/installations/${installation}/access_tokens`, jwt({ iat: now() - 30, exp: now() + 500, iss: APP_ID }), "POST");
    expect(status).toBe(201);
    return String(isObj(body) ? body.token : "");
  };

  beforeAll(async () => {
    spec = gitHubSpec();
    ajv = schemaValidatorFactory();
    ds = generateDataset({ seed: "app-sim", anchor: ANCHOR, days: 1, runsPerRepoPerDay: 2, busyDayRuns: 0, bigRunJobs: 3, bigPackageVersions: 2 });
    const app = appOf(ds, { ttlMs: 1000, accounts: [ds.org.login] });
    orgInstallation = app.installations[0]?.id ?? 0;
    sim = await startSimulator({ dataset: ds, app });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it("derives the operations closed to GitHub Apps from the OpenAPI description", () => {
    const closed = operationsDisabledForApps();
    expect(closed.has("GET /orgs/{org}/packages")).toBe(true);
    expect(closed.has("GET /users/{username}/packages/{package_type}/{package_name}/versions")).toBe(true);
    expect(closed.has("GET /repos/{owner}/{repo}/actions/runs")).toBe(false);
  });

  it("verifies the App's JWT like GitHub", async () => {
    const t = now();
    expect((await call("/app", jwt({ iat: t - 30, exp: t + 570, iss: APP_ID }))).status).toBe(200);
    expect(await call("/app", jwt({ iat: t - 30, exp: t + 571, iss: APP_ID }))).toEqual({ status: 401, body: { message: "'Expiration time' claim ('exp') is too far in the future", documentation_url: expect.any(String) as string } });
    expect((await call("/app", jwt({ iat: t - 700, exp: t - 100, iss: APP_ID }))).body).toMatchObject({ message: expect.stringMatching(/^'Expiration time' claim \('exp'\) must be a numeric value/) as string });
    expect((await call("/app", jwt({ iat: t + 300, exp: t + 500, iss: APP_ID }))).body).toMatchObject({ message: expect.stringMatching(/^'Issued at' claim \('iat'\)/) as string });
    expect(await call("/app", jwt({ iat: t - 30, exp: t + 500, iss: APP_ID + 1 }))).toMatchObject({ status: 401, body: { message: "A JSON web token could not be decoded" } });
    expect(await call("/app", jwt({ iat: t - 30, exp: t + 500, iss: APP_ID }, otherKeys.privateKey))).toMatchObject({ status: 401, body: { message: "A JSON web token could not be decoded" } });
    expect(await call("/app")).toMatchObject({ status: 401, body: { message: "Requires authentication" } });
    // The App itself reaches only the App endpoints; installation tokens never reach those.
    expect((await call("/repos/acme/api", jwt({ iat: t - 30, exp: t + 500, iss: APP_ID }))).status).toBe(403);
    expect(await call("/app", await mint(orgInstallation))).toMatchObject({ status: 401, body: { message: "A JSON web token could not be decoded" } });
  });

  it("answers the installation lookups and mints tokens in GitHub's format", async () => {
    const token = jwt({ iat: now() - 30, exp: now() + 500, iss: APP_ID });
    const app = await call("/app", token);
    conforms("get", "/app", 200, app.body);
    for (const [operation, path] of [
      ["/orgs/{org}/installation", "/orgs/acme/installation"],
      ["/repos/{owner}/{repo}/installation", "/repos/acme/api/installation"],
      ["/users/{username}/installation", "/users/acme/installation"],
    ] as const) {
      const { status, body } = await call(path, token);
      expect(status, path).toBe(200);
      conforms("get", operation, 200, body);
      expect(isObj(body) && body.id).toBe(orgInstallation);
    }
    expect((await call("/users/octo-dev/installation", token)).status).toBe(404);
    expect((await call("/repos/octo-dev/dotfiles/installation", token)).status).toBe(404);
    const minted = await call(`/app/installations/${orgInstallation}/access_tokens`, token, "POST");
    expect(minted.status).toBe(201);
    conforms("post", "/app/installations/{installation_id}/access_tokens", 201, minted.body);
    expect(minted.body).toMatchObject({ token: expect.stringMatching(/^ghs_\w{36}$/) as string, repository_selection: "all" });
    expect((await call("/app/installations/1/access_tokens", token, "POST")).status).toBe(404);
  });

  it("scopes an installation token to its account, closes App-disabled endpoints and expires it", async () => {
    const token = await mint(orgInstallation);
    expect((await call("/repos/acme/api/actions/runs?per_page=1", token)).status).toBe(200);
    expect((await call("/orgs/acme/repos", token)).status).toBe(200);
    expect(await call("/repos/octo-dev/dotfiles/actions/runs", token)).toMatchObject({ status: 404, body: { message: "Not Found" } });
    expect((await call("/users/octo-dev/repos", token)).status).toBe(404);
    const packages = await call("/orgs/acme/packages?package_type=container", token);
    expect(packages).toMatchObject({ status: 403, body: { message: "Resource not accessible by integration" } });
    conforms("get", "/orgs/{org}/packages", 403, packages.body);
    expect((await call("/orgs/acme/packages/container/api/versions", token)).status).toBe(403);
    expect((await call("/user", token)).status).toBe(403);
    expect((await call("/rate_limit", token)).status).toBe(200);
    expect(await call("/repos/acme/api", "ghs_notAToken000000000000000000000000000")).toMatchObject({ status: 401, body: { message: "Bad credentials" } });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await call("/repos/acme/api", token)).toMatchObject({ status: 401, body: { message: "Bad credentials" } });
  });
});
