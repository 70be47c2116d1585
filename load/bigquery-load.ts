/**
 * Loads staged extracts from Cloud Storage into the BigQuery raw tables, exactly once, whatever number
 * of loaders (matrix shards, a backfill beside the hourly run, a retried run) work on the same prefix.
 *
 * The unit is one extract (one manifest). For each, one load job per raw table it has rows for, one for
 * its quarantine file, then the extractor's state (`_http_cache`, then `_extracts`) once every one of
 * those jobs has succeeded, and finally the manifest is archived (moved from `manifests/` to
 * `archive/manifests/`), so the next run lists only what is still pending.
 *
 * Exactly once rests on BigQuery's job ids, not on anything written to Cloud Storage:
 * - A job's id is derived from what it loads: `aw_<table>_<extract id>_a<attempt>`. Two loaders that see
 *   the same pending manifest ask for the same job; BigQuery creates it once and answers 409 to the
 *   other, which then waits for that job instead of loading again. A batch is never part of two
 *   different jobs, because a job never spans extracts.
 * - A load job is atomic: one that failed wrote nothing. Its id is taken for good, so the loader walks
 *   the attempts (409 -> look at the job) until it finds one that succeeded, one still running (wait
 *   for it) or a free id (submit it). One new attempt per run at most, so a load that fails for a
 *   reason a retry cannot fix fails each run loudly instead of spinning.
 * - Nothing is written to Cloud Storage per job (a shared record object would be written by every
 *   shard within the same second, and Cloud Storage allows one write per second per object name:
 *   https://cloud.google.com/storage/quotas#objects). Archiving copies with `ifGenerationMatch: 0`
 *   (https://cloud.google.com/storage/docs/request-preconditions), so two loaders archiving the same
 *   manifest cannot both write it; the loser's 412 means "already archived".
 *
 * Quota: 1,500 load jobs per table per day (https://cloud.google.com/bigquery/quotas#load_jobs). Each
 * extract costs one job per table it touches, so an hourly cron stays inside it up to 60 shards (README).
 */
import type { BigQuery, Job } from "@google-cloud/bigquery";
import type { Logger } from "../log/logger.js";
import type { Manifest } from "../schemas/manifest.js";
import { QUARANTINE_TABLE } from "./bigquery-tables.js";
import { datasets } from "./datasets.js";
import type { StagedManifest, Staging } from "./staging.js";
import { stateObjectPath } from "./state-objects.js";
import { checkTargets } from "./targets.js";

/** BigQuery accepts at most 10,000 source URIs per load job. */
export const MAX_URIS_PER_JOB = 10_000;

export interface BigQueryLoadErrorItem {
  reason?: string;
  location?: string;
  message?: string;
}

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
    const hint = errors.some((e) => /No such field/i.test(e.message ?? ""))
      ? ["  The table lacks a column the extractor now writes: run `actions-warehouse bootstrap` (it adds new columns in place), then load again."]
      : [];
    super([`load job ${jobId} into ${table} failed: ${summary}`, ...lines, ...more, ...hint].join("\n"));
  }
}

export interface BigQueryLoadOptions {
  bigquery: BigQuery;
  staging: Staging;
  location: string;
  log: Logger;
  /** How often to ask BigQuery whether a job is done. */
  pollMs?: number;
  /** Give up waiting for a job after this long (it keeps running; the next run finds it by its id). */
  timeoutMs?: number;
}

export interface BigQueryLoadResult {
  jobs: { job_id: string; table: string; extract_id: string; rows: number; reused: boolean }[];
  rows: Record<string, number>;
  /** Manifests fully loaded and archived by this run. */
  manifests: string[];
  /** Jobs another loader (or an earlier run) had already submitted: waited for, not submitted again. */
  reused: number;
  quarantined: number;
  durationMs: number;
}

/** One load job's worth of work: one table of one extract. */
export interface LoadUnit {
  table: string;
  extractId: string;
  uris: string[];
  /** Rows the job must write (from the manifest); null for state tables whose count is not in the manifest. */
  records: number | null;
}

const JOB_ID_UNSAFE = /[^A-Za-z0-9_-]/g;

/** Deterministic job id; letters, digits, `_` and `-` only (https://cloud.google.com/bigquery/docs/running-jobs#generate-jobid). */
export function loadJobId(table: string, extractId: string, attempt: number): string {
  return `aw_${table.replace(/^_/, "").replace(JOB_ID_UNSAFE, "_")}_${extractId.replace(JOB_ID_UNSAFE, "_")}_a${attempt}`;
}

/** The units of one manifest: raw tables and quarantine first, state after (see `stateUnits`). */
export function dataUnits(manifest: Manifest, uri: (path: string) => string): LoadUnit[] {
  const byTable = new Map<string, LoadUnit>();
  for (const f of manifest.files) {
    const unit = byTable.get(f.table) ?? { table: f.table, extractId: manifest.extract_id, uris: [], records: 0 };
    unit.uris.push(uri(f.path));
    unit.records = (unit.records ?? 0) + f.records;
    byTable.set(f.table, unit);
  }
  const units = [...byTable.values()];
  if (manifest.quarantine_path) units.push({ table: QUARANTINE_TABLE, extractId: manifest.extract_id, uris: [uri(manifest.quarantine_path)], records: manifest.quarantined });
  for (const u of units) if (u.uris.length > MAX_URIS_PER_JOB) throw new Error(`extract ${manifest.extract_id} has ${u.uris.length} ${u.table} files; a load job takes at most ${MAX_URIS_PER_JOB}`);
  return units;
}

/** `_http_cache` (when the extract recorded ETags), then `_extracts`: the extract's completion marker. */
export function stateUnits(manifest: Manifest, uri: (path: string) => string): LoadUnit[][] {
  const out: LoadUnit[][] = [];
  if (manifest.http_cache && manifest.http_cache.entries > 0) {
    out.push([{ table: "_http_cache", extractId: manifest.extract_id, uris: [uri(stateObjectPath("_http_cache", manifest.extract_id))], records: manifest.http_cache.entries }]);
  }
  out.push([{ table: "_extracts", extractId: manifest.extract_id, uris: [uri(stateObjectPath("_extracts", manifest.extract_id))], records: 1 }]);
  return out;
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
    if (Date.now() > deadline) throw new Error(`load job ${job.id ?? "?"} still ${metadata.status?.state ?? "unknown"} after ${timeoutMs} ms; the next run waits for it by its id`);
    await sleep(pollMs);
  }
}

function loadConfiguration(unit: LoadUnit, projectId: string) {
  return {
    load: {
      sourceUris: unit.uris,
      sourceFormat: "NEWLINE_DELIMITED_JSON",
      destinationTable: { projectId, datasetId: datasets.raw, tableId: unit.table },
      // No `schema`: an append uses the table's own. Sending the zod schema (REQUIRED modes) would be
      // rejected as soon as bootstrap has added a column, which BigQuery only allows as NULLABLE
      // (https://cloud.google.com/bigquery/docs/managing-table-schemas#add_columns_in_a_load_append_job).
      writeDisposition: "WRITE_APPEND",
      // Tables are created by bootstrap with partitioning and clustering; a load never creates one.
      createDisposition: "CREATE_NEVER",
      // Every record was validated against the same schema at extract time: one bad row is a bug.
      maxBadRecords: 0,
      ignoreUnknownValues: false,
    },
  };
}

interface UnitOutcome {
  jobId: string;
  rows: number;
  reused: boolean;
  error?: BigQueryLoadError;
}

/** Finds the job that loads this unit (submitted earlier, by anyone) or submits the next attempt, and waits for it. */
async function loadUnit(unit: LoadUnit, options: BigQueryLoadOptions, projectId: string): Promise<UnitOutcome> {
  const { bigquery, location, log } = options;
  const pollMs = options.pollMs ?? 1000;
  const timeoutMs = options.timeoutMs ?? 30 * 60_000;
  for (let attempt = 1; ; attempt++) {
    const jobId = loadJobId(unit.table, unit.extractId, attempt);
    let job: Job;
    let reused = false;
    try {
      [job] = await bigquery.createJob({ jobId, location, configuration: loadConfiguration(unit, projectId) });
    } catch (error) {
      if (!isCode(error, 409)) throw error;
      reused = true;
      job = bigquery.job(jobId, { location });
    }
    const metadata = await waitForJob(job, pollMs, timeoutMs);
    const status = metadata.status ?? {};
    if (status.errorResult) {
      const errors = status.errors?.length ? status.errors : [status.errorResult];
      if (reused) {
        // An earlier attempt that failed wrote nothing (load jobs are atomic): try the next id.
        log.debug("earlier load attempt failed; trying the next attempt", { job_id: jobId, table: unit.table, error: errors[0]?.message });
        continue;
      }
      return { jobId, rows: 0, reused, error: new BigQueryLoadError(jobId, unit.table, errors, `${errors.length} error(s)`) };
    }
    const rows = Number(metadata.statistics?.load?.outputRows ?? NaN);
    if (reused) log.info("load job already submitted (by another loader or an earlier run); waited for it instead of loading again", { job_id: jobId, table: unit.table });
    if (unit.records !== null && rows !== unit.records) {
      // The rows are in the table and the job id is taken, so they are never loaded again; the run fails.
      return {
        jobId,
        rows,
        reused,
        error: new BigQueryLoadError(jobId, unit.table, [{ reason: "countMismatch", location: unit.uris[0], message: `the manifest lists ${unit.records} records but the job wrote ${rows} rows` }], "row count mismatch"),
      };
    }
    return { jobId, rows, reused };
  }
}

/** Loads one extract; returns the errors (empty when it is complete and archived). */
async function loadManifest(staged: StagedManifest, options: BigQueryLoadOptions, projectId: string, result: BigQueryLoadResult): Promise<BigQueryLoadError[]> {
  const { staging, log } = options;
  const { manifest } = staged;
  const uri = (path: string) => staging.uri(path);
  const record = (unit: LoadUnit, outcome: UnitOutcome) => {
    if (outcome.error) return;
    result.jobs.push({ job_id: outcome.jobId, table: unit.table, extract_id: unit.extractId, rows: outcome.rows, reused: outcome.reused });
    if (outcome.reused) result.reused += 1;
    if (unit.table === QUARANTINE_TABLE) result.quarantined += outcome.rows;
    else if (!unit.table.startsWith("_")) result.rows[unit.table] = (result.rows[unit.table] ?? 0) + outcome.rows;
    log.debug("load job done", { job_id: outcome.jobId, table: unit.table, rows: outcome.rows, reused: outcome.reused });
  };
  // Tables in parallel; allSettled, so one failure still lets the others finish and be found next time.
  const units = dataUnits(manifest, uri);
  const settled = await Promise.allSettled(units.map((u) => loadUnit(u, options, projectId)));
  const errors: BigQueryLoadError[] = [];
  settled.forEach((s, i) => {
    const unit = units[i] as LoadUnit;
    if (s.status === "rejected") throw s.reason instanceof Error ? s.reason : new Error(String(s.reason));
    if (s.value.error) errors.push(s.value.error);
    record(unit, s.value);
  });
  if (errors.length > 0) return errors;
  // Only now, with every row of the extract in: its ETags, then the watermark row.
  for (const step of stateUnits(manifest, uri)) {
    for (const unit of step) {
      const outcome = await loadUnit(unit, options, projectId);
      if (outcome.error) return [outcome.error];
      record(unit, outcome);
    }
  }
  await staging.archiveManifest(staged);
  result.manifests.push(manifest.extract_id);
  log.info("extract loaded", { extract_id: manifest.extract_id, counts: manifest.counts, quarantined: manifest.quarantined });
  return [];
}

export async function loadIntoBigQuery(options: BigQueryLoadOptions): Promise<BigQueryLoadResult> {
  const started = Date.now();
  const { staging, log } = options;
  const result: BigQueryLoadResult = { jobs: [], rows: {}, manifests: [], reused: 0, quarantined: 0, durationMs: 0 };
  // Only pending manifests: loaded ones were archived, so this reads in proportion to the backlog.
  const pending = await staging.listManifests();
  log.info("pending extracts", { manifests: pending.length });
  const projectId = await options.bigquery.getProjectId();
  // Extracts made for another project's warehouse under this prefix: refuse before any job.
  checkTargets(pending, { kind: "bigquery", project: projectId });
  const failures: BigQueryLoadError[] = [];
  // Oldest first, one extract at a time: `_extracts` rows then land in extract order.
  for (const staged of pending) failures.push(...(await loadManifest(staged, options, projectId, result)));
  result.durationMs = Date.now() - started;
  if (failures.length > 0) {
    for (const f of failures) log.error(f.message, { job_id: f.jobId, table: f.table });
    throw failures[0];
  }
  log.info("load finished", { manifests: result.manifests.length, jobs: result.jobs.length, reused: result.reused, rows: result.rows, quarantined: result.quarantined, duration_ms: result.durationMs });
  return result;
}
