/**
 * Incremental extracts against the simulator: the watermark comes from the warehouse, an unchanged world
 * costs no rate limit at all (every list page answers 304 to its stored ETag), and a change costs exactly
 * the pages and runs it touched.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, latestAttempt, startSimulator, type Dataset, type Simulator } from "../simulator/index.js";
import { runExtract, type ExtractResult } from "../extract/run.js";
import { ConfigError, type ExtractConfigInput } from "../extract/config.js";
import { loadIntoDuckDb } from "../load/duckdb-load.js";
import { duckDbExtractState } from "../load/watermark-duckdb.js";
import { silentLogger } from "../log/logger.js";
import { runTransform } from "../transform/run.js";
import { SMALL_WORLD, compare, groundTruth, observe } from "./resilience-harness.js";

const DAY = 86_400_000;
let dir: string;
let dataset: Dataset;
let simulator: Simulator;
let now: Date;
let duckdbPath: string;

function config(extra: Partial<ExtractConfigInput> = {}): ExtractConfigInput {
  return { orgs: [dataset.org.login], users: [dataset.user.login], apiUrl: simulator.url, stagingDir: join(dir, "staging"), now, concurrency: 8, ...extra };
}
async function tick(extra: Partial<ExtractConfigInput> = {}): Promise<ExtractResult> {
  const result = await runExtract(config(extra), { log: silentLogger, state: duckDbExtractState(duckdbPath) });
  await loadIntoDuckDb({ duckdbPath, stagingDir: join(dir, "staging"), log: silentLogger });
  return result;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "aw-incremental-"));
  duckdbPath = join(dir, "warehouse.duckdb");
  dataset = generateDataset({ seed: "incremental", ...SMALL_WORLD });
  simulator = await startSimulator({ dataset });
  now = new Date(Date.parse(dataset.anchor) + DAY);
});
afterAll(async () => {
  await simulator?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("incremental extracts", () => {
  let first: ExtractResult;

  it("needs --since while the warehouse holds no extract, and says so naming the field", async () => {
    const error = await runExtract(config(), { log: silentLogger, state: duckDbExtractState(duckdbPath) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues[0]?.field).toBe("since");
    expect((error as Error).message).toMatch(/--since is required: the warehouse holds no completed extract/);
  });

  it("a second run over unchanged data makes only conditional requests, all answered 304: no rate limit spent", async () => {
    // The first run covers exactly the days the default 30-day lookback will re-list.
    first = await tick({ since: new Date(now.getTime() - 30 * DAY).toISOString().slice(0, 10) });
    const pages = first.manifest.http_cache?.entries ?? 0;
    expect(pages).toBeGreaterThan(31 * dataset.repos.length);

    simulator.resetStats();
    const second = await tick();
    const stats = simulator.stats();
    // One conditional request per list page the first run stored, each a 304; nothing else at all.
    expect(stats.requests).toBe(pages);
    expect(stats.notModified).toBe(pages);
    expect(stats.costly).toBe(0);
    expect(second.manifest.api).toMatchObject({ requests: pages, not_modified: pages, costly: 0, retries: 0 });
    expect(second.manifest.counts).toEqual({});
    expect(second.manifest.incremental).toMatchObject({ watermark: first.manifest.window.until, lookback_days: 30, pages_not_modified: pages });
    expect(second.manifest.window.since).toBe(first.manifest.window.since);
  }, 120_000);

  it("a re-run and a new run cost exactly their pages and their own requests; unchanged runs are not fetched again", async () => {
    const anchorDay = dataset.anchor.slice(0, 10);
    const rerun = dataset.runs.find((r) => r.created_at.slice(0, 10) < anchorDay && latestAttempt(r).status === "completed" && r.attempts.length === 1);
    if (!rerun) throw new Error("no completed single-attempt run before the anchor day");
    simulator.rerun(rerun.id);
    const added = simulator.addRun({ repo: rerun.repo });
    expect(added.created_at.slice(0, 10)).toBe(anchorDay);

    simulator.resetStats();
    const third = await tick();
    const stats = simulator.stats();
    // 2 changed day pages (the re-run's day, the new run's day) + attempt 1 of the re-run + jobs of both runs
    // + the new run's workflow file at its new commit (the re-run's commit was read before).
    expect(stats.costly).toBe(6);
    expect(stats.byRoute["GET /repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}"]).toBe(1);
    expect(stats.byRoute["GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs"]).toBe(2);
    expect(stats.byRoute["GET /repos/{owner}/{repo}/contents/{path}"]).toBe(1);
    expect(third.manifest.counts.workflow_runs).toBe(3); // attempts 1 and 2 of the re-run, the new run
    expect(third.stats.runsUnchanged).toBe(third.stats.runsDiscovered - 2);

    await runTransform({ duckdbPath, tags: ["runs", "jobs", "steps", "packages"], includeDependencies: true });
    const diff = compare(groundTruth(dataset), await observe(duckdbPath, "facts"));
    expect(diff).toEqual(Object.fromEntries(Object.keys(diff).map((k) => [k, 0])));
  }, 120_000);

  it("--since overrides the watermark and --refetch ignores the stored ETags and known runs", async () => {
    simulator.resetStats();
    const refetch = await tick({ since: dataset.anchor.slice(0, 10), refetch: true, lookbackDays: 30 });
    expect(refetch.manifest.window.since).toBe(`${dataset.anchor.slice(0, 10)}T00:00:00.000Z`);
    expect(simulator.stats().notModified).toBe(0);
    expect(refetch.stats.runsUnchanged).toBe(0);
    expect(refetch.manifest.counts.workflow_runs).toBeGreaterThan(0);
  }, 120_000);
});
