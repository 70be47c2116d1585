/**
 * Hourly ticks of `pipeline --warehouse bigquery` through the command line, without `--since` after the
 * first: the watermark, known runs and ETags come from BigQuery (stand-in) through the official client,
 * so an unchanged hour spends no rate limit and a changed hour spends it only on what changed. Ground
 * truth comes from the simulator's seed.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, latestAttempt, startSimulator, type Dataset, type Simulator } from "../simulator/index.js";
import { datasets } from "../load/datasets.js";
import { rawTables, type RawTableName } from "../schemas/raw-tables.js";
import { manifestSchema } from "../schemas/manifest.js";
import { counts, runsInWindow } from "./ground-truth.js";
import { SMALL_WORLD } from "./resilience-harness.js";
import { startGoogleStandIns, type GoogleStandIns } from "./stand-ins/google-env.js";
import { cliSession, type CliSession } from "./cli-session.js";

const DAY = 86_400_000;
const PROJECT = "acme-analytics";
const BUCKET = "acme-actions-staging";
const TOKEN = "ghs_incrementalBigQueryTickTokenNeverLogged01";

describe("hourly ticks on BigQuery without --since", () => {
  let dir: string;
  let dataset: Dataset;
  let simulator: Simulator;
  let google: GoogleStandIns;
  let session: CliSession;
  const cli = (...args: string[]) => session.run(...args);
  const tick = (n: number, ...extra: string[]) =>
    cli(
      "pipeline", "--warehouse", "bigquery", "--no-transform", "--project", PROJECT, "--location", "US", "--bucket", BUCKET, "--prefix", "hourly",
      // The scope as `--repo o/r` flags, the form the command line names.
      ...dataset.repos.flatMap((r) => ["--repo", r.full_name]), "--staging-dir", join(dir, `tick-${n}`), ...extra,
    );
  const keyed = (table: RawTableName) => {
    const rows = google.bigquery.rows(datasets.raw, table);
    return { rows: rows.length, keys: new Set(rows.map((r) => rawTables[table].key.map((k) => String(r[k])).join("/"))).size };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-bq-ticks-"));
    // The dataset ends now, so the CLI's wall-clock window covers it.
    dataset = generateDataset({ seed: "bq-ticks", ...SMALL_WORLD, anchor: new Date(Date.now() - 3600_000).toISOString() });
    simulator = await startSimulator({ dataset, token: TOKEN });
    google = await startGoogleStandIns({ projectId: PROJECT, jobLatencyMs: 30 });
    session = cliSession({ GITHUB_API_URL: simulator.url, GITHUB_TOKEN: TOKEN, LOG_LEVEL: "info" });
    expect(await cli("bootstrap", "--project", PROJECT, "--location", "US")).toBe(0);
    // bootstrap is run every hour by the scheduled workflow: the second run changes nothing.
    expect(await cli("bootstrap", "--project", PROJECT, "--location", "US")).toBe(0);
  }, 120_000);

  afterAll(async () => {
    session?.close();
    await google?.close();
    await simulator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the first tick needs --since; with it, every run attempt, job and step lands once", async () => {
    expect(await tick(0)).toBe(3); // a configuration error: exit code 3
    expect(session.stderr).toMatch(/--since is required: the warehouse holds no completed extract/);
    // The days the default 30-day lookback will re-list, so the next tick finds an ETag for each page.
    const since = new Date(Date.now() - 30 * DAY).toISOString().slice(0, 10);
    expect(await tick(1, "--since", since), session.stderr.slice(-3000)).toBe(0);
    const truth = counts(dataset, runsInWindow(dataset, `${since}T00:00:00Z`, "9999-12-31T00:00:00Z"));
    expect(keyed("workflow_runs")).toEqual({ rows: truth.attempts, keys: truth.attempts });
    expect(keyed("workflow_jobs")).toEqual({ rows: truth.jobs, keys: truth.jobs });
    expect(keyed("job_steps").rows).toBe(truth.steps);
  }, 120_000);

  it("an unchanged hour spends no rate limit: every list page answers 304 to the ETag read from BigQuery", async () => {
    simulator.resetStats();
    session.clear();
    expect(await tick(2), session.stderr.slice(-3000)).toBe(0);
    const stats = simulator.stats();
    expect(stats.requests).toBeGreaterThan(0);
    expect(stats.costly).toBe(0);
    expect(stats.notModified).toBe(stats.requests);
    // The state was read with dry-run byte estimates logged first.
    for (const q of ["watermarks", "knownRuns", "httpCache"]) expect(session.stderr).toMatch(new RegExp(`state query.*${q}.*bytes_processed`));
  }, 120_000);

  it("a re-run and a new run cost only their pages and their own requests, and land once", async () => {
    const anchorDay = dataset.anchor.slice(0, 10);
    const rerun = dataset.runs.find((r) => r.created_at.slice(0, 10) < anchorDay && latestAttempt(r).status === "completed" && r.attempts.length === 1);
    if (!rerun) throw new Error("no completed single-attempt run before the anchor day");
    simulator.rerun(rerun.id);
    const added = simulator.addRun({ repo: rerun.repo });
    simulator.resetStats();
    expect(await tick(3), session.stderr.slice(-3000)).toBe(0);
    const stats = simulator.stats();
    // 2 changed day pages (the re-run's day, the new run's day) + attempt 1 of the re-run + jobs of both runs
    // + the new run's workflow file at its new commit (the re-run's commit was read before).
    expect(stats.costly).toBe(6);
    expect(stats.byRoute["GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs"]).toBe(2);
    expect(stats.byRoute["GET /repos/{owner}/{repo}/contents/{path}"]).toBe(1);

    // Raw is append-only: the re-run's attempts arrive again, so compare distinct keys with the truth.
    const since = new Date(Date.now() - 31 * DAY).toISOString();
    const truth = counts(dataset, runsInWindow(dataset, since, "9999-12-31T00:00:00Z"));
    expect(keyed("workflow_runs").keys).toBe(truth.attempts);
    expect(keyed("workflow_jobs").keys).toBe(truth.jobs);
    const runIds = new Set(google.bigquery.rows(datasets.raw, "workflow_runs").map((r) => Number(r.run_id)));
    expect(runIds.has(added.id)).toBe(true);
    // Each extract's batches were loaded by exactly one job: rows per batch equal what its manifest lists.
    expect(google.bigquery.rows(datasets.raw, "_extracts")).toHaveLength(3);
    for (const n of [1, 2, 3]) {
      const folder = join(dir, `tick-${n}`, "archive", "manifests");
      for (const f of readdirSync(folder)) {
        const manifest = manifestSchema.parse(JSON.parse(readFileSync(join(folder, f), "utf8")));
        for (const file of manifest.files) {
          expect(google.bigquery.rows(datasets.raw, file.table).filter((r) => r._batch_id === file.batch_id), file.batch_id).toHaveLength(file.records);
        }
      }
    }
    expect(session.stderr).not.toContain(TOKEN);
  }, 120_000);
});
