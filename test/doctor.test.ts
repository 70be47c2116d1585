/** `doctor` against the GitHub API simulator: what it reports for good and bad tokens, scopes, limits and files. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, startSimulator, type Simulator } from "../simulator/index.js";
import { doctorReport, runDoctor, scopeCheck, type CheckResult } from "../jobs/doctor.js";
import { openDuckDb } from "../load/duckdb-connection.js";

const TOKEN = "ghp_doctortoken0123456789abcdef";
const BIN = join(import.meta.dirname, "..", "bin", "actions-warehouse.js");
const byCheck = (results: CheckResult[]) => Object.fromEntries(results.map((r) => [r.check, r]));

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("doctor", () => {
  let dir: string;
  let simulator: Simulator;
  let scoped: Simulator;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-doctor-"));
    const dataset = generateDataset({ seed: 2, anchor: "2026-10-15T12:00:00Z", days: 1, runsPerRepoPerDay: 1, busyDayRuns: 0, bigRunJobs: 5, bigPackageVersions: 2 });
    simulator = await startSimulator({ dataset, token: TOKEN, rateLimit: 100 });
    // A classic token's scopes arrive in x-oauth-scopes on every authenticated answer.
    scoped = await startSimulator({
      dataset,
      faults: (ctx) =>
        ctx.path.startsWith("/rate_limit")
          ? { status: 200, headers: { "x-oauth-scopes": "public_repo, workflow" }, body: { resources: { core: { limit: 5000, remaining: 120, reset: 1_800_000_000 } } } }
          : undefined,
    });
  });

  afterAll(async () => {
    await simulator?.close();
    await scoped?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("passes with a valid token, reports the identity and the rate limit left", async () => {
    const duckdbPath = join(dir, "w.duckdb");
    const w = await openDuckDb(duckdbPath);
    await w.connection.run("CREATE SCHEMA actions_warehouse; CREATE TABLE actions_warehouse.fct_workflow_runs (run_id BIGINT)");
    w.close();
    const results = await runDoctor({ apiUrl: simulator.url, token: TOKEN, duckdbPath, stagingDir: join(dir, "staging") });
    const r = byCheck(results);
    expect(r["GitHub API reachable"]?.status).toBe("ok");
    expect(r.token?.status).toBe("ok");
    expect(r.token?.detail).toMatch(/authenticated as \S+/);
    expect(r["token scopes"]?.detail).toMatch(/not reported/);
    expect(r["rate limit"]).toMatchObject({ status: "ok" });
    expect(r["rate limit"]?.detail).toMatch(/^\d+ of 100 requests left until 20\d\d-/);
    expect(r["staging folder"]?.status).toBe("ok");
    expect(r["warehouse file"]).toMatchObject({ status: "ok" });
    expect(r["warehouse file"]?.detail).toMatch(/1 models/);
    expect(r["Google Cloud"]).toMatchObject({ status: "skip", detail: "not configured (DuckDB warehouse)" });
    expect(results.some((x) => x.status === "fail")).toBe(false);
    expect(doctorReport(results)).toMatch(/all checks passed/);
    expect(JSON.stringify(results)).not.toContain(TOKEN);
  });

  it("fails on a rejected token without printing it", async () => {
    const wrong = "ghp_wrongtoken0123456789abcdef";
    const r = byCheck(await runDoctor({ apiUrl: simulator.url, token: wrong, duckdbPath: join(dir, "none.duckdb"), stagingDir: join(dir, "staging") }));
    expect(r.token).toMatchObject({ status: "fail" });
    expect(r.token?.detail).toMatch(/401/);
    expect(r["warehouse file"]).toMatchObject({ status: "warn" });
    expect(JSON.stringify(r)).not.toContain(wrong);
  });

  it("reads the scopes of a classic token and says what is missing", async () => {
    const r = byCheck(await runDoctor({ apiUrl: scoped.url, token: "ghp_scopedtoken0123456789", duckdbPath: join(dir, "none.duckdb"), stagingDir: join(dir, "staging") }));
    expect(r["token scopes"]).toMatchObject({ status: "warn" });
    expect(r["token scopes"]?.detail).toMatch(/has public_repo, workflow; missing read:packages/);
    expect(r["rate limit"]).toMatchObject({ status: "warn", detail: "120 of 5000 requests left until 2027-01-15T08:00:00Z" });
    expect(scopeCheck("repo, read:packages").status).toBe("ok");
    expect(scopeCheck("read:packages").status).toBe("fail");
    expect(scopeCheck("").status).toBe("fail");
  });

  it("reports an unreachable API, an unwritable staging folder and an unreadable warehouse", async () => {
    const notADir = join(dir, "file");
    writeFileSync(notADir, "x");
    const junk = join(dir, "junk.duckdb");
    writeFileSync(junk, "this is not a database");
    const r = byCheck(await runDoctor({ apiUrl: `http://127.0.0.1:${await closedPort()}`, duckdbPath: junk, stagingDir: join(notADir, "staging") }));
    expect(r["GitHub API reachable"]).toMatchObject({ status: "fail" });
    expect(r["GitHub API reachable"]?.detail).toMatch(/ECONNREFUSED/);
    expect(r.token?.status).toBe("skip");
    expect(r["staging folder"]?.status).toBe("fail");
    expect(r["warehouse file"]?.status).toBe("fail");
  });

  it("leaves the GCP checks to a hook when the warehouse is BigQuery", async () => {
    const plain = byCheck(await runDoctor({ apiUrl: simulator.url, token: TOKEN, duckdbPath: "x", stagingDir: join(dir, "staging"), warehouse: "bigquery" }));
    expect(plain["Google Cloud"]?.status).toBe("skip");
    expect(plain["warehouse file"]).toBeUndefined();
    const hooked = byCheck(
      await runDoctor({ apiUrl: simulator.url, token: TOKEN, duckdbPath: "x", stagingDir: join(dir, "staging"), warehouse: "bigquery", gcp: async () => [{ check: "BigQuery", status: "ok", detail: "datasets readable" }] }),
    );
    expect(hooked.BigQuery?.status).toBe("ok");
  });

  it("exits 1 from the command line when a check fails, 0 when all pass", async () => {
    const run = (env: Record<string, string>) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, "doctor", "--duckdb-path", join(dir, "none.duckdb"), "--staging-dir", join(dir, "staging")], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (out += d.toString()));
        child.on("close", (code) => resolve({ code, out }));
      });
    const good = await run({ GITHUB_API_URL: simulator.url, GITHUB_TOKEN: TOKEN });
    expect(good.code, good.out).toBe(0);
    expect(good.out).toMatch(/^OK\s+token\s+accepted/m);
    expect(good.out).not.toContain(TOKEN);
    const bad = await run({ GITHUB_API_URL: simulator.url, GITHUB_TOKEN: "ghp_nottheright0123456789" });
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/^FAIL\s+token\s+rejected/m);
    expect(bad.out).not.toContain("ghp_nottheright0123456789");
  });
});
