/**
 * The BigQuery stand-in behaves like the real BigQuery REST API where a forgiving fake would hide
 * production defects. For each rule (BIGQUERY_RULES), a test runs the defect the rule guards against
 * through the real @google-cloud/bigquery client (Application Default Credentials, Workload Identity
 * Federation file, via startGoogleStandIns) and shows it fails with the rule on and would pass with the
 * rule off, plus what the real service accepts.
 */
import { BigQuery, type Job } from "@google-cloud/bigquery";
import { Storage } from "@google-cloud/storage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIGQUERY_RULES, startBigQueryStandIn, type BigQueryRule } from "./stand-ins/bigquery.js";
import { startGoogleStandIns, type GoogleStandIns } from "./stand-ins/google-env.js";

const PROJECT = "stand-in-project";
const BUCKET = "bq-stand-in-us";
const EU_BUCKET = "bq-stand-in-eu";
const TOKYO_BUCKET = "bq-stand-in-tokyo";
const LATENCY = 150;
let standIns: GoogleStandIns;
let jobCounter = 0;

const bq = (location = "US") => new BigQuery({ projectId: PROJECT, location });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const nextJobId = (prefix: string) => `${prefix}_${Date.now()}_${++jobCounter}`;

interface JobMeta {
  status: { state: string; errorResult?: { reason: string; message: string }; errors?: { reason: string; message: string }[] };
  statistics?: { totalBytesProcessed?: string; query?: { totalBytesProcessed?: string; statementType?: string }; load?: { outputRows?: string } };
}
interface Field {
  name: string;
  type: string;
  mode?: string;
  fields?: Field[];
}

/** Runs `work` with some rules switched, then restores them. */
async function under<T>(rules: Partial<Record<BigQueryRule, boolean>>, work: () => Promise<T>): Promise<T> {
  const saved = standIns.bigquery.rules;
  standIns.bigquery.setRules(rules);
  try {
    return await work();
  } finally {
    standIns.bigquery.setRules(saved);
  }
}

/** Polls a job until DONE, as a client must. */
async function settle(job: Job): Promise<JobMeta> {
  for (;;) {
    const [meta] = (await job.getMetadata()) as [JobMeta, unknown];
    if (meta.status.state === "DONE") return meta;
    await sleep(10);
  }
}

const outcome = async <T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: Error & { code?: number } }> => {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error: error as Error & { code?: number } };
  }
};

async function upload(bucket: string, name: string, rows: Record<string, unknown>[]): Promise<string> {
  await new Storage({ projectId: PROJECT }).bucket(bucket).file(name).save(rows.map((r) => JSON.stringify(r)).join("\n"), { resumable: false });
  return `gs://${bucket}/${name}`;
}

async function startLoad(table: string, uris: string[], extra: Record<string, unknown> = {}, opts: { location?: string; dataset?: string; jobId?: string } = {}): Promise<Job> {
  const [job] = await bq(opts.location).createJob({
    jobId: opts.jobId ?? nextJobId("load"),
    location: opts.location ?? "US",
    configuration: { load: { sourceUris: uris, sourceFormat: "NEWLINE_DELIMITED_JSON", destinationTable: { projectId: PROJECT, datasetId: opts.dataset ?? "ds", tableId: table }, writeDisposition: "WRITE_APPEND", ...extra } },
  });
  return job;
}

const load = async (table: string, uris: string[], extra: Record<string, unknown> = {}, opts: { location?: string; dataset?: string } = {}) => settle(await startLoad(table, uris, extra, opts));

const EVENTS: Field[] = [
  { name: "id", type: "INT64", mode: "REQUIRED" },
  { name: "repo", type: "STRING", mode: "REQUIRED" },
  { name: "ok", type: "BOOL" },
  { name: "created_at", type: "TIMESTAMP", mode: "REQUIRED" },
  { name: "payload", type: "JSON" },
];
const eventRows = [
  { id: 1, repo: "acme/api", ok: true, created_at: "2026-10-13T10:00:00Z", payload: { a: 1 } },
  { id: 2, repo: "acme/api", ok: false, created_at: "2026-10-14T10:00:00Z", payload: { a: 2 } },
  { id: 3, repo: "acme/web", ok: true, created_at: "2026-10-15T10:00:00Z", payload: null },
];
let eventsUri = "";

beforeAll(async () => {
  standIns = await startGoogleStandIns({ projectId: PROJECT, jobLatencyMs: LATENCY, gcs: { bucketLocations: { [EU_BUCKET]: "EU", [TOKYO_BUCKET]: "asia-northeast1" } } });
  await bq().createDataset("ds", { location: "US" });
  await bq().createDataset("eu_ds", { location: "EU" });
  await bq().dataset("ds").createTable("events", { schema: { fields: EVENTS }, timePartitioning: { type: "DAY", field: "created_at" } });
  // Loads that only need to succeed or fail go to `scratch`, so `events` keeps exactly eventRows.
  await bq().dataset("ds").createTable("scratch", { schema: { fields: EVENTS } });
  eventsUri = await upload(BUCKET, "events/part-1.ndjson", eventRows);
  const meta = await load("events", [eventsUri]);
  expect(meta.status.errorResult).toBeUndefined();
});

afterAll(async () => {
  await standIns?.close();
});

describe("every rule is on by default and has a test here", () => {
  it("lists the rules", () => {
    expect([...BIGQUERY_RULES].sort()).toEqual(["asyncJobs", "jobIds", "legacyTypeNames", "loadQuota", "loadSchemaMatch", "locations", "queryExecution", "schemaUpdates", "sessions", "transactionConflicts"]);
    expect(Object.values(standIns.bigquery.rules).every(Boolean)).toBe(true);
  });
});

describe("legacyTypeNames", () => {
  const spec: Field[] = [
    { name: "id", type: "INT64", mode: "REQUIRED" },
    { name: "ok", type: "BOOL" },
    { name: "score", type: "FLOAT64" },
    { name: "repo", type: "STRING" },
  ];
  /** The bootstrap as it was: compared the generated schema's type names with tables.get's as strings. */
  async function oldBootstrapCompare(tableId: string): Promise<void> {
    const [meta] = (await bq().dataset("ds").table(tableId).getMetadata()) as [{ schema: { fields: Field[] } }, unknown];
    for (const field of meta.schema.fields) {
      const wanted = spec.find((f) => f.name === field.name);
      if (wanted && wanted.type !== field.type) throw new Error(`ds.${tableId}.${field.name} is ${field.type} in BigQuery but ${wanted.type} in the raw schema`);
    }
  }

  it("tables.get answers INTEGER, BOOLEAN, FLOAT for a table created with INT64, BOOL, FLOAT64: the old string comparison fails", async () => {
    await bq().dataset("ds").createTable("typed_on", { schema: { fields: spec } });
    const [meta] = (await bq().dataset("ds").table("typed_on").getMetadata()) as [{ schema: { fields: Field[] } }, unknown];
    expect(meta.schema.fields.map((f) => f.type)).toEqual(["INTEGER", "BOOLEAN", "FLOAT", "STRING"]);
    await expect(oldBootstrapCompare("typed_on")).rejects.toThrow("ds.typed_on.id is INTEGER in BigQuery but INT64 in the raw schema");

    // Query results carry legacy names too.
    const [, , response] = (await bq().query({ query: "SELECT COUNT(*) AS n, TRUE AS b, 1.5 AS f, STRUCT(1 AS x) AS s FROM `stand-in-project.ds.events`" })) as unknown as [unknown, unknown, { schema: { fields: Field[] } }];
    expect(response.schema.fields.map((f) => f.type)).toEqual(["INTEGER", "BOOLEAN", "FLOAT", "RECORD"]);

    // Off: the names come back as sent, and the defect passes unnoticed.
    await under({ legacyTypeNames: false }, async () => {
      await bq().dataset("ds").createTable("typed_off", { schema: { fields: spec } });
      await expect(oldBootstrapCompare("typed_off")).resolves.toBeUndefined();
    });
  });
});

describe("loadSchemaMatch", () => {
  const v1: Field[] = [
    { name: "id", type: "INT64", mode: "REQUIRED" },
    { name: "repo", type: "STRING", mode: "REQUIRED" },
  ];
  const v2 = [...v1, { name: "state", type: "STRING", mode: "REQUIRED" }];
  let uri = "";
  beforeAll(async () => {
    // The table as bootstrap leaves it after the zod schema gained `state` (REQUIRED there): added NULLABLE.
    await bq().dataset("ds").createTable("evolve", { schema: { fields: v1 } });
    await bq().dataset("ds").table("evolve").setMetadata({ schema: { fields: [...v1, { name: "state", type: "STRING", mode: "NULLABLE" }] } });
    uri = await upload(BUCKET, "evolve/rows.ndjson", [{ id: 1, repo: "acme/api", state: "active" }]);
  });

  it("a load that sends the generated schema (state REQUIRED) to the table where state is NULLABLE fails; off, it loads", async () => {
    const on = await load("evolve", [uri], { schema: { fields: v2 } });
    expect(on.status.errorResult).toEqual({ reason: "invalid", message: "Provided Schema does not match Table stand-in-project:ds.evolve. Field state has changed mode from NULLABLE to REQUIRED" });
    const off = await under({ loadSchemaMatch: false }, () => load("evolve", [uri], { schema: { fields: v2 } }));
    expect(off.status.errorResult).toBeUndefined();
  });

  it("accepts what BigQuery accepts: no schema (the table's), INT64 for INTEGER, and changes the schemaUpdateOptions allow", async () => {
    expect((await load("evolve", [uri])).status.errorResult).toBeUndefined();
    const asStored = [...v1, { name: "state", type: "STRING", mode: "NULLABLE" }];
    expect((await load("evolve", [uri], { schema: { fields: asStored } })).status.errorResult).toBeUndefined();

    const extra = [...asStored, { name: "branch", type: "STRING", mode: "NULLABLE" }];
    const missing = await load("evolve", [uri], { schema: { fields: v1 } });
    expect(missing.status.errorResult?.message).toBe("Provided Schema does not match Table stand-in-project:ds.evolve. Field state is missing in new schema");
    const added = await load("evolve", [uri], { schema: { fields: extra } });
    expect(added.status.errorResult?.message).toBe("Provided Schema does not match Table stand-in-project:ds.evolve. Cannot add fields (field: branch)");
    const retyped = await load("evolve", [uri], { schema: { fields: asStored.map((f) => (f.name === "id" ? { ...f, type: "STRING" } : f)) } });
    expect(retyped.status.errorResult?.message).toBe("Provided Schema does not match Table stand-in-project:ds.evolve. Field id has changed type from INTEGER to STRING");

    expect((await load("evolve", [uri], { schema: { fields: extra }, schemaUpdateOptions: ["ALLOW_FIELD_ADDITION"] })).status.errorResult).toBeUndefined();
    const relaxed = extra.map((f) => (f.name === "repo" ? { ...f, mode: "NULLABLE" } : f));
    expect((await load("evolve", [uri], { schema: { fields: relaxed } })).status.errorResult?.message).toBe("Provided Schema does not match Table stand-in-project:ds.evolve. Field repo has changed mode from REQUIRED to NULLABLE");
    expect((await load("evolve", [uri], { schema: { fields: relaxed }, schemaUpdateOptions: ["ALLOW_FIELD_RELAXATION"] })).status.errorResult).toBeUndefined();
    const [meta] = (await bq().dataset("ds").table("evolve").getMetadata()) as [{ schema: { fields: Field[] } }, unknown];
    expect(meta.schema.fields.map((f) => `${f.name}:${f.type}:${f.mode ?? "NULLABLE"}`)).toEqual(["id:INTEGER:REQUIRED", "repo:STRING:NULLABLE", "state:STRING:NULLABLE", "branch:STRING:NULLABLE"]);
  });
});

describe("schemaUpdates", () => {
  const base: Field[] = [
    { name: "id", type: "INT64", mode: "REQUIRED" },
    { name: "repo", type: "STRING", mode: "NULLABLE" },
  ];
  const patch = (tableId: string, fields: Field[]) => outcome(bq().dataset("ds").table(tableId).setMetadata({ schema: { fields } }));

  it("tables.patch adding a REQUIRED column to an existing table fails; off, it is accepted", async () => {
    await bq().dataset("ds").createTable("patched", { schema: { fields: base } });
    const on = await patch("patched", [...base, { name: "state", type: "STRING", mode: "REQUIRED" }]);
    expect(on.ok).toBe(false);
    if (!on.ok) {
      expect(on.error.code).toBe(400);
      expect(on.error.message).toBe("Provided Schema does not match Table stand-in-project:ds.patched. Cannot add required columns to an existing schema. (field: state)");
    }
    const off = await under({ schemaUpdates: false }, () => patch("patched", [...base, { name: "state", type: "STRING", mode: "REQUIRED" }]));
    expect(off.ok).toBe(true);
  });

  it("allows adding NULLABLE or REPEATED columns and relaxing REQUIRED; refuses removing, retyping and tightening", async () => {
    await bq().dataset("ds").createTable("patched2", { schema: { fields: base } });
    expect((await patch("patched2", [...base, { name: "labels", type: "STRING", mode: "REPEATED" }, { name: "n", type: "INTEGER" }])).ok).toBe(true);
    const now = [...base, { name: "labels", type: "STRING", mode: "REPEATED" }, { name: "n", type: "INTEGER" }];
    const messages = async (fields: Field[]) => {
      const r = await patch("patched2", fields);
      return r.ok ? "ok" : r.error.message;
    };
    expect(await messages(now.filter((f) => f.name !== "repo"))).toMatch(/Field repo is missing in new schema/);
    expect(await messages(now.map((f) => (f.name === "n" ? { ...f, type: "STRING" } : f)))).toMatch(/Field n has changed type from INTEGER to STRING/);
    expect(await messages(now.map((f) => (f.name === "repo" ? { ...f, mode: "REQUIRED" } : f)))).toMatch(/Field repo has changed mode from NULLABLE to REQUIRED/);
    expect(await messages(now.map((f) => (f.name === "id" ? { ...f, mode: "NULLABLE" } : f)))).toBe("ok");
    // The new column is in the SQL engine too.
    const [rows] = await bq().query({ query: "SELECT COUNT(labels) AS n FROM `stand-in-project.ds.patched2`" });
    expect(rows).toEqual([{ n: 0 }]);
  });
});

describe("locations", () => {
  it("a job in the wrong location does not find its dataset; off, it loads", async () => {
    await bq().dataset("eu_ds").createTable("t", { schema: { fields: EVENTS } });
    const euUri = await upload(EU_BUCKET, "events/eu.ndjson", eventRows);
    const on = await load("t", [euUri], {}, { location: "US", dataset: "eu_ds" });
    expect(on.status.errorResult).toEqual({ reason: "notFound", message: "Not found: Dataset stand-in-project:eu_ds was not found in location US" });
    const off = await under({ locations: false }, () => load("t", [euUri], {}, { location: "US", dataset: "eu_ds" }));
    expect(off.status.errorResult).toBeUndefined();
    // In its own location it loads.
    expect((await load("t", [euUri], {}, { location: "EU", dataset: "eu_ds" })).status.errorResult).toBeUndefined();
    // Queries too.
    const query = await outcome(bq("EU").query({ query: "SELECT COUNT(*) AS n FROM `stand-in-project.ds.events`", location: "EU" }));
    expect(query.ok).toBe(false);
    if (!query.ok) expect(query.error.message).toBe("Not found: Dataset stand-in-project:ds was not found in location EU");
  });

  it("jobs.get with the wrong location answers 404; off, it finds the job", async () => {
    const job = await startLoad("scratch", [eventsUri]);
    await settle(job);
    const id = job.id ?? "";
    const on = await outcome(bq().job(id, { location: "EU" }).getMetadata());
    expect(on.ok).toBe(false);
    if (!on.ok) {
      expect(on.error.code).toBe(404);
      expect(on.error.message).toBe(`Not found: Job ${PROJECT}:EU.${id}`);
    }
    expect((await outcome(bq().job(id, { location: "US" }).getMetadata())).ok).toBe(true);
    const off = await under({ locations: false }, () => outcome(bq().job(id, { location: "EU" }).getMetadata()));
    expect(off.ok).toBe(true);
  });

  it("a load's bucket must be compatible with the dataset's location (US datasets load from anywhere)", async () => {
    await bq().dataset("eu_ds").createTable("from_us", { schema: { fields: EVENTS } });
    const on = await load("from_us", [eventsUri], {}, { location: "EU", dataset: "eu_ds" });
    expect(on.status.errorResult).toEqual({ reason: "invalid", message: "Cannot read and write in different locations: source: US, destination: EU" });
    const off = await under({ locations: false }, () => load("from_us", [eventsUri], {}, { location: "EU", dataset: "eu_ds" }));
    expect(off.status.errorResult).toBeUndefined();
    // The US multi-region exception: a US dataset loads from a bucket in any location.
    await bq().dataset("ds").createTable("from_tokyo", { schema: { fields: EVENTS } });
    const tokyoUri = await upload(TOKYO_BUCKET, "events/tokyo.ndjson", eventRows);
    expect((await load("from_tokyo", [tokyoUri])).status.errorResult).toBeUndefined();
  });
});

describe("jobIds", () => {
  it("refuses a job id with other characters or longer than 1,024; off, it accepts them; a duplicate is always 409", async () => {
    for (const jobId of ["load.with.dots", "x".repeat(1025)]) {
      const on = await outcome(startLoad("scratch", [eventsUri], {}, { jobId }));
      expect(on.ok, jobId.slice(0, 20)).toBe(false);
      if (!on.ok) expect(on.error.code).toBe(400);
      const off = await under({ jobIds: false }, () => outcome(startLoad("scratch", [eventsUri], {}, { jobId })));
      expect(off.ok).toBe(true);
      if (off.ok) await settle(off.value);
    }
    const jobId = `${"y".repeat(1000)}_ok-1`;
    await settle(await startLoad("scratch", [eventsUri], {}, { jobId }));
    const again = await under({ jobIds: false }, () => outcome(startLoad("scratch", [eventsUri], {}, { jobId })));
    expect(again.ok).toBe(false);
    if (!again.ok) expect(again.error.code).toBe(409);
  });
});

describe("asyncJobs", () => {
  it("a job is not DONE when inserted, so reading its result without polling sees nothing; off, it would", async () => {
    await bq().dataset("ds").createTable("async_t", { schema: { fields: EVENTS } });
    // tables.get answers at once (a query would itself be a job taking as long as the load).
    const count = async () => Number(((await bq().dataset("ds").table("async_t").getMetadata())[0] as { numRows: string }).numRows);
    // The defect: read the job's state straight from the insert answer and trust the table.
    const on = await startLoad("async_t", [eventsUri]);
    expect((on.metadata as JobMeta).status.state).toBe("PENDING");
    expect(await count()).toBe(0);
    // The states seen, from the insert answer on. Polls on a loaded machine may miss a short phase, so
    // the order is checked (never back, never skipping to DONE at insert), not that every phase was seen.
    const states: string[] = [(on.metadata as JobMeta).status.state];
    for (;;) {
      const [meta] = (await on.getMetadata()) as [JobMeta, unknown];
      if (states[states.length - 1] !== meta.status.state) states.push(meta.status.state);
      if (meta.status.state === "DONE") break;
      await sleep(5);
    }
    const order = ["PENDING", "RUNNING", "DONE"];
    expect(states[0]).toBe("PENDING");
    expect(states[states.length - 1]).toBe("DONE");
    expect(states.map((s) => order.indexOf(s))).toEqual([...states.map((s) => order.indexOf(s))].sort((a, b) => a - b));
    expect(await count()).toBe(3);

    const off = await under({ asyncJobs: false }, () => startLoad("async_t", [eventsUri]));
    expect((off.metadata as JobMeta).status.state).toBe("DONE");
    expect(await count()).toBe(6);
  });

  it("errors appear only at DONE: the insert succeeds; off, the client's createJob fails at once", async () => {
    await bq().dataset("ds").createTable("async_bad", { schema: { fields: EVENTS } });
    const bad = await upload(BUCKET, "events/bad.ndjson", [{ ...eventRows[0], id: "one" }]);
    const on = await startLoad("async_bad", [bad], { maxBadRecords: 1 });
    expect((on.metadata as JobMeta).status).toEqual({ state: "PENDING" });
    const done = await settle(on);
    expect(done.status.errorResult).toBeUndefined();
    expect(done.status.errors?.[0]?.message).toMatch(/Could not convert value to integer\. Field: id/);
    const off = await under({ asyncJobs: false }, () => outcome(startLoad("async_bad", [bad], { maxBadRecords: 1 })));
    expect(off.ok).toBe(false);
  });
});

describe("loadQuota", () => {
  it("the load past the per-table daily quota (3 here, 1,500 in BigQuery) fails with quotaExceeded; off, it loads", async () => {
    // A BigQuery of its own with a low quota (same Cloud Storage and credentials).
    const small = await startBigQueryStandIn({ gcsUrl: standIns.gcs.url, jobLatencyMs: 20, loadJobsPerTablePerDay: 3 });
    const outer = process.env.BIGQUERY_EMULATOR_HOST;
    process.env.BIGQUERY_EMULATOR_HOST = small.apiRoot;
    try {
      await bq().createDataset("ds", { location: "US" });
      await bq().dataset("ds").createTable("quota_t", { schema: { fields: EVENTS } });
      for (let i = 0; i < 3; i++) expect((await load("quota_t", [eventsUri])).status.errorResult).toBeUndefined();
      const on = await load("quota_t", [eventsUri]);
      expect(on.status.errorResult?.reason).toBe("quotaExceeded");
      expect(on.status.errorResult?.message).toMatch(/^Quota exceeded: Your table exceeded quota for imports or query appends per table/);
      const off = await (async () => {
        small.setRules({ loadQuota: false });
        try {
          return await load("quota_t", [eventsUri]);
        } finally {
          small.setRules({ loadQuota: true });
        }
      })();
      expect(off.status.errorResult).toBeUndefined();
      // Failed loads count too, and the count is per table: another table still loads.
      expect((await load("quota_t", [eventsUri])).status.errorResult?.reason).toBe("quotaExceeded");
      await bq().dataset("ds").createTable("quota_other", { schema: { fields: EVENTS } });
      expect((await load("quota_other", [eventsUri])).status.errorResult).toBeUndefined();
    } finally {
      process.env.BIGQUERY_EMULATOR_HOST = outer;
      await small.close();
    }
  });
});

describe("queryExecution", () => {
  const count = "SELECT COUNT(*) AS n FROM `stand-in-project.ds.events` WHERE repo = @repo";

  it("binds named parameters: a misspelt one fails the dry run; off, every dry run passed", async () => {
    const [rows] = await bq().query({ query: count, params: { repo: "acme/api" } });
    expect(rows).toEqual([{ n: 2 }]);
    expect((await bq().query({ query: count, params: { repo: "acme/web" } }))[0]).toEqual([{ n: 1 }]);

    const misspelt = () => outcome(bq().createQueryJob({ query: count.replace("@repo", "@repository"), params: { repo: "acme/api" }, dryRun: true }));
    const on = await misspelt();
    expect(on.ok).toBe(false);
    if (!on.ok) {
      expect(on.error.code).toBe(400);
      expect(on.error.message).toBe("Query parameter 'repository' not found");
    }
    expect((await under({ queryExecution: false }, misspelt)).ok).toBe(true);
  });

  it("dry-run bytes follow BigQuery's data sizes and partition pruning; off, every estimate was 0", async () => {
    const dryBytes = async (query: string, params?: Record<string, unknown>) => {
      const [job] = await bq().createQueryJob({ query, params, dryRun: true });
      const stats = (job.metadata as JobMeta).statistics;
      expect(stats?.query?.totalBytesProcessed).toBe(stats?.totalBytesProcessed);
      return Number(stats?.totalBytesProcessed);
    };
    const since = new Date("2026-10-15T00:00:00Z");
    const pruned = "SELECT id, repo FROM `stand-in-project.ds.events` WHERE created_at >= @since";
    const unpruned = "SELECT id, repo FROM `stand-in-project.ds.events` WHERE created_at IS NOT NULL";
    // id 8 + repo (2 + 8 UTF-8 bytes) + created_at 8 = 26 bytes a row; the filter keeps 2026-10-15 only.
    expect(await dryBytes(pruned, { since })).toBe(26);
    expect(await dryBytes(unpruned)).toBe(3 * 26);
    expect(await dryBytes("SELECT id, repo FROM `stand-in-project.ds.events` WHERE created_at BETWEEN '2026-10-14' AND '2026-10-14 23:00:00'")).toBe(26);
    // Unreferenced columns cost nothing; SELECT * reads every column (BOOL 1, JSON its text, NULL 0).
    expect(await dryBytes("SELECT COUNT(*) FROM `stand-in-project.ds.events`")).toBe(0);
    expect(await dryBytes("SELECT * FROM `stand-in-project.ds.events`")).toBe(3 * 26 + 3 + '{"a":1}'.length * 2);
    // The defect: a query that forgot its partition filter looks exactly as cheap as the pruned one.
    const [on, off] = [await dryBytes(pruned, { since }) === (await dryBytes(unpruned)), await under({ queryExecution: false }, async () => (await dryBytes(pruned, { since })) === (await dryBytes(unpruned)))];
    expect(on).toBe(false);
    expect(off).toBe(true);
  });

  it("runs query jobs with getQueryResults paging and timestamps, DDL the Dataform CLI sends, DML, and BigQuery-shaped errors", async () => {
    const [job] = await bq().createQueryJob({ query: "SELECT id, created_at FROM `stand-in-project.ds.events` ORDER BY id" });
    const [page, next] = await job.getQueryResults({ maxResults: 2, autoPaginate: false });
    expect(page.map((r) => r.id)).toEqual([1, 2]);
    expect(next?.pageToken).toBeDefined();
    const [all] = await job.getQueryResults();
    expect(all.map((r) => r.id)).toEqual([1, 2, 3]);
    expect((all[0]?.created_at as { value: string }).value).toBe("2026-10-13T10:00:00.000Z");

    // CREATE OR REPLACE VIEW as Dataform writes it (OPTIONS with a description holding "as"), then tables.get.
    const view = "create or replace view `stand-in-project.ds.by_repo` OPTIONS(description='''Runs counted as they come''') as select repo, count(*) as runs from `stand-in-project.ds.events` group by repo";
    const [ddl] = await bq().createQueryJob({ query: view });
    const ddlMeta = await settle(ddl);
    expect(ddlMeta.status.errorResult).toBeUndefined();
    expect(ddlMeta.statistics?.query?.statementType).toBe("CREATE_VIEW");
    const [viewMeta] = (await bq().dataset("ds").table("by_repo").getMetadata()) as [{ type: string; schema: { fields: Field[] }; lastModifiedTime: string }, unknown];
    expect(viewMeta.type).toBe("VIEW");
    expect(viewMeta.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual(["repo:STRING", "runs:INTEGER"]);
    expect(Number(viewMeta.lastModifiedTime)).toBeGreaterThan(0);
    expect((await bq().query("SELECT runs FROM `stand-in-project.ds.by_repo` WHERE repo = 'acme/api'"))[0]).toEqual([{ runs: 2 }]);

    // CREATE TABLE AS with partitioning, then INSERT and MERGE.
    await settle((await bq().createQueryJob({ query: "create or replace table `stand-in-project.ds.copy` partition by date(created_at) cluster by repo as select id, repo, created_at from `stand-in-project.ds.events`" }))[0]);
    const [copyMeta] = (await bq().dataset("ds").table("copy").getMetadata()) as [{ type: string; timePartitioning: unknown; clustering: unknown; numRows: string }, unknown];
    expect(copyMeta).toMatchObject({ type: "TABLE", timePartitioning: { type: "DAY", field: "created_at" }, clustering: { fields: ["repo"] }, numRows: "3" });
    const [, , inserted] = (await bq().query("insert into `stand-in-project.ds.copy` (id, repo, created_at) select id + 10, repo, created_at from `stand-in-project.ds.events`")) as unknown as [unknown, unknown, { numDmlAffectedRows: string }];
    expect(inserted.numDmlAffectedRows).toBe("3");
    await bq().query("merge `stand-in-project.ds.copy` T using (select 1 as id, 'acme/renamed' as repo) S on T.id = S.id when matched then update set repo = S.repo");
    expect((await bq().query("SELECT repo FROM `stand-in-project.ds.copy` WHERE id = 1"))[0]).toEqual([{ repo: "acme/renamed" }]);

    // Errors: a missing table is notFound (404), nonsense is invalidQuery (400).
    const missing = await outcome(bq().query("SELECT 1 FROM `stand-in-project.ds.nope`"));
    expect(missing.ok || missing.error.code).toBe(404);
    const invalid = await outcome(bq().query("SELECT FROM WHERE"));
    expect(invalid.ok || invalid.error.code).toBe(400);

    // Off: none of it runs (the stand-in as it was).
    const off = await under({ queryExecution: false }, () => outcome(bq().query("SELECT 1 AS one")));
    expect(off.ok).toBe(false);
  });
});

/** A query job through the real client, optionally opening (`create`) or joining (`session`) a session. */
async function sessionQuery(sql: string, opts: { session?: string; create?: boolean; location?: string } = {}): Promise<{ rows: Record<string, unknown>[]; sessionId?: string }> {
  const [job] = await bq(opts.location).createQueryJob({
    query: sql,
    useLegacySql: false,
    location: opts.location ?? "US",
    ...(opts.create ? { createSession: true } : {}),
    ...(opts.session ? { connectionProperties: [{ key: "session_id", value: opts.session }] } : {}),
  });
  const [rows] = await job.getQueryResults();
  const sessionId = (job.metadata as { statistics?: { sessionInfo?: { sessionId?: string } } }).statistics?.sessionInfo?.sessionId;
  return { rows: rows as Record<string, unknown>[], ...(sessionId ? { sessionId } : {}) };
}
const countOf = async (table: string, session?: string) => Number((await sessionQuery(`SELECT COUNT(*) AS n FROM ds.${table}`, session ? { session } : {})).rows[0]?.n);

describe("sessions", () => {
  it("creates a table from a column list (CREATE TABLE IF NOT EXISTS t (col TYPE, ...)), once", async () => {
    await sessionQuery("CREATE TABLE IF NOT EXISTS ds.tx_ddl (id INT64, note STRING, at TIMESTAMP)");
    await sessionQuery("CREATE TABLE IF NOT EXISTS ds.tx_ddl (id INT64, note STRING, at TIMESTAMP)");
    const [meta] = (await bq().dataset("ds").table("tx_ddl").getMetadata()) as [{ schema: { fields: Field[] } }, unknown];
    expect(meta.schema.fields.map((f) => [f.name, f.type])).toEqual([["id", "INTEGER"], ["note", "STRING"], ["at", "TIMESTAMP"]]);
    await expect(sessionQuery("CREATE TABLE ds.tx_ddl (id INT64)")).rejects.toThrow(/Already Exists: Table/);
  });

  it("BEGIN TRANSACTION needs a session; in one, a transaction sees its own writes and others see them only after COMMIT; off, BEGIN is a no-op and writes show at once", async () => {
    await sessionQuery("CREATE TABLE IF NOT EXISTS ds.tx_visible (id INT64, note STRING)");
    await expect(sessionQuery("BEGIN TRANSACTION")).rejects.toThrow(/supported only in scripts or sessions/);

    const { sessionId } = await sessionQuery("BEGIN TRANSACTION", { create: true });
    expect(sessionId).toMatch(/^\w+$/);
    await sessionQuery("INSERT INTO ds.tx_visible (id, note) VALUES (1, 'a'), (2, 'b')", { session: sessionId });
    expect(await countOf("tx_visible", sessionId)).toBe(2);
    expect(await countOf("tx_visible")).toBe(0);
    await sessionQuery("COMMIT TRANSACTION", { session: sessionId });
    expect(await countOf("tx_visible")).toBe(2);

    await under({ sessions: false }, async () => {
      await sessionQuery("BEGIN TRANSACTION");
      await sessionQuery("INSERT INTO ds.tx_visible (id, note) VALUES (3, 'c')");
      // The forgiving fake: no isolation, the "uncommitted" row is already there for everyone.
      expect(await countOf("tx_visible")).toBe(3);
    });
  });

  it("a failed statement rolls the whole transaction back: the earlier insert is gone and COMMIT finds no transaction; off, the insert stays", async () => {
    await sessionQuery("CREATE TABLE IF NOT EXISTS ds.tx_fail (id INT64, note STRING)");
    const { sessionId } = await sessionQuery("BEGIN TRANSACTION", { create: true });
    await sessionQuery("INSERT INTO ds.tx_fail (id, note) VALUES (1, 'kept?')", { session: sessionId });
    await expect(sessionQuery("INSERT INTO ds.tx_fail (id, no_such_column) VALUES (2, 'x')", { session: sessionId })).rejects.toThrow();
    await expect(sessionQuery("COMMIT TRANSACTION", { session: sessionId })).rejects.toThrow(/no active transaction/);
    expect(await countOf("tx_fail")).toBe(0);

    await under({ sessions: false }, async () => {
      await sessionQuery("BEGIN TRANSACTION");
      await sessionQuery("INSERT INTO ds.tx_fail (id, note) VALUES (1, 'kept?')");
      await expect(sessionQuery("INSERT INTO ds.tx_fail (id, no_such_column) VALUES (2, 'x')")).rejects.toThrow();
      await sessionQuery("ROLLBACK TRANSACTION");
      expect(await countOf("tx_fail")).toBe(1);
    });
  });

  it("refuses DDL on permanent tables inside a transaction; a session is found only in its location and not after BQ.ABORT_SESSION()", async () => {
    const { sessionId } = await sessionQuery("BEGIN TRANSACTION", { create: true });
    await expect(sessionQuery("CREATE TABLE IF NOT EXISTS ds.tx_in_tx (id INT64)", { session: sessionId })).rejects.toThrow(/not supported inside a transaction/);
    await expect(sessionQuery("SELECT 1 AS one", { session: sessionId, location: "EU" })).rejects.toThrow(/Session .* was not found in location EU/);
    await sessionQuery("CALL BQ.ABORT_SESSION()", { session: sessionId });
    await expect(sessionQuery("SELECT 1 AS one", { session: sessionId })).rejects.toThrow(/was not found/);
    expect(standIns.bigquery.tables.has("ds.tx_in_tx")).toBe(false);
  });
});

describe("transactionConflicts", () => {
  it("two sessions' transactions DELETE from one table: the later is aborted (concurrent update) and rolled back; off, both commit", async () => {
    await sessionQuery("CREATE TABLE IF NOT EXISTS ds.tx_conflict (id INT64, note STRING)");
    await sessionQuery("INSERT INTO ds.tx_conflict (id, note) VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd')");
    const a = (await sessionQuery("BEGIN TRANSACTION", { create: true })).sessionId;
    const b = (await sessionQuery("BEGIN TRANSACTION", { create: true })).sessionId;
    await sessionQuery("DELETE FROM ds.tx_conflict WHERE id = 1", { session: a });
    // Different rows, same table: BigQuery still cancels the second mutating transaction.
    await sessionQuery("INSERT INTO ds.tx_conflict (id, note) VALUES (9, 'z')", { session: b });
    await expect(sessionQuery("DELETE FROM ds.tx_conflict WHERE id = 2", { session: b })).rejects.toThrow(/Transaction is aborted due to concurrent update against table .*ds\.tx_conflict/);
    await sessionQuery("COMMIT TRANSACTION", { session: a });
    // b's insert went with its transaction.
    expect((await sessionQuery("SELECT id FROM ds.tx_conflict ORDER BY id")).rows.map((r) => Number(r.id))).toEqual([2, 3, 4]);

    // A transaction whose snapshot predates a committed mutation of the table is aborted too.
    const c = (await sessionQuery("BEGIN TRANSACTION", { create: true })).sessionId;
    await sessionQuery("DELETE FROM ds.tx_conflict WHERE id = 4");
    await expect(sessionQuery("UPDATE ds.tx_conflict SET note = 'x' WHERE id = 3", { session: c })).rejects.toThrow(/concurrent update/);

    await under({ transactionConflicts: false }, async () => {
      const d = (await sessionQuery("BEGIN TRANSACTION", { create: true })).sessionId;
      const e = (await sessionQuery("BEGIN TRANSACTION", { create: true })).sessionId;
      await sessionQuery("DELETE FROM ds.tx_conflict WHERE id = 2", { session: d });
      await sessionQuery("DELETE FROM ds.tx_conflict WHERE id = 3", { session: e });
      await sessionQuery("COMMIT TRANSACTION", { session: d });
      await sessionQuery("COMMIT TRANSACTION", { session: e });
      expect(await countOf("tx_conflict")).toBe(0);
    });
  });
});
