/**
 * Cloud Storage staging, BigQuery bootstrap and load jobs, driven through the real @google-cloud/storage
 * and @google-cloud/bigquery clients (with Application Default Credentials) against the stand-ins.
 * Staging folders are made by hand here, independent of the extractor, so each case controls its bytes.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { BigQuery } from "@google-cloud/bigquery";
import { Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ALERT_COLUMNS, ALERT_TABLES } from "../alerts/tables.js";
import { bootstrapBigQuery, BootstrapError } from "../load/bigquery-bootstrap.js";
import { BigQueryLoadError, loadIntoBigQuery, loadJobId } from "../load/bigquery-load.js";
import { GcsStaging } from "../load/gcs-staging.js";
import { stateObjectPath } from "../load/state-objects.js";
import { rawTableSpec } from "../load/bigquery-tables.js";
import { StagingError } from "../load/staging.js";
import { datasets } from "../load/datasets.js";
import { bigQuerySchemaDir } from "../schemas/bigquery-schema.js";
import { rawTableNames, rawTables } from "../schemas/raw-tables.js";
import { stagingLayout, type Manifest } from "../schemas/manifest.js";
import { silentLogger } from "../log/logger.js";
import { startGoogleStandIns, type GoogleStandIns } from "./stand-ins/google-env.js";
import { legacyFields, startBigQueryStandIn, type TableField } from "./stand-ins/bigquery.js";

const PROJECT = "stand-in-project";
const BUCKET = "aw-staging";
let standIns: GoogleStandIns;
let dir: string;
let prefixCounter = 0;

const workflow = (id: number, repo = "acme/api") => ({
  repository: repo,
  workflow_id: id,
  name: `wf ${id}`,
  path: `.github/workflows/wf${id}.yml`,
  state: "active",
  created_at: "2026-10-01T00:00:00Z",
  updated_at: "2026-10-02T00:00:00Z",
  payload: { id, name: `wf ${id}` },
  _extracted_at: "2026-10-15T12:00:00Z",
});

const pkg = (name: string) => ({
  owner: "acme",
  owner_type: "Organization",
  package_type: "npm",
  package_name: name,
  package_id: name.length,
  visibility: "private",
  repository: "acme/api",
  created_at: "2026-10-01T00:00:00Z",
  updated_at: "2026-10-02T00:00:00Z",
  payload: { name },
  _extracted_at: "2026-10-15T12:00:00Z",
});

/** Writes a staging folder the way an extract does: gzip NDJSON batches, then the manifest. */
function stageExtract(root: string, extractId: string, tables: Record<string, Record<string, unknown>[]>, quarantine: Record<string, unknown>[] = []): Manifest {
  const files: Manifest["files"] = [];
  for (const [table, rows] of Object.entries(tables)) {
    const batchId = `${extractId}-${table}`;
    const path = stagingLayout.batch(table, "2026-10-15", batchId);
    const body = gzipSync(rows.map((r) => `${JSON.stringify({ ...r, _batch_id: batchId })}\n`).join(""));
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), body);
    files.push({ table, batch_id: batchId, path, records: rows.length, bytes: body.length, sha256: createHash("sha256").update(body).digest("hex") });
  }
  let quarantinePath: string | null = null;
  if (quarantine.length) {
    quarantinePath = stagingLayout.quarantine("2026-10-15", extractId);
    mkdirSync(dirname(join(root, quarantinePath)), { recursive: true });
    writeFileSync(join(root, quarantinePath), gzipSync(quarantine.map((r) => `${JSON.stringify({ ...r, _batch_id: `${extractId}-quarantine` })}\n`).join("")));
  }
  const manifest: Manifest = {
    version: 1,
    extract_id: extractId,
    started_at: "2026-10-15T12:00:00.000Z",
    finished_at: "2026-10-15T12:01:00.000Z",
    api_url: "http://127.0.0.1",
    scope: { repositories: ["acme/api"], organizations: [], users: [] },
    window: { since: "2026-10-01T00:00:00.000Z", until: "2026-10-15T12:00:00.000Z" },
    counts: Object.fromEntries(Object.entries(tables).map(([t, r]) => [t, r.length])),
    quarantined: quarantine.length,
    quarantine_path: quarantinePath,
    api: { requests: 10, not_modified: 0, retries: 0, rate_limit_remaining: 4990 },
    files,
  };
  mkdirSync(join(root, stagingLayout.manifestsDir), { recursive: true });
  writeFileSync(join(root, stagingLayout.manifest(extractId)), JSON.stringify(manifest));
  return manifest;
}

function newStaging(): { local: string; gcs: GcsStaging } {
  prefixCounter += 1;
  const local = join(dir, `staging-${prefixCounter}`);
  return { local, gcs: new GcsStaging({ bucket: BUCKET, prefix: `env/run-${prefixCounter}` }, new Storage({ projectId: PROJECT })) };
}

const bigquery = () => new BigQuery({ projectId: PROJECT, location: "US" });
const jobInserts = () => standIns.bigquery.requests.filter((r) => r.method === "POST" && r.path.endsWith("/jobs"));
const loadOptions = (gcs: GcsStaging) => ({ bigquery: bigquery(), staging: gcs, location: "US", log: silentLogger, pollMs: 20 });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "aw-bq-"));
  standIns = await startGoogleStandIns({ projectId: PROJECT, jobLatencyMs: 60 });
});

afterAll(async () => {
  await standIns?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("bootstrap", () => {
  it("creates the datasets and raw tables from the generated schemas, partitioned and clustered", async () => {
    const result = await bootstrapBigQuery({ bigquery: bigquery(), location: "US", log: silentLogger });
    expect(result.datasetsCreated.sort()).toEqual([datasets.raw, datasets.staging, datasets.models, datasets.assertions].sort());
    expect(result.tablesCreated.sort()).toEqual([...rawTableNames, "_quarantine", "_extracts", "_http_cache", ...ALERT_TABLES].map((t) => `${datasets.raw}.${t}`).sort());
    // The alert tables with the columns and BigQuery types `alerts evaluate` writes (alerts/tables.ts), so
    // rpt_alerts builds before the first evaluation.
    for (const table of ALERT_TABLES) {
      const stored = standIns.bigquery.tables.get(`${datasets.raw}.${table}`);
      expect(stored?.resource.schema.fields.map((f) => [f.name, f.type]), table).toEqual(ALERT_COLUMNS[table].map((c) => [c.name, legacyFields([{ name: c.name, type: c.bigquery, mode: "NULLABLE", description: "" }])[0]?.type]));
    }
    for (const table of rawTableNames) {
      const stored = standIns.bigquery.tables.get(`${datasets.raw}.${table}`);
      const generated = JSON.parse(readFileSync(join(bigQuerySchemaDir, `${table}.json`), "utf8")) as unknown;
      // tables.get reports legacy type names (INTEGER for INT64, ...): compare modulo those aliases.
      expect(stored?.resource.schema.fields, table).toEqual(legacyFields(generated as TableField[]));
      expect(stored?.resource.timePartitioning).toEqual({ type: "DAY", field: rawTables[table].partitionBy });
      expect(stored?.resource.clustering).toEqual({ fields: [...rawTables[table].clusterBy] });
    }
    expect(standIns.bigquery.datasets.get(datasets.raw)).toMatchObject({ location: "US" });
    // The real client authenticated through ADC (external account → STS on the stand-in).
    expect(standIns.bigquery.issuedTokens).toBeGreaterThan(0);
    expect(standIns.bigquery.requests.every((r) => r.status !== 401)).toBe(true);
  });

  it("is idempotent: a second run creates and changes nothing", async () => {
    const before = standIns.bigquery.requests.length;
    const result = await bootstrapBigQuery({ bigquery: bigquery(), location: "US", log: silentLogger });
    expect(result).toEqual({ datasetsCreated: [], tablesCreated: [], columnsAdded: [] });
    const writes = standIns.bigquery.requests.slice(before).filter((r) => r.method !== "GET" && r.path !== "/v1/token");
    expect(writes).toEqual([]);
  });

  it("adds a column that the zod schema gained, and refuses a type change naming the column", async () => {
    const stored = standIns.bigquery.tables.get(`${datasets.raw}.workflows`);
    if (!stored) throw new Error("workflows table missing");
    const full = stored.resource.schema.fields;
    stored.resource.schema = { fields: full.filter((f) => f.name !== "state") };
    const result = await bootstrapBigQuery({ bigquery: bigquery(), location: "US", log: silentLogger });
    expect(result.columnsAdded).toEqual([`${datasets.raw}.workflows.state`]);
    expect(stored.resource.schema.fields.find((f) => f.name === "state")).toMatchObject({ type: "STRING", mode: "NULLABLE" });

    stored.resource.schema = { fields: full.map((f) => (f.name === "workflow_id" ? { ...f, type: "STRING" } : f)) };
    await expect(bootstrapBigQuery({ bigquery: bigquery(), location: "US", log: silentLogger })).rejects.toThrow(BootstrapError);
    await expect(bootstrapBigQuery({ bigquery: bigquery(), location: "US", log: silentLogger })).rejects.toThrow(/raw\.workflows\.workflow_id|github_raw\.workflows\.workflow_id/);
    stored.resource.schema = { fields: full };
  });
});

describe("Cloud Storage staging", () => {
  it("uploads batches, quarantine, state and manifest in the staging layout, manifest last, and re-publishing uploads nothing", async () => {
    const { local, gcs } = newStaging();
    const manifest = stageExtract(local, "20261015T120000Z-aaaa0001", { workflows: [workflow(1), workflow(2)], packages: [pkg("a")] }, [{ resource: "workflows", source: "GET /x", reason: "workflow_id: expected number", record: { id: "x" }, _extracted_at: "2026-10-15T12:00:00Z" }]);
    const first = await gcs.publish(local, silentLogger);
    expect(first).toMatchObject({ uploaded: 5, alreadyStaged: 0, manifests: 1 });

    const storage = new Storage({ projectId: PROJECT });
    const [files] = await storage.bucket(BUCKET).getFiles({ prefix: gcs.location.prefix });
    const names = files.map((f) => f.name).sort();
    const statePath = stateObjectPath("_extracts", manifest.extract_id);
    expect(names).toEqual(
      [...manifest.files.map((f) => f.path), manifest.quarantine_path ?? "", statePath, stagingLayout.manifest(manifest.extract_id)].map((p) => `${gcs.location.prefix}/${p}`).sort(),
    );
    expect(names).toContain(`${gcs.location.prefix}/raw/workflows/dt=2026-10-15/20261015T120000Z-aaaa0001-workflows.ndjson.gz`);
    expect(gcs.uri(manifest.files[0]?.path ?? "")).toMatch(/^gs:\/\/aw-staging\/env\/run-\d+\/raw\//);

    // The manifest (commit marker) got the highest generation: it was written after everything it lists.
    const generation = (name: string) => Number(files.find((f) => f.name.endsWith(name))?.metadata.generation);
    const manifestGen = generation(stagingLayout.manifest(manifest.extract_id));
    for (const f of [...manifest.files.map((x) => x.path), statePath]) expect(generation(f)).toBeLessThan(manifestGen);

    // Stored bytes are the local bytes, with the checksum recorded beside them.
    const batch = manifest.files[0];
    if (!batch) throw new Error("no batch");
    const [content] = await storage.bucket(BUCKET).file(`${gcs.location.prefix}/${batch.path}`).download();
    expect(createHash("sha256").update(content).digest("hex")).toBe(batch.sha256);
    const [meta] = await storage.bucket(BUCKET).file(`${gcs.location.prefix}/${batch.path}`).getMetadata();
    expect(meta.metadata?.sha256).toBe(batch.sha256);
    // The `_extracts` row is built from the manifest alone, so a re-publish produces the same bytes.
    const [state] = await storage.bucket(BUCKET).file(`${gcs.location.prefix}/${statePath}`).download();
    expect(JSON.parse(gunzipSync(state).toString("utf8"))).toMatchObject({ extract_id: manifest.extract_id, repositories: ["acme/api"], records: 3, quarantined: 1, loaded_at: manifest.finished_at });

    // Published manifests leave the local queue: the next publish reads nothing old.
    expect(existsSync(join(local, stagingLayout.manifest(manifest.extract_id)))).toBe(false);
    expect(await gcs.publish(local, silentLogger)).toMatchObject({ uploaded: 0, alreadyStaged: 0, manifests: 0 });
    // A crash between the upload and the local move: publishing again uploads nothing.
    renameSync(join(local, "archive", stagingLayout.manifest(manifest.extract_id)), join(local, stagingLayout.manifest(manifest.extract_id)));
    expect(await gcs.publish(local, silentLogger)).toMatchObject({ uploaded: 0, alreadyStaged: 5, manifests: 1 });
    expect((await gcs.listManifests()).map((m) => m.manifest.extract_id)).toEqual([manifest.extract_id]);
  });

  it("refuses to upload a batch whose bytes no longer match its manifest", async () => {
    const { local, gcs } = newStaging();
    const manifest = stageExtract(local, "20261015T120000Z-aaaa0002", { workflows: [workflow(1)] });
    const path = join(local, manifest.files[0]?.path ?? "");
    writeFileSync(path, gzipSync('{"tampered":true}\n'));
    await expect(gcs.publish(local, silentLogger)).rejects.toThrow(StagingError);
    await expect(gcs.publish(local, silentLogger)).rejects.toThrow(/checksum mismatch/);
    expect(await gcs.listManifests()).toEqual([]);
  });
});

describe("load jobs", () => {
  beforeAll(async () => {
    await bootstrapBigQuery({ bigquery: bigquery(), location: "US", log: silentLogger });
  });
  beforeEach(() => {
    for (const t of standIns.bigquery.tables.values()) t.rows.length = 0;
  });

  const tableOf = (r: { body: unknown }) => (r.body as { configuration: { load: { destinationTable: { tableId: string } } } }).configuration.load.destinationTable.tableId;
  const objectNames = async (gcs: GcsStaging) => {
    const [files] = await new Storage({ projectId: PROJECT }).bucket(BUCKET).getFiles({ prefix: `${gcs.location.prefix}/` });
    return files.map((f) => f.name.slice(gcs.location.prefix.length + 1)).sort();
  };

  it("runs one load job per table of each extract with the exact configuration, records the extract, archives it, and loads nothing twice", async () => {
    const { local, gcs } = newStaging();
    const a = stageExtract(local, "20261015T120000Z-bbbb0001", { workflows: [workflow(1), workflow(2)], packages: [pkg("a")] }, [{ resource: "packages", source: "GET /p", reason: "package_id: expected number", record: { id: "p" }, _extracted_at: "2026-10-15T12:00:00Z" }]);
    const b = stageExtract(local, "20261015T130000Z-bbbb0002", { workflows: [workflow(3)] });
    await gcs.publish(local, silentLogger);
    const before = jobInserts().length;

    const result = await loadIntoBigQuery(loadOptions(gcs));
    const inserts = jobInserts().slice(before);
    expect(inserts.map(tableOf).sort()).toEqual(["_extracts", "_extracts", "_quarantine", "packages", "workflows", "workflows"]);
    // State goes in only after the extract's rows: `_extracts` is each extract's last job.
    for (const m of [a, b]) {
      const mine = inserts.filter((r) => JSON.stringify(r.body).includes(m.extract_id));
      expect(mine.map(tableOf).at(-1)).toBe("_extracts");
    }
    expect(result.rows).toEqual({ workflows: 3, packages: 1 });
    expect(result.quarantined).toBe(1);
    expect(result.manifests).toEqual([a.extract_id, b.extract_id]);

    const wf = inserts.find((r) => tableOf(r) === "workflows" && JSON.stringify(r.body).includes(a.extract_id));
    expect(wf?.body).toEqual({
      jobReference: { projectId: PROJECT, jobId: loadJobId("workflows", a.extract_id, 1), location: "US" },
      configuration: {
        load: {
          sourceUris: a.files.filter((f) => f.table === "workflows").map((f) => gcs.uri(f.path)),
          sourceFormat: "NEWLINE_DELIMITED_JSON",
          destinationTable: { projectId: PROJECT, datasetId: datasets.raw, tableId: "workflows" },
          writeDisposition: "WRITE_APPEND",
          createDisposition: "CREATE_NEVER",
          maxBadRecords: 0,
          ignoreUnknownValues: false,
        },
      },
    });
    expect(loadJobId("workflows", a.extract_id, 1)).toBe("aw_workflows_20261015T120000Z-bbbb0001_a1");
    expect(standIns.bigquery.rows(datasets.raw, "workflows").map((r) => r.workflow_id).sort()).toEqual([1, 2, 3]);
    expect(standIns.bigquery.rows(datasets.raw, "_extracts").map((r) => r.extract_id).sort()).toEqual([a.extract_id, b.extract_id]);
    // Jobs were polled until DONE, not assumed finished.
    expect(standIns.bigquery.requests.some((r) => r.method === "GET" && r.path.includes("/jobs/aw_workflows_"))).toBe(true);
    // Loaded manifests are archived: the pending folder is empty.
    const names = await objectNames(gcs);
    expect(names.filter((n) => n.startsWith("manifests/"))).toEqual([]);
    expect(names.filter((n) => n.startsWith("archive/manifests/"))).toEqual([`archive/manifests/${a.extract_id}.json`, `archive/manifests/${b.extract_id}.json`]);

    const again = await loadIntoBigQuery(loadOptions(gcs));
    expect(again).toMatchObject({ jobs: [], manifests: [], reused: 0 });
    expect(jobInserts().length).toBe(before + 6);
    expect(standIns.bigquery.rows(datasets.raw, "workflows")).toHaveLength(3);
  });

  it("a job id answered with 409 is fetched and waited for, never loaded twice", async () => {
    const { local, gcs } = newStaging();
    stageExtract(local, "20261015T120000Z-cccc0001", { workflows: [workflow(7), workflow(8)] });
    await gcs.publish(local, silentLogger);
    // The first insert takes effect but its answer is lost (a 503 after the job was created).
    let injected = false;
    const saved = standIns.bigquery;
    const fault = (req: { method: string; path: string }) => {
      if (!injected && req.method === "POST" && req.path.endsWith("/jobs")) {
        injected = true;
        return { status: 503, afterHandling: true };
      }
      return undefined;
    };
    saved.setFault(fault);
    try {
      // The client retries the 503 with the same job id; BigQuery says 409; the loader fetches that job.
      const result = await loadIntoBigQuery(loadOptions(gcs));
      expect(injected).toBe(true);
      expect(jobInserts().filter((r) => JSON.stringify(r.body).includes("cccc0001_a1") && tableOf(r) === "workflows").map((r) => r.status)).toEqual([503, 409]);
      expect(result.jobs.filter((j) => j.table === "workflows")).toMatchObject([{ table: "workflows", rows: 2, reused: true }]);
      expect(standIns.bigquery.loadJobs().filter((j) => JSON.stringify(j).includes("aw_workflows_20261015T120000Z-cccc0001"))).toHaveLength(1);
      expect(standIns.bigquery.rows(datasets.raw, "workflows").map((r) => r.workflow_id).sort()).toEqual([7, 8]);
    } finally {
      saved.setFault(undefined);
    }
  });

  it("an attempt that failed (atomically, loading nothing) is followed by the next attempt id", async () => {
    const { local, gcs } = newStaging();
    const m = stageExtract(local, "20261015T120000Z-dddd0001", { workflows: [workflow(11)] });
    await gcs.publish(local, silentLogger);
    // An earlier run's attempt 1 failed: it named an object that did not exist.
    const [failed] = await bigquery().createJob({
      jobId: loadJobId("workflows", m.extract_id, 1),
      location: "US",
      configuration: { load: { sourceUris: [gcs.uri("raw/missing.ndjson.gz")], sourceFormat: "NEWLINE_DELIMITED_JSON", destinationTable: { projectId: PROJECT, datasetId: datasets.raw, tableId: "workflows" }, writeDisposition: "WRITE_APPEND", createDisposition: "CREATE_NEVER" } },
    });
    await expect(failed.promise()).rejects.toThrow();
    const result = await loadIntoBigQuery(loadOptions(gcs));
    expect(result.jobs.filter((j) => j.table === "workflows").map((j) => j.job_id)).toEqual([loadJobId("workflows", m.extract_id, 2)]);
    expect(standIns.bigquery.rows(datasets.raw, "workflows").map((r) => r.workflow_id)).toEqual([11]);
  });

  it("reports load errors with their gs:// location and row position, loads nothing from the failed job, and leaves the extract pending", async () => {
    const { local, gcs } = newStaging();
    const m = stageExtract(local, "20261015T120000Z-eeee0001", { workflows: [workflow(21), { ...workflow(22), workflow_id: "twenty-two" }] });
    await gcs.publish(local, silentLogger);
    const error = await loadIntoBigQuery(loadOptions(gcs)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BigQueryLoadError);
    const message = (error as Error).message;
    expect(message).toContain(gcs.uri(m.files[0]?.path ?? ""));
    expect(message).toMatch(/row starting at position \d+/);
    expect(message).toContain("workflow_id");
    expect((error as BigQueryLoadError).errors[0]?.location).toBe(gcs.uri(m.files[0]?.path ?? ""));
    expect(standIns.bigquery.rows(datasets.raw, "workflows")).toEqual([]);
    // No `_extracts` row and no archive: the watermark does not move past data that is not in.
    expect(standIns.bigquery.rows(datasets.raw, "_extracts")).toEqual([]);
    expect((await gcs.listManifests()).map((x) => x.manifest.extract_id)).toEqual([m.extract_id]);
  });

  it("two shards loading one prefix concurrently, with a third publishing between their listings, put every row in once", async () => {
    const prefix = `env/shards-${++prefixCounter}`;
    const shard = (n: number) => ({ local: join(dir, `shard-${prefixCounter}-${n}`), gcs: new GcsStaging({ bucket: BUCKET, prefix }, new Storage({ projectId: PROJECT })) });
    const [one, two, three] = [shard(1), shard(2), shard(3)];
    stageExtract(one.local, "20261015T120000Z-ffff0001", { workflows: [workflow(31), workflow(32)], packages: [pkg("s1")] });
    stageExtract(two.local, "20261015T120001Z-ffff0002", { workflows: [workflow(33)] });
    stageExtract(three.local, "20261015T120002Z-ffff0003", { workflows: [workflow(34), workflow(35)] });
    await one.gcs.publish(one.local, silentLogger);
    await two.gcs.publish(two.local, silentLogger);
    // Shard one lists {1, 2}; then shard three publishes; then shard two lists {1, 2, 3}.
    let releaseTwo: () => void = () => {};
    const twoMayList = new Promise<void>((resolve) => (releaseTwo = resolve));
    const listOne = one.gcs.listManifests.bind(one.gcs);
    one.gcs.listManifests = async () => {
      const listed = await listOne();
      await three.gcs.publish(three.local, silentLogger);
      releaseTwo();
      return listed;
    };
    const listTwo = two.gcs.listManifests.bind(two.gcs);
    two.gcs.listManifests = async () => {
      await twoMayList;
      return listTwo();
    };
    const before = standIns.bigquery.loadJobs().length;
    const [r1, r2] = await Promise.all([loadIntoBigQuery(loadOptions(one.gcs)), loadIntoBigQuery(loadOptions(two.gcs))]);
    expect(r1.manifests.length).toBe(2);
    expect([...new Set([...r1.manifests, ...r2.manifests])].sort()).toEqual(["20261015T120000Z-ffff0001", "20261015T120001Z-ffff0002", "20261015T120002Z-ffff0003"]);

    const ids = standIns.bigquery.rows(datasets.raw, "workflows").map((r) => Number(r.workflow_id)).sort((x, y) => x - y);
    expect(ids).toEqual([31, 32, 33, 34, 35]);
    expect(standIns.bigquery.rows(datasets.raw, "packages")).toHaveLength(1);
    expect(standIns.bigquery.rows(datasets.raw, "_extracts")).toHaveLength(3);
    // One job per (extract, table): 3 workflows + 1 packages + 3 _extracts, whoever submitted them.
    expect(standIns.bigquery.loadJobs().length - before).toBe(7);
    expect(r1.reused + r2.reused).toBeGreaterThan(0);
    const names = (await new Storage({ projectId: PROJECT }).bucket(BUCKET).getFiles({ prefix: `${prefix}/` }))[0].map((f) => f.name);
    expect(names.filter((n) => n.startsWith(`${prefix}/manifests/`))).toEqual([]);
    expect(names.filter((n) => n.startsWith(`${prefix}/archive/manifests/`))).toHaveLength(3);
  });
});

describe("schema evolution", () => {
  it("a column added to a zod schema: bootstrap adds it NULLABLE to the live table, and the next load succeeds", async () => {
    // A BigQuery of its own (same Cloud Storage), so the table can start out as an older release made it.
    const fresh = await startBigQueryStandIn({ gcsUrl: standIns.gcs.url, jobLatencyMs: 20 });
    const outer = process.env.BIGQUERY_EMULATOR_HOST;
    process.env.BIGQUERY_EMULATOR_HOST = fresh.apiRoot;
    try {
      const bq = bigquery();
      // The table as an older release created it: without `state` (REQUIRED in today's schema).
      await bq.createDataset(datasets.raw, { location: "US" });
      const spec = rawTableSpec("workflows");
      await bq.dataset(datasets.raw).createTable("workflows", {
        schema: { fields: spec.fields.filter((f) => f.name !== "state") },
        timePartitioning: { type: "DAY", field: spec.partitionField },
        clustering: { fields: spec.clusterFields },
      });
      const result = await bootstrapBigQuery({ bigquery: bq, location: "US", log: silentLogger });
      expect(result.columnsAdded).toEqual([`${datasets.raw}.workflows.state`]);
      const [meta] = await bq.dataset(datasets.raw).table("workflows").getMetadata();
      expect((meta as { schema: { fields: { name: string; mode?: string }[] } }).schema.fields.find((f) => f.name === "state")?.mode).toBe("NULLABLE");

      const { local, gcs } = newStaging();
      stageExtract(local, "20261015T120000Z-gggg0001", { workflows: [workflow(41)] });
      await gcs.publish(local, silentLogger);
      const loaded = await loadIntoBigQuery({ ...loadOptions(gcs), bigquery: bq });
      expect(loaded.rows).toEqual({ workflows: 1 });
      expect(fresh.rows(datasets.raw, "workflows").map((r) => r.state)).toEqual(["active"]);
      // And a second bootstrap changes nothing.
      expect(await bootstrapBigQuery({ bigquery: bq, location: "US", log: silentLogger })).toEqual({ datasetsCreated: [], tablesCreated: [], columnsAdded: [] });
    } finally {
      process.env.BIGQUERY_EMULATOR_HOST = outer;
      await fresh.close();
    }
  });
});

describe("BigQuery stand-in", () => {
  it("rejects a request body that does not match the discovery schema, naming the field", async () => {
    const token = await (await fetch(standIns.bigquery.tokenUrl, { method: "POST" })).json() as { access_token: string };
    const response = await fetch(`${standIns.bigquery.apiRoot}/projects/${PROJECT}/jobs`, {
      method: "POST",
      headers: { authorization: `Bearer ${token.access_token}`, "content-type": "application/json" },
      body: JSON.stringify({ jobReference: { jobId: "x" }, configuration: { load: { sourceURIs: ["gs://a/b"] } } }),
    });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toContain("sourceURIs");
  });

  it("rejects requests without the token issued through the credential exchange", async () => {
    const response = await fetch(`${standIns.bigquery.apiRoot}/projects/${PROJECT}/datasets/${datasets.raw}`);
    expect(response.status).toBe(401);
  });
});
