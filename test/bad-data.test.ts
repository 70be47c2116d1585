/**
 * Bad data from the API: unknown fields are kept (and counted), missing optional fields become NULL,
 * nulls in required fields, wrong types and oversized records are quarantined with the reason, counted
 * in the manifest and loaded into `_quarantine`; above --max-quarantined the run fails, after writing
 * everything down. Bad configuration stops with a message naming the field and the accepted values.
 */
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateDataset, startSimulator, type Dataset, type RequestContext } from "../simulator/index.js";
import type { FaultAction } from "../simulator/faults.js";
import { QuarantineThresholdError, runExtract } from "../extract/run.js";
import { ConfigError, parseExtractConfig } from "../extract/config.js";
import { KNOWN_FIELDS, knownFieldsFrom } from "../extract/known-fields.js";
import { loadIntoDuckDb } from "../load/duckdb-load.js";
import { openDuckDb } from "../load/duckdb-connection.js";
import { silentLogger } from "../log/logger.js";
import { buildProgram } from "../jobs/cli.js";

const dir = mkdtempSync(join(tmpdir(), "aw-bad-data-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Run = Record<string, unknown> & { id: number };
/** Rewrites chosen runs of every runs-list page: one defect per run. */
type Ids = { unknown: number; missing: number; nulled: number; wrongType: number; oversized: number };
function corrupt(dataset: Dataset): { ids: Ids; hook: (c: RequestContext) => FaultAction | undefined } {
  const runs = dataset.runs.filter((r) => r.repo === "acme/api" && r.created_at.startsWith(dataset.anchor.slice(0, 10)));
  const id = (i: number): number => {
    const run = runs[i];
    if (!run) throw new Error(`the dataset has fewer than ${i + 1} runs of acme/api on the anchor day`);
    return run.id;
  };
  const ids = { unknown: id(0), missing: id(1), nulled: id(2), wrongType: id(3), oversized: id(4) };
  const hook = (c: RequestContext): FaultAction | undefined =>
    c.route.endsWith("/actions/runs")
      ? {
          kind: "mutate",
          mutate: (body) => {
            const b = body as { workflow_runs: Run[] };
            for (const run of b.workflow_runs) {
              if (run.id === ids.unknown) run.ai_summary = { text: "a field GitHub added" };
              if (run.id === ids.missing) delete run.head_branch;
              if (run.id === ids.nulled) run.head_sha = null;
              if (run.id === ids.wrongType) run.event = 42;
              if (run.id === ids.oversized) run.display_title = "x".repeat(1_200_000);
            }
            return b;
          },
        }
      : undefined;
  return { ids, hook };
}

describe("bad data", () => {
  it("known-fields.json is current with GitHub's OpenAPI description", async () => {
    const { createRequire } = await import("node:module");
    const openapi = createRequire(import.meta.url)("@octokit/openapi/generated/api.github.com.json") as Parameters<typeof knownFieldsFrom>[0];
    expect(knownFieldsFrom(openapi)).toEqual(KNOWN_FIELDS);
  });

  it("keeps unknown fields, nulls missing optional ones, quarantines the rest with the reason, counts everything", async () => {
    const dataset = generateDataset({ seed: "bad", days: 1, runsPerRepoPerDay: 8, busyDayRuns: 0, bigRunJobs: 2, bigPackageVersions: 2 });
    const { ids, hook } = corrupt(dataset);
    const simulator = await startSimulator({ dataset, faults: hook });
    const stagingDir = join(dir, "ok");
    try {
      const result = await runExtract(
        { repos: ["acme/api"], since: dataset.anchor.slice(0, 10), apiUrl: simulator.url, stagingDir, now: new Date(dataset.anchor), packages: false, maxQuarantined: 10 },
        { log: silentLogger },
      );
      const m = result.manifest;
      expect(m.quarantined).toBe(3);
      expect(m.unknown_fields?.workflow_runs).toEqual({ ai_summary: 1 });
      const reasons = Object.keys(m.quarantine_reasons ?? {}).join("\n");
      expect(reasons).toMatch(/workflow_runs: head_sha: .*expected string, received null/);
      expect(reasons).toMatch(/workflow_runs: event: .*expected string, received number/);
      expect(reasons).toMatch(/workflow_runs: record is N bytes, above the limit of 1048576/);

      const file = m.files.find((f) => f.table === "workflow_runs");
      const rows = gunzipSync(readFileSync(join(stagingDir, file?.path ?? ""))).toString().trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      // The latest attempt of each run comes from the (corrupted) list; earlier attempts from /attempts/{n}.
      const latest = new Map<number, Record<string, unknown>>();
      for (const r of rows) if (!latest.has(r.run_id as number) || (latest.get(r.run_id as number)?.run_attempt as number) < (r.run_attempt as number)) latest.set(r.run_id as number, r);
      const byId = latest;
      const payload = byId.get(ids.unknown)?.payload as Record<string, unknown> | undefined;
      expect(payload?.ai_summary).toEqual({ text: "a field GitHub added" });
      expect(byId.get(ids.missing)?.head_branch).toBeNull();
      for (const id of [ids.nulled, ids.wrongType, ids.oversized]) expect(byId.has(id)).toBe(false);

      const duckdbPath = join(dir, "ok.duckdb");
      const load = await loadIntoDuckDb({ duckdbPath, stagingDir, log: silentLogger });
      expect(load.quarantined).toBe(3);
      const w = await openDuckDb(duckdbPath);
      try {
        const q = (await w.connection.runAndReadAll(`SELECT resource, reason, CAST(json_extract(record, '$.id') AS BIGINT) AS id FROM github_raw._quarantine ORDER BY id`)).getRowObjectsJS();
        expect(q.map((r) => Number(r.id)).sort()).toEqual([ids.nulled, ids.wrongType, ids.oversized].sort());
        expect(q.every((r) => r.resource === "workflow_runs" && String(r.reason).length > 10)).toBe(true);
      } finally {
        w.close();
      }
    } finally {
      await simulator.close();
    }
  }, 60_000);

  it("fails the run above --max-quarantined, with the manifest and the quarantine written", async () => {
    const dataset = generateDataset({ seed: "bad", days: 1, runsPerRepoPerDay: 8, busyDayRuns: 0, bigRunJobs: 2, bigPackageVersions: 2 });
    const simulator = await startSimulator({ dataset, faults: corrupt(dataset).hook });
    const stagingDir = join(dir, "over");
    try {
      const error = await runExtract(
        { repos: ["acme/api"], since: dataset.anchor.slice(0, 10), apiUrl: simulator.url, stagingDir, now: new Date(dataset.anchor), packages: false, maxQuarantined: "2" },
        { log: silentLogger },
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(QuarantineThresholdError);
      expect((error as Error).message).toMatch(/3 of \d+ records were quarantined, above --max-quarantined 2/);
      const result = (error as QuarantineThresholdError).result;
      expect(existsSync(result.manifestPath)).toBe(true);
      expect(existsSync(join(stagingDir, result.manifest.quarantine_path ?? "missing"))).toBe(true);
    } finally {
      await simulator.close();
    }
  }, 60_000);
});

describe("bad configuration", () => {
  const base = { repos: ["acme/api"], stagingDir: "s", since: "2026-10-01" };
  const message = (input: Record<string, unknown>): string => {
    try {
      parseExtractConfig({ ...base, ...input } as Parameters<typeof parseExtractConfig>[0]);
    } catch (e) {
      if (e instanceof ConfigError) return e.message;
      throw e;
    }
    throw new Error("expected a ConfigError");
  };

  it("names the field and the accepted values", () => {
    expect(message({ lookbackDays: -1 })).toMatch(/lookbackDays: --lookback-days must be between 0 and 400/);
    expect(message({ lookbackDays: 1.5 })).toMatch(/--lookback-days must be a whole number of days/);
    expect(message({ maxQuarantined: "lots" })).toMatch(/maxQuarantined: --max-quarantined must be a whole number of records \(e.g. 100\) or a share of the records \(e.g. 1% or 0.01\); got "lots"/);
    expect(message({ maxQuarantined: "150%" })).toMatch(/--max-quarantined must be/);
    expect(message({ concurrency: 0 })).toMatch(/concurrency: --concurrency must be between 1 and 50/);
    expect(message({ apiUrl: "ftp//x" })).toMatch(/apiUrl: GITHUB_API_URL must be an http\(s\) URL/);
    expect(message({ maxRecordBytes: 10 })).toMatch(/--max-record-bytes must be at least 1024/);
    expect(parseExtractConfig({ ...base, maxQuarantined: "2.5%" }).maxQuarantined).toEqual({ kind: "fraction", value: 0.025 });
    expect(parseExtractConfig({ ...base, maxQuarantined: 7 }).maxQuarantined).toEqual({ kind: "count", value: 7 });
    expect(parseExtractConfig(base).lookbackDays).toBe(30);
  });

  it("rejects a malformed CLI flag with its name (usage error)", async () => {
    const program = buildProgram(silentLogger);
    program.configureOutput({ writeErr: () => {}, writeOut: () => {} });
    const error = await program.parseAsync(["node", "aw", "extract", "--repo", "a/b", "--lookback-days", "soon"]).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe("commander.invalidArgument");
    expect((error as Error).message).toMatch(/--lookback-days must be a whole number/);
  });
});
