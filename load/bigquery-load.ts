/**
 * Loads staged batches from Cloud Storage into the BigQuery raw tables, exactly once.
 *
 * One load job per raw table per run (BigQuery allows 1,500 loads per table per day; an hourly cron
 * uses 24), listing every pending batch of that table as a `gs://` source URI, with the table's explicit
 * schema, NEWLINE_DELIMITED_JSON and WRITE_APPEND.
 *
 * Exactly once rests on two things:
 * - The job id is derived from the batches it loads (table + batch ids + checksums + attempt), so a
 *   retried run that finds the same pending batches asks for the same job: BigQuery answers 409, and the
 *   loader fetches that job's status and waits for it instead of loading again.
 * - A load record (`loads/<job_id>.json` in staging) is written before the job is submitted and updated
 *   when it finishes. A batch is pending only if no record names it in a job that succeeded or may still
 *   succeed; records left "submitted" by a crash are settled first by asking BigQuery about their job.
 * A job that failed is retried under a new attempt number, since its id is taken for good.
 */
import { createHash } from "node:crypto";
import type { BigQuery, Job } from "@google-cloud/bigquery";
import { z } from "zod";
import type { Logger } from "../log/logger.js";
import { rawTableSpec, QUARANTINE_TABLE } from "./bigquery-tables.js";
import { loadRecordPath, loadsFolder, type Staging } from "./staging.js";

/** BigQuery accepts at most 10,000 source URIs per load job. */
export const MAX_URIS_PER_JOB = 10_000;

const loadError = z.object({ reason: z.string().optional(), location: z.string().optional(), message: z.string().optional() });
export type BigQueryLoadErrorItem = z.infer<typeof loadError>;

const loadRecordSchema = z.object({
  version: z.literal(1),
  job_id: z.string(),
  table: z.string(),
  state: z.enum(["submitted", "done", "failed"]),
  batches: z.array(z.object({ batch_id: z.string(), uri: z.string(), records: z.number().int().nonnegative(), sha256: z.string() })),
  submitted_at: z.string(),
  finished_at: z.string().nullable(),
  output_rows: z.number().int().nullable(),
  errors: z.array(loadError),
});
export type LoadRecord = z.infer<typeof loadRecordSchema>;

export class BigQueryLoadError extends Error {
  override readonly name = "BigQueryLoadError";
  constructor(
    readonly jobId: string,
    readonly table: string,
    readonly errors: BigQueryLoadErrorItem[],
    summary: string,
  ) {
    const lines = errors.slice(0, 20).map((e) => `  ${e.location ?? "(no location)"}: ${e.message ?? e.reason ?? "error"}`);
    const more = errors.length > 20 ? [`  ... and ${errors.length - 20} more`] : [];
    super([`load job ${jobId} into ${table} failed: ${summary}`, ...lines, ...more].join("\n"));
  }
}

export interface PendingBatch {
  batch_id: string;
  table: string;
  path: string;
  records: number;
  sha256: string;
}

export interface BigQueryLoadOptions {
  bigquery: BigQuery;
  staging: Staging;
  location: string;
  log: Logger;
  /** How often to ask BigQuery whether a job is done. */
  pollMs?: number;
  /** Give up waiting for a job after this long (it keeps running; the next run settles it). */
  timeoutMs?: number;
}

export interface BigQueryLoadResult {
  jobs: { job_id: string; table: string; batches: number; rows: number; reused: boolean }[];
  rows: Record<string, number>;
  skipped: number;
  quarantined: number;
  durationMs: number;
}

/** Deterministic job id: same table and batches, same id. Letters, digits, `_` and `-` only. */
export function loadJobId(table: string, batches: PendingBatch[], attempt: number): string {
  const hash = createHash("sha256");
  for (const b of [...batches].sort((a, b) => a.batch_id.localeCompare(b.batch_id))) hash.update(`${b.batch_id}:${b.sha256}\n`);
  return `aw_load_${table.replace(/[^A-Za-z0-9_]/g, "_")}_${hash.digest("hex").slice(0, 40)}_a${attempt}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isCode = (error: unknown, code: number) => (error as { code?: number }).code === code;

interface JobMetadata {
  status?: { state?: string; errorResult?: BigQueryLoadErrorItem; errors?: BigQueryLoadErrorItem[] };
  statistics?: { load?: { outputRows?: string } };
}

async function waitForJob(job: Job, pollMs: number, timeoutMs: number): Promise<JobMetadata> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [metadata] = (await job.getMetadata()) as [JobMetadata, unknown];
    if (metadata.status?.state === "DONE") return metadata;
    if (Date.now() > deadline) throw new Error(`load job ${job.id ?? "?"} still ${metadata.status?.state ?? "unknown"} after ${timeoutMs} ms; the next run will settle it`);
    await sleep(pollMs);
  }
}

async function readRecords(staging: Staging): Promise<LoadRecord[]> {
  const out: LoadRecord[] = [];
  for (const path of await staging.listJson(loadsFolder)) {
    const parsed = loadRecordSchema.safeParse(await staging.readJson(path));
    if (!parsed.success) throw new Error(`${staging.uri(path)}: invalid load record: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    out.push(parsed.data);
  }
  return out;
}

/** Settles a record a crashed run left "submitted": asks BigQuery what became of its job. */
async function settle(record: LoadRecord, options: BigQueryLoadOptions): Promise<LoadRecord> {
  const job = options.bigquery.job(record.job_id, { location: options.location });
  let metadata: JobMetadata;
  try {
    metadata = await waitForJob(job, options.pollMs ?? 1000, options.timeoutMs ?? 30 * 60_000);
  } catch (error) {
    if (!isCode(error, 404)) throw error;
    // The run stopped between writing the record and creating the job: nothing was loaded.
    return { ...record, state: "failed", finished_at: new Date().toISOString(), errors: [{ reason: "notFound", message: "job was never created" }] };
  }
  return finished(record, metadata);
}

function finished(record: LoadRecord, metadata: JobMetadata): LoadRecord {
  const status = metadata.status ?? {};
  const now = new Date().toISOString();
  if (status.errorResult) return { ...record, state: "failed", finished_at: now, errors: status.errors?.length ? status.errors : [status.errorResult] };
  return { ...record, state: "done", finished_at: now, output_rows: Number(metadata.statistics?.load?.outputRows ?? NaN), errors: [] };
}

function loadConfiguration(table: string, uris: string[], projectId: string) {
  const spec = rawTableSpec(table);
  return {
    load: {
      sourceUris: uris,
      sourceFormat: "NEWLINE_DELIMITED_JSON",
      destinationTable: { projectId, datasetId: spec.dataset, tableId: spec.table },
      schema: { fields: spec.fields },
      writeDisposition: "WRITE_APPEND",
      // Tables are created by bootstrap with partitioning and clustering; a load never creates one.
      createDisposition: "CREATE_NEVER",
      // Every record was validated against the same schema at extract time: one bad row is a bug.
      maxBadRecords: 0,
      ignoreUnknownValues: false,
    },
  };
}

async function runOne(table: string, batches: PendingBatch[], attempt: number, options: BigQueryLoadOptions): Promise<{ record: LoadRecord; reused: boolean }> {
  const { bigquery, staging, location, log } = options;
  const jobId = loadJobId(table, batches, attempt);
  let record: LoadRecord = {
    version: 1,
    job_id: jobId,
    table,
    state: "submitted",
    batches: batches.map((b) => ({ batch_id: b.batch_id, uri: staging.uri(b.path), records: b.records, sha256: b.sha256 })),
    submitted_at: new Date().toISOString(),
    finished_at: null,
    output_rows: null,
    errors: [],
  };
  await staging.writeJson(loadRecordPath(jobId), record);
  const projectId = await bigquery.getProjectId();
  let job: Job;
  let reused = false;
  try {
    [job] = await bigquery.createJob({ jobId, location, configuration: loadConfiguration(table, record.batches.map((b) => b.uri), projectId) });
  } catch (error) {
    if (!isCode(error, 409)) throw error;
    // This exact load was submitted before (a retried run, or a lost response): never load twice.
    reused = true;
    job = bigquery.job(jobId, { location });
    log.info("load job already exists; waiting for it instead of loading again", { job_id: jobId, table });
  }
  const metadata = await waitForJob(job, options.pollMs ?? 1000, options.timeoutMs ?? 30 * 60_000);
  record = finished(record, metadata);
  const expected = batches.reduce((n, b) => n + b.records, 0);
  if (record.state === "done" && record.output_rows !== expected) {
    // The rows are in the table: the record stays "done" so they are never loaded again, and the run fails.
    record = { ...record, errors: [{ reason: "countMismatch", location: record.batches[0]?.uri, message: `manifests list ${expected} records but the job wrote ${String(record.output_rows)} rows` }] };
  }
  await staging.writeJson(loadRecordPath(jobId), record);
  return { record, reused };
}

/** Batches listed in staged manifests that no successful (or possibly running) load covers. */
export function pendingBatches(manifests: Awaited<ReturnType<Staging["listManifests"]>>, covered: Set<string>): PendingBatch[] {
  const pending: PendingBatch[] = [];
  for (const { manifest } of manifests) {
    for (const f of manifest.files) if (!covered.has(f.batch_id)) pending.push({ batch_id: f.batch_id, table: f.table, path: f.path, records: f.records, sha256: f.sha256 });
    const qid = `${manifest.extract_id}-quarantine`;
    if (manifest.quarantine_path && !covered.has(qid)) {
      // The manifest carries no checksum for the quarantine file; the extract id makes the job id unique.
      pending.push({ batch_id: qid, table: QUARANTINE_TABLE, path: manifest.quarantine_path, records: manifest.quarantined, sha256: manifest.extract_id });
    }
  }
  return pending;
}

export async function loadIntoBigQuery(options: BigQueryLoadOptions): Promise<BigQueryLoadResult> {
  const started = Date.now();
  const { staging, log } = options;
  const result: BigQueryLoadResult = { jobs: [], rows: {}, skipped: 0, quarantined: 0, durationMs: 0 };

  const records = await readRecords(staging);
  for (const [i, record] of records.entries()) {
    if (record.state !== "submitted") continue;
    const settled = await settle(record, options);
    await staging.writeJson(loadRecordPath(settled.job_id), settled);
    log.info("settled a load left unfinished by an earlier run", { job_id: settled.job_id, state: settled.state });
    records[i] = settled;
  }
  const covered = new Set(records.filter((r) => r.state === "done").flatMap((r) => r.batches.map((b) => b.batch_id)));
  const manifests = await staging.listManifests();
  const all = manifests.flatMap((m) => m.manifest.files.length + (m.manifest.quarantine_path ? 1 : 0)).reduce((a, b) => a + b, 0);
  const pending = pendingBatches(manifests, covered);
  result.skipped = all - pending.length;

  const byTable = new Map<string, PendingBatch[]>();
  for (const b of pending) byTable.set(b.table, [...(byTable.get(b.table) ?? []), b]);

  const failures: Error[] = [];
  // allSettled, not all: when one table fails, the others' jobs are still waited for and recorded,
  // so the next run finds every submitted job settled instead of guessing.
  const outcomes = await Promise.allSettled(
    [...byTable.entries()].map(async ([table, batches]) => {
      for (let i = 0; i < batches.length; i += MAX_URIS_PER_JOB) {
        const chunk = batches.slice(i, i + MAX_URIS_PER_JOB);
        const base = loadJobId(table, chunk, 1).replace(/_a1$/, "_a");
        const attempt = records.filter((r) => r.job_id.startsWith(base) && r.state === "failed").length + 1;
        const { record, reused } = await runOne(table, chunk, attempt, options);
        if (record.state === "failed" || record.errors.length > 0) {
          failures.push(new BigQueryLoadError(record.job_id, table, record.errors, record.state === "done" ? "row count mismatch" : `${record.errors.length} error(s)`));
          continue;
        }
        const rows = record.output_rows ?? 0;
        result.jobs.push({ job_id: record.job_id, table, batches: chunk.length, rows, reused });
        if (table === QUARANTINE_TABLE) result.quarantined += rows;
        else result.rows[table] = (result.rows[table] ?? 0) + rows;
        log.debug("load job done", { job_id: record.job_id, table, batches: chunk.length, rows, reused });
      }
    }),
  );
  for (const o of outcomes) if (o.status === "rejected") failures.push(o.reason instanceof Error ? o.reason : new Error(String(o.reason)));
  result.durationMs = Date.now() - started;
  if (failures.length > 0) {
    for (const f of failures) log.error(f.message, f instanceof BigQueryLoadError ? { job_id: f.jobId, table: f.table } : {});
    throw failures[0];
  }
  log.info("load finished", { jobs: result.jobs.length, already_loaded: result.skipped, rows: result.rows, quarantined: result.quarantined, duration_ms: result.durationMs });
  return result;
}
