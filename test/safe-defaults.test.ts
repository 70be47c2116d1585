/**
 * Issue 11, problems 1 and 2 as a new user meets them: two warehouses in one working folder, and a
 * window in the future or on a date that does not exist. Driven through the command line against the
 * simulator (and, for BigQuery targets, the Google stand-ins).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, startSimulator, type Simulator } from "../simulator/index.js";
import { openDuckDb, rawTableRef } from "../load/duckdb-connection.js";
import { GcsStaging } from "../load/gcs-staging.js";
import { loadIntoBigQuery } from "../load/bigquery-load.js";
import { createBigQuery } from "../load/bigquery-client.js";
import { defaultStagingDir, targetId, TargetMismatchError } from "../load/targets.js";
import { manifestSchema, type Manifest } from "../schemas/manifest.js";
import { silentLogger } from "../log/logger.js";
import { cliSession, type CliSession } from "./cli-session.js";
import { startGoogleStandIns } from "./stand-ins/google-env.js";

let dir: string;
let simulator: Simulator;
let session: CliSession;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "aw-safe-"));
  simulator = await startSimulator({ dataset: generateDataset({ seed: 42, days: 4, busyDayRuns: 0, bigRunJobs: 4, bigPackageVersions: 4 }) });
  session = cliSession({ GITHUB_API_URL: simulator.url, LOG_LEVEL: "info" });
});
afterAll(async () => {
  session?.close();
  await simulator?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Repositories with runs in a warehouse; none when the file was never created. */
async function repositories(duckdbPath: string): Promise<string[]> {
  if (!existsSync(duckdbPath)) return [];
  const w = await openDuckDb(duckdbPath);
  try {
    const rows = (await w.connection.runAndReadAll(`SELECT DISTINCT repository FROM ${rawTableRef("workflow_runs")} ORDER BY 1`)).getRowObjectsJS();
    return rows.map((r) => String(r.repository));
  } finally {
    w.close();
  }
}
const manifestsIn = (stagingDir: string): Manifest[] => {
  const folder = join(stagingDir, "manifests");
  return existsSync(folder) ? readdirSync(folder).map((f) => manifestSchema.parse(JSON.parse(readFileSync(join(folder, f), "utf8")))) : [];
};

describe("problem 1: warehouses in one working folder", () => {
  const window = ["--since", "2026-10-13", "--until", "2026-10-14", "--no-packages"];

  it("each warehouse gets a staging folder of its own by default, and holds only its own repositories", async () => {
    const api = join(dir, "wh", "api.duckdb");
    const web = join(dir, "wh", "web.duckdb");
    expect(await session.run("pipeline", "--repo", "acme/api", ...window, "--duckdb-path", api), session.stderr.slice(-2000)).toBe(0);
    expect(await session.run("pipeline", "--repo", "acme/web", ...window, "--duckdb-path", web), session.stderr.slice(-2000)).toBe(0);
    expect(await repositories(api)).toEqual(["acme/api"]);
    expect(await repositories(web)).toEqual(["acme/web"]);
    // Beside each file, and each manifest names its warehouse.
    expect(defaultStagingDir({ kind: "duckdb", path: api })).toBe(join(dir, "wh", "api.staging"));
    expect(manifestsIn(join(dir, "wh", "api.staging")).map((m) => m.target)).toEqual([targetId({ kind: "duckdb", path: api })]);
    expect(manifestsIn(join(dir, "wh", "web.staging")).map((m) => m.target)).toEqual([targetId({ kind: "duckdb", path: web })]);
  });

  it("one staging folder given to two warehouses: the second load refuses, naming both, and loads nothing", async () => {
    const shared = join(dir, "shared-staging");
    const api = join(dir, "shared", "api.duckdb");
    const web = join(dir, "shared", "web.duckdb");
    expect(await session.run("pipeline", "--repo", "acme/api", ...window, "--duckdb-path", api, "--staging-dir", shared)).toBe(0);
    session.clear();
    simulator.resetStats();
    expect(await session.run("pipeline", "--repo", "acme/web", ...window, "--duckdb-path", web, "--staging-dir", shared)).toBe(1);
    // Refused before any API request: no budget spent on an extract that could not be loaded.
    expect(simulator.stats().requests).toBe(0);
    expect(session.stderr).toContain(`this load is for ${targetId({ kind: "duckdb", path: web })}`);
    expect(session.stderr).toContain(`extracted for ${targetId({ kind: "duckdb", path: api })}`);
    expect(session.stderr).toContain("--staging-dir");
    expect(await repositories(web)).toEqual([]);
    expect(await repositories(api)).toEqual(["acme/api"]);
  });

  it("doctor says when the staging folder holds another warehouse's extracts", async () => {
    session.clear();
    const web = join(dir, "shared", "web.duckdb");
    expect(await session.run("doctor", "--duckdb-path", web, "--staging-dir", join(dir, "shared-staging"))).toBe(1);
    expect(session.stdout).toMatch(/staging belongs to this warehouse.*extract\(s\) of another warehouse/);
  });

  it("BigQuery: publish and load refuse extracts made for another project", async () => {
    const google = await startGoogleStandIns({ projectId: "proj-one" });
    try {
      const local = join(dir, "bq-staging");
      const manifest: Manifest = {
        version: 1, extract_id: "20261015T120000Z-abcd0001", started_at: "2026-10-15T12:00:00.000Z", finished_at: "2026-10-15T12:01:00.000Z",
        api_url: "http://127.0.0.1", target: "bigquery:proj-two", scope: { repositories: [], organizations: [], users: [] },
        window: { since: "2026-10-14T00:00:00.000Z", until: "2026-10-15T12:00:00.000Z" }, counts: {}, quarantined: 0, quarantine_path: null,
        api: { requests: 1, not_modified: 0, retries: 0, rate_limit_remaining: null }, files: [],
      };
      mkdirSync(join(local, "manifests"), { recursive: true });
      writeFileSync(join(local, "manifests", `${manifest.extract_id}.json`), JSON.stringify(manifest));
      const gcs = new GcsStaging({ bucket: "bq-bucket", prefix: "p" }, new Storage({ projectId: "proj-one" }));
      await expect(gcs.publish(local, silentLogger, { kind: "bigquery", project: "proj-one" })).rejects.toThrow(TargetMismatchError);
      // Published without a target check (e.g. by an older release), the loader still refuses it.
      await gcs.publish(local, silentLogger);
      const error = await loadIntoBigQuery({ bigquery: createBigQuery({ projectId: "proj-one", location: "US" }), staging: gcs, location: "US", log: silentLogger }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TargetMismatchError);
      expect((error as Error).message).toMatch(/this load is for bigquery:proj-one[\s\S]*extracted for bigquery:proj-two/);
    } finally {
      await google.close();
      Object.assign(process.env, { GITHUB_API_URL: simulator.url });
    }
  });
});

describe("problem 2: windows", () => {
  const warehouse = () => join(dir, "window.duckdb");
  const run = (...args: string[]) => session.run("pipeline", "--repo", "acme/api", "--no-packages", "--duckdb-path", warehouse(), ...args);

  it("a --since in the future, or a day that does not exist, is refused naming the flag; nothing is extracted", async () => {
    expect(await run("--since", "2026-10-10", "--until", "2026-10-12")).toBe(0);
    simulator.resetStats();
    session.clear();
    expect(await run("--since", "2062-10-03")).toBe(3);
    expect(session.stderr).toMatch(/--since 2062-10-03 is in the future \(today is \d{4}-\d{2}-\d{2} UTC\)/);
    expect(await run("--since", "2026-02-30")).toBe(3);
    expect(session.stderr).toMatch(/--since is not a real calendar date/);
    expect(await run("--since", "2026-10-01", "--until", "2099-01-01")).toBe(3);
    expect(session.stderr).toMatch(/--until 2099-01-01 is in the future/);
    expect(simulator.stats().requests).toBe(0);
  });

  it("the next run continues from the real watermark and covers every day up to now", async () => {
    session.clear();
    expect(await run()).toBe(0);
    const staging = defaultStagingDir({ kind: "duckdb", path: warehouse() });
    const manifests = manifestsIn(staging).sort((a, b) => a.started_at.localeCompare(b.started_at));
    const last = manifests.at(-1);
    // The first run's window ended with 2026-10-12; 30 days of lookback before it, up to now.
    expect(last?.incremental?.watermark).toBe("2026-10-12T23:59:59.000Z");
    expect(last?.window.since).toBe("2026-09-12T00:00:00.000Z");
    expect(Date.now() - Date.parse(last?.window.until ?? "")).toBeLessThan(120_000);
    // Every day of the window was listed: the simulator saw a runs request per UTC day.
    const days = (Date.parse(last?.window.until ?? "") - Date.parse(last?.window.since ?? "")) / 86_400_000;
    expect(simulator.stats().byRoute["GET /repos/{owner}/{repo}/actions/runs"]).toBeGreaterThanOrEqual(Math.floor(days));
  });
});
