/**
 * `pipeline --warehouse bigquery` end to end through the command line: the GitHub API simulator as
 * GitHub, the Cloud Storage and BigQuery stand-ins as Google Cloud, the real clients with Application
 * Default Credentials (Workload Identity Federation file). Ground truth comes from the simulator's seed.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, startSimulator, type Dataset, type Simulator } from "../simulator/index.js";
import { datasets } from "../load/datasets.js";
import { bigQuerySchemaDir } from "../schemas/bigquery-schema.js";
import { manifestSchema, type Manifest } from "../schemas/manifest.js";
import { rawTables, type RawTableName } from "../schemas/raw-tables.js";
import { counts, runsInWindow } from "./ground-truth.js";
import { startGoogleStandIns, type GoogleStandIns } from "./stand-ins/google-env.js";
import { cliSession, type CliSession } from "./cli-session.js";

const ANCHOR = "2026-10-15T12:00:00Z";
const SINCE = "2026-10-12";
const PROJECT = "acme-analytics";
const BUCKET = "acme-actions-staging";
const PREFIX = "prod";
const GITHUB_TOKEN = "ghs_pipelineTestTokenThatMustNeverBeLogged0001";

interface LoadConfig {
  sourceUris: string[];
  sourceFormat: string;
  writeDisposition: string;
  createDisposition: string;
  destinationTable: { projectId: string; datasetId: string; tableId: string };
  schema: { fields: unknown[] };
}
const loadOf = (job: Record<string, unknown>) => (job.configuration as { load: LoadConfig }).load;

describe("pipeline --warehouse bigquery against the stand-ins", () => {
  let dir: string;
  let dataset: Dataset;
  let simulator: Simulator;
  let google: GoogleStandIns;
  let session: CliSession;
  const cli = (...args: string[]) => session.run(...args);
  const pipelineArgs = (stagingDir: string) => [
    "pipeline", "--warehouse", "bigquery", "--org", dataset.org.login, "--user", dataset.user.login, "--since", SINCE,
    "--staging-dir", stagingDir, "--project", PROJECT, "--bucket", BUCKET, "--prefix", PREFIX, "--no-transform",
  ];
  // Published manifests move to the local archive folder.
  const manifestsIn = (stagingDir: string): Manifest[] => {
    const folder = join(stagingDir, "archive", "manifests");
    return readdirSync(folder).map((f) => manifestSchema.parse(JSON.parse(readFileSync(join(folder, f), "utf8"))));
  };
  const jobsFor = (table: string) => google.bigquery.loadJobs().filter((j) => loadOf(j).destinationTable.tableId === table);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-bq-pipeline-"));
    dataset = generateDataset({ seed: 11, anchor: ANCHOR, days: 3, scale: 0.25, busyDayRuns: 100 });
    // Three full extracts in one hour: more than one token's 5,000 requests.
    simulator = await startSimulator({ dataset, rateLimit: 50_000, token: GITHUB_TOKEN });
    google = await startGoogleStandIns({ projectId: PROJECT, jobLatencyMs: 40 });
    session = cliSession({ GITHUB_API_URL: simulator.url, GITHUB_TOKEN, GITHUB_STEP_SUMMARY: join(dir, "step-summary.md"), LOG_LEVEL: "debug" });
    expect(await cli("bootstrap", "--project", PROJECT, "--location", "US")).toBe(0);
  }, 120_000);

  afterAll(async () => {
    session?.close();
    await google?.close();
    await simulator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("stages every batch in Cloud Storage and runs exactly one load job per raw table of the extract with the expected configuration", async () => {
    const staging = join(dir, "run-1");
    expect(await cli(...pipelineArgs(staging))).toBe(0);
    const [manifest] = manifestsIn(staging);
    if (!manifest) throw new Error("no manifest");

    // Objects staged under gs://BUCKET/PREFIX in the staging layout, the manifest among them.
    const [objects] = await new Storage({ projectId: PROJECT }).bucket(BUCKET).getFiles({ prefix: `${PREFIX}/` });
    const names = new Set(objects.map((o) => o.name));
    for (const f of manifest.files) {
      expect(f.path).toMatch(new RegExp(`^raw/${f.table}/dt=\\d{4}-\\d{2}-\\d{2}/[^/]+\\.ndjson\\.gz$`));
      expect(names.has(`${PREFIX}/${f.path}`), f.path).toBe(true);
    }
    // Loaded, so archived: the pending folder holds nothing of it.
    expect(names.has(`${PREFIX}/archive/manifests/${manifest.extract_id}.json`)).toBe(true);
    expect(names.has(`${PREFIX}/manifests/${manifest.extract_id}.json`)).toBe(false);

    const tables = manifest.files.map((f) => f.table).sort();
    expect(tables).toEqual(expect.arrayContaining(["workflow_runs", "workflow_jobs", "job_steps", "workflows", "packages", "package_versions"]));
    for (const table of tables) {
      const jobs = jobsFor(table);
      expect(jobs, table).toHaveLength(1);
      const job = jobs[0] as Record<string, unknown>;
      const load = loadOf(job);
      expect((job.jobReference as { jobId: string }).jobId).toBe(`aw_${table}_${manifest.extract_id}_a1`);
      expect(load.sourceUris).toEqual(manifest.files.filter((f) => f.table === table).map((f) => `gs://${BUCKET}/${PREFIX}/${f.path}`));
      expect(load).toMatchObject({
        sourceFormat: "NEWLINE_DELIMITED_JSON",
        writeDisposition: "WRITE_APPEND",
        createDisposition: "CREATE_NEVER",
        destinationTable: { projectId: PROJECT, datasetId: datasets.raw, tableId: table },
      });
      // The table's own schema applies (columns added by bootstrap are NULLABLE; a REQUIRED copy would be rejected).
      expect(load.schema).toBeUndefined();
      expect((job.status as { state: string; errorResult?: unknown }).errorResult).toBeUndefined();
    }

    // Every run attempt, job, step and package version the API holds is in BigQuery exactly once.
    const truth = counts(dataset, runsInWindow(dataset, `${SINCE}T00:00:00Z`, "9999-12-31T00:00:00Z"));
    const keyed = (table: RawTableName) => {
      const rows = google.bigquery.rows(datasets.raw, table);
      const keys = new Set(rows.map((r) => rawTables[table].key.map((k) => String(r[k])).join("/")));
      return { rows: rows.length, keys: keys.size };
    };
    expect(keyed("workflow_runs")).toEqual({ rows: truth.attempts, keys: truth.attempts });
    expect(keyed("workflow_jobs")).toEqual({ rows: truth.jobs, keys: truth.jobs });
    expect(keyed("job_steps").rows).toBe(truth.steps);
    expect(keyed("package_versions").rows).toBe(manifest.counts.package_versions);

    // The job summary GitHub Actions shows: counts, quarantined records, API budget.
    const summary = readFileSync(join(dir, "step-summary.md"), "utf8");
    expect(summary).toContain(`| workflow_runs | ${truth.attempts} | ${truth.attempts} |`);
    expect(summary).toMatch(/\*\*Quarantined records:\*\* \d+/);
    expect(summary).toContain(`**GitHub API budget:** ${manifest.api.requests} requests used`);
    expect(session.stdout).toContain("load jobs");
  });

  it("a retried load of the same run creates no second load job and no row twice", async () => {
    const before = google.bigquery.loadJobs().length;
    const rowsBefore = google.bigquery.rows(datasets.raw, "workflow_runs").length;
    expect(await cli("load", "--warehouse", "bigquery", "--staging-dir", join(dir, "run-1"), "--project", PROJECT, "--bucket", BUCKET, "--prefix", PREFIX)).toBe(0);
    expect(google.bigquery.loadJobs()).toHaveLength(before);
    expect(google.bigquery.rows(datasets.raw, "workflow_runs")).toHaveLength(rowsBefore);
    expect(session.stdout).toMatch(/0 objects staged, 0 extracts loaded with 0 load jobs/);
  });

  it("a run that dies after submitting its loads is settled by the retried run, never loaded twice", async () => {
    // Job status calls fail (403, not retried by the client) until the retry: run 2 stops mid-load.
    let broken = true;
    google.bigquery.setFault((req) => (broken && req.method === "GET" && /\/jobs\/aw_/.test(req.path) ? { status: 403, afterHandling: false } : undefined));
    const beforeJobs = google.bigquery.loadJobs().length;
    // --refetch: fetch everything again, so both runs carry batches of every table.
    expect(await cli(...pipelineArgs(join(dir, "run-2")), "--refetch")).toBe(1);
    const submitted = google.bigquery.loadJobs().slice(beforeJobs);
    expect(submitted.length).toBeGreaterThan(0);

    broken = false;
    google.bigquery.setFault(undefined);
    expect(await cli(...pipelineArgs(join(dir, "run-3")), "--refetch")).toBe(0);

    // Run 2's batches went into BigQuery once, through the jobs it submitted (run 3 found them by id).
    const run2 = manifestsIn(join(dir, "run-2"))[0];
    const run3 = manifestsIn(join(dir, "run-3"))[0];
    if (!run2 || !run3) throw new Error("missing manifests");
    const allJobs = google.bigquery.loadJobs();
    for (const f of [...run2.files, ...run3.files]) {
      const uri = `gs://${BUCKET}/${PREFIX}/${f.path}`;
      expect(allJobs.filter((j) => loadOf(j).sourceUris.includes(uri)), uri).toHaveLength(1);
    }
    for (const m of [run2, run3]) expect(google.bigquery.rows(datasets.raw, "_extracts").filter((r) => r.extract_id === m.extract_id), m.extract_id).toHaveLength(1);
    // No batch doubled: each batch's rows appear exactly as many times as its manifest lists.
    for (const f of [...run2.files, ...run3.files]) {
      const rows = google.bigquery.rows(datasets.raw, f.table).filter((r) => r._batch_id === f.batch_id);
      expect(rows.length, f.batch_id).toBe(f.records);
    }
  });

  it("never writes the GitHub token or the identity token to logs, staging or BigQuery", () => {
    const secrets = [GITHUB_TOKEN, google.subjectToken];
    const bodies = JSON.stringify(google.bigquery.requests.filter((r) => r.path !== "/v1/token").map((r) => r.body));
    for (const s of secrets) {
      expect(session.stderr).not.toContain(s);
      expect(session.stdout).not.toContain(s);
      expect(bodies).not.toContain(s);
    }
    for (const table of google.bigquery.tables.values()) expect(JSON.stringify(table.rows)).not.toContain(GITHUB_TOKEN);
    expect(existsSync(join(dir, "run-1", "loads"))).toBe(false);
  });
});
