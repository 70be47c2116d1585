/**
 * `serve --warehouse bigquery`: what the server received also goes to BigQuery, every `--flush-seconds`.
 *
 * The live endpoints keep reading the embedded DuckDB (`--duckdb-path`), which the flusher loads every
 * `--live-flush-seconds` (default 5) as on `--warehouse duckdb`. The difference is what happens to a spool
 * segment once it is in the live DuckDB: instead of being deleted, it is retained (`retain`, renamed into
 * `<name>.bigquery-pending/` beside the spool) until BigQuery has it. Every `--flush-seconds` (default 300)
 * `ship` turns the retained segments into ONE staged extract for the BigQuery target and loads it:
 *
 *   1. seal: the loose retained segments are moved into `extracts/<extract id>/` (the id comes from the
 *      segment names, so it is the same after a crash: see `extractIdOf`); a folder is never added to once
 *      it exists, so its contents are exactly what its extract holds;
 *   2. stage: `stageDeliveries` into the BigQuery staging folder, unless the extract's manifest already
 *      exists there (pending or archived): staging again would write different bytes (new times in the
 *      manifest, maybe another day in the batch paths) and the create-only upload would then refuse them.
 *      The folder defaults to `<name>.bigquery-staging/` beside the DuckDB file, with the segments;
 *   3. `GcsStaging.publish` (create-only uploads; identical objects already there are skipped);
 *   4. `loadIntoBigQuery` (one load job per table with the deterministic id `aw_<table>_<extract id>_a<n>`;
 *      a job submitted before a crash is found by its id and waited for, never submitted twice);
 *   5. delete the extract's folder (the segments), then its local staged files.
 * A crash between any two steps repeats only the later ones at the next window, so rows land once.
 *
 * Quota: one extract per window is one load job per raw table per window. A window that finds an extract
 * an earlier window could not finish ships that one first and the new segments only if it succeeded, so
 * a window submits at most two jobs per table (a retried extract and a new one); see MIN_FLUSH_SECONDS.
 *
 * `--live-days` (`pruneLive`): the live DuckDB keeps only recent days of raw rows; BigQuery keeps all.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import type { BigQuery } from "@google-cloud/bigquery";
import { Gauge, type Registry } from "prom-client";
import { ConfigError } from "../extract/config.js";
import { bigQuerySettings, checkStaging, createBigQuery, createGcsStaging, type BigQuerySettings, type BigQuerySettingsInput } from "../load/bigquery-client.js";
import { loadIntoBigQuery } from "../load/bigquery-load.js";
import { QUARANTINE_TABLE } from "../load/bigquery-tables.js";
import type { GcsStaging } from "../load/gcs-staging.js";
import { archivedManifestPath, parseManifest } from "../load/staging.js";
import { stateObjectPath } from "../load/state-objects.js";
import { targetId, type Target } from "../load/targets.js";
import type { Logger } from "../log/logger.js";
import { stagingLayout, type Manifest } from "../schemas/manifest.js";
import { rawTableNames } from "../schemas/raw-tables.js";
import { datasets } from "../load/datasets.js";
import { openDuckDb } from "../load/duckdb-connection.js";
import { runTransform } from "../transform/run.js";
import type { Flusher } from "./flusher.js";
import { stageDeliveries } from "./events.js";
import { fsyncDir, readSegment, readSegmentEntries, type SpoolEntry } from "./spool.js";

/** BigQuery's limit: 1,500 load jobs per table per day (https://cloud.google.com/bigquery/quotas#load_jobs). */
export const LOAD_JOBS_PER_TABLE_PER_DAY = 1_500;
/** The scheduled ELT (`elt.yml`, hourly) loads each table once an hour. */
export const HOURLY_ELT_LOADS_PER_DAY = 24;
/**
 * Every window (and every ELT run) may need a second job: a retried attempt after a failed job, or an
 * extract an earlier window could not finish shipped beside the new one.
 */
export const ATTEMPTS_PER_WINDOW = 2;
/**
 * The shortest BigQuery flush interval: 86,400 / 120 = 720 windows a day, × 2 jobs = 1,440, plus the
 * hourly ELT's 24 × 2 = 48, is 1,488 load jobs per table per day, inside the 1,500 quota
 * (https://cloud.google.com/bigquery/quotas#load_jobs).
 */
export const MIN_FLUSH_SECONDS = 120;
export const DEFAULT_FLUSH_SECONDS = 300;
export const DEFAULT_LIVE_FLUSH_SECONDS = 5;
export const DEFAULT_LIVE_DAYS = 14;

export interface ServeBigQueryFlags extends BigQuerySettingsInput {
  duckdbPath: string;
  warehouse?: string;
  flushSeconds?: string | number;
  liveFlushSeconds?: string | number;
  liveDays?: string | number;
  stagingDir?: string;
  pollEvery?: string;
}

export interface ServeBigQuery {
  settings: BigQuerySettings;
  /** How often the retained deliveries are shipped to BigQuery. */
  flushSeconds: number;
  /** Local BigQuery staging folder (the batches before they are uploaded). */
  stagingDir: string;
  /** Raw rows older than this many days leave the live DuckDB. */
  liveDays: number;
}

const wholeNumber = (value: string | number, field: string, min: number, max: number): number => {
  const s = String(value).trim();
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError([{ field, message: `must be a whole number from ${min} to ${max}, got ${JSON.stringify(String(value))}` }]);
  return n;
};

/** Load jobs per table per day a BigQuery flush interval can cost, counting the hourly ELT and retried attempts. */
export function loadJobsPerDay(flushSeconds: number): number {
  return Math.ceil(86_400 / flushSeconds) * ATTEMPTS_PER_WINDOW + HOURLY_ELT_LOADS_PER_DAY * ATTEMPTS_PER_WINDOW;
}

/** The seconds between live DuckDB loads: `--live-flush-seconds` on BigQuery, `--flush-seconds` on DuckDB. */
export function liveFlushSeconds(flags: ServeBigQueryFlags): string | number {
  return flags.warehouse === "bigquery" ? (flags.liveFlushSeconds ?? DEFAULT_LIVE_FLUSH_SECONDS) : (flags.flushSeconds ?? DEFAULT_LIVE_FLUSH_SECONDS);
}

/**
 * The BigQuery side of `serve`'s configuration; undefined on `--warehouse duckdb`, where the BigQuery-only
 * flags are refused (a flag that silently does nothing hides a deployment mistake).
 */
export function parseServeBigQuery(flags: ServeBigQueryFlags, env: NodeJS.ProcessEnv = process.env): ServeBigQuery | undefined {
  const warehouse = flags.warehouse ?? "duckdb";
  if (warehouse !== "bigquery" && warehouse !== "duckdb") throw new ConfigError([{ field: "--warehouse", message: `must be duckdb or bigquery, got ${JSON.stringify(warehouse)}` }]);
  if (warehouse === "duckdb") {
    const only = [
      ["--live-flush-seconds", flags.liveFlushSeconds],
      ["--live-days", flags.liveDays],
    ].filter(([, v]) => v !== undefined);
    if (only.length > 0) throw new ConfigError(only.map(([field]) => ({ field: String(field), message: "applies to --warehouse bigquery only (on duckdb the DuckDB file is the warehouse: --flush-seconds is its load cadence and it keeps all history)" })));
    return undefined;
  }
  if (flags.pollEvery !== undefined) {
    throw new ConfigError([{ field: "--poll-every", message: "is for --warehouse duckdb only: on BigQuery the scheduled ELT (.github/workflows/elt.yml) is the reconciliation of missed deliveries; run it hourly and drop --poll-every" }]);
  }
  const flushSeconds = wholeNumber(flags.flushSeconds ?? DEFAULT_FLUSH_SECONDS, "--flush-seconds", 1, 86_400);
  if (flushSeconds < MIN_FLUSH_SECONDS) {
    const jobs = loadJobsPerDay(flushSeconds);
    throw new ConfigError([
      {
        field: "--flush-seconds",
        message:
          `${flushSeconds} s is too short on BigQuery: 86,400 / ${flushSeconds} = ${Math.ceil(86_400 / flushSeconds)} windows a day × ${ATTEMPTS_PER_WINDOW} jobs (a retried attempt) + the hourly ELT's ${HOURLY_ELT_LOADS_PER_DAY} × ${ATTEMPTS_PER_WINDOW} = ${jobs} load jobs per table per day, ` +
          `over the budget of ${LOAD_JOBS_PER_TABLE_PER_DAY} (https://cloud.google.com/bigquery/quotas#load_jobs). Use ${MIN_FLUSH_SECONDS} or more (default ${DEFAULT_FLUSH_SECONDS}); the live endpoints still refresh every --live-flush-seconds.`,
      },
    ]);
  }
  wholeNumber(flags.liveFlushSeconds ?? DEFAULT_LIVE_FLUSH_SECONDS, "--live-flush-seconds", 1, 3600);
  const liveDays = wholeNumber(flags.liveDays ?? DEFAULT_LIVE_DAYS, "--live-days", 1, 3650);
  const settings = bigQuerySettings(
    {
      ...(flags.project ? { project: flags.project } : {}),
      ...(flags.location ? { location: flags.location } : {}),
      ...(flags.bucket ? { bucket: flags.bucket } : {}),
      ...(flags.prefix !== undefined ? { prefix: flags.prefix } : {}),
    },
    env,
  );
  return { settings, flushSeconds, stagingDir: flags.stagingDir ?? bigQueryStagingDirOf(flags.duckdbPath), liveDays };
}

/**
 * `<dir>/<name>.bigquery-staging/` beside the DuckDB file, not the cwd-relative folder of `load`
 * (`defaultStagingDir`): a staged manifest is what stops a second, different staging of an extract after a
 * crash, so it must live with the retained segments (the same volume), whatever folder serve starts in.
 */
export const bigQueryStagingDirOf = (duckdbPath: string): string => join(dirname(duckdbPath), `${basename(duckdbPath, extname(duckdbPath))}.bigquery-staging`);

/** `<dir>/<name>.bigquery-pending/` beside the DuckDB file and its spool: segments loaded live, not yet in BigQuery. */
export const pendingDirOf = (duckdbPath: string): string => join(dirname(duckdbPath), `${basename(duckdbPath, extname(duckdbPath))}.bigquery-pending`);

const EXTRACTS = "extracts";
const isSegment = (name: string) => name.startsWith("seg-") && name.endsWith(".ndjson");
const segmentStem = (name: string) => name.replace(/^seg-/, "").replace(/\.ndjson$/, "");

/**
 * The extract id of a set of segments (sorted), in the extractor's own shape (`YYYYMMDDTHHMMSSZ-` and 8 hex
 * digits, EXTRACT_ID_LENGTH): the first segment's second and a hash of every name. The same set gives the
 * same id after a crash, and on BigQuery the ELT's known-runs query recognises rows of loaded extracts by
 * the first 25 characters of their batch id, so webhook rows count as known there like polled ones.
 */
export function extractIdOf(segments: string[]): string {
  const first = /^(\d{8}T\d{6})/.exec(segmentStem(segments[0] ?? ""))?.[1] ?? "19700101T000000";
  const hash = createHash("sha256").update(segments.join("\n")).digest("hex").slice(0, 8);
  return `${first}Z-${hash}`;
}


/** Where a ship stopped; tests throw from `onStep` to simulate a crash right after a step. */
export type ShipStep = "sealed" | "staged" | "published" | "loaded";

export interface BigQuerySinkOptions {
  config: ServeBigQuery;
  duckdbPath: string;
  log: Logger;
  /** Called when a window fails and is left for the next one (serve counts `webhook_processing_errors_total`). */
  onError?: (error: unknown) => void;
  /** Called after each step of shipping an extract (tests simulate a crash there by throwing). */
  onStep?: (step: ShipStep, extractId: string) => void;
  /** Clients (default: from the settings, Application Default Credentials). */
  bigquery?: BigQuery;
  staging?: GcsStaging;
  /** How often to ask BigQuery whether a load job is done (default 1 s). */
  pollMs?: number;
}

export interface ShipResult {
  extracts: string[];
  deliveries: number;
  jobs: number;
  rows: Record<string, number>;
}

/** The library's loader logs a failed job at error level; in serve a failed window is retried, so it is a warning. */
function retriedLogger(log: Logger): Logger {
  const wrap = (inner: Logger): Logger => ({
    debug: (m, f) => inner.debug(m, f),
    info: (m, f) => inner.info(m, f),
    warn: (m, f) => inner.warn(m, f),
    error: (m, f) => inner.warn(m, f),
    child: (fields) => wrap(inner.child(fields)),
    json: inner.json,
  });
  return wrap(log);
}

export class BigQuerySink {
  readonly pendingDir: string;
  lastLoadAt: Date | undefined;
  lastError: string | undefined;
  private readonly target: Target;
  private readonly bigquery: BigQuery;
  private readonly staging: GcsStaging;
  /** Deliveries per retained segment (loose or sealed into an extract folder), for /health. */
  private readonly counts = new Map<string, number>();
  private running: Promise<ShipResult> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private liveTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  private constructor(private readonly options: BigQuerySinkOptions) {
    this.pendingDir = pendingDirOf(options.duckdbPath);
    this.target = { kind: "bigquery", project: options.config.settings.projectId };
    this.bigquery = options.bigquery ?? createBigQuery(options.config.settings);
    this.staging = options.staging ?? createGcsStaging(options.config.settings);
  }

  /** Opens the retained backlog and checks the bucket can feed the raw dataset (serve refuses to start if not). */
  static async open(options: BigQuerySinkOptions): Promise<BigQuerySink> {
    const sink = new BigQuerySink(options);
    mkdirSync(join(sink.pendingDir, EXTRACTS), { recursive: true });
    for (const name of sink.looseSegments()) sink.counts.set(name, readSegment(join(sink.pendingDir, name)).entries.length);
    for (const id of sink.extractFolders()) {
      for (const name of sink.segmentsOf(id)) sink.counts.set(name, readSegment(join(sink.pendingDir, EXTRACTS, id, name)).entries.length);
    }
    await checkStaging(options.config.settings, sink.bigquery);
    return sink;
  }

  private looseSegments(): string[] {
    return readdirSync(this.pendingDir).filter(isSegment).sort();
  }

  private extractFolders(): string[] {
    const root = join(this.pendingDir, EXTRACTS);
    return readdirSync(root)
      .filter((name) => statSync(join(root, name)).isDirectory())
      .sort();
  }

  private segmentsOf(extractId: string): string[] {
    return readdirSync(join(this.pendingDir, EXTRACTS, extractId)).filter(isSegment).sort();
  }

  /**
   * The flusher's hook for a segment now in the live DuckDB: keep it for BigQuery instead of deleting it.
   * The rename is made durable before the flusher forgets the segment.
   */
  readonly retain = (segmentPath: string, deliveries: number): void => {
    const name = basename(segmentPath);
    if (!existsSync(segmentPath)) return;
    // Nothing to ship (a segment left empty or torn by a crash): no extract, so no load job.
    if (deliveries === 0) {
      rmSync(segmentPath, { force: true });
      return;
    }
    renameSync(segmentPath, join(this.pendingDir, name));
    fsyncDir(this.pendingDir);
    fsyncDir(dirname(segmentPath));
    this.counts.set(name, deliveries);
  };

  /** Deliveries and segments received but not yet in BigQuery. */
  backlog(): { segments: number; deliveries: number } {
    let deliveries = 0;
    for (const n of this.counts.values()) deliveries += n;
    return { segments: this.counts.size, deliveries };
  }

  health(): { bigquery_backlog: { segments: number; deliveries: number }; last_bigquery_load_at: string | null; last_bigquery_error: string | null } {
    return { bigquery_backlog: this.backlog(), last_bigquery_load_at: this.lastLoadAt?.toISOString() ?? null, last_bigquery_error: this.lastError ?? null };
  }

  /**
   * Prometheus gauges (`<prefix>bigquery_backlog_deliveries`, `<prefix>bigquery_backlog_segments`,
   * `<prefix>bigquery_last_load_timestamp_seconds`) so the backlog can be alerted on like the rest of serve.
   */
  registerMetrics(registry: Registry, prefix: string): void {
    const deliveries: Gauge = new Gauge({
      name: `${prefix}bigquery_backlog_deliveries`,
      help: "Deliveries received and in the live DuckDB but not yet loaded into BigQuery (--warehouse bigquery).",
      registers: [registry],
      collect: () => deliveries.set(this.backlog().deliveries),
    });
    const segments: Gauge = new Gauge({
      name: `${prefix}bigquery_backlog_segments`,
      help: "Spool segments retained for BigQuery (--warehouse bigquery).",
      registers: [registry],
      collect: () => segments.set(this.backlog().segments),
    });
    const lastLoad: Gauge = new Gauge({
      name: `${prefix}bigquery_last_load_timestamp_seconds`,
      help: "When a BigQuery window last loaded deliveries (Unix seconds; 0 before the first).",
      registers: [registry],
      collect: () => lastLoad.set(this.lastLoadAt ? this.lastLoadAt.getTime() / 1000 : 0),
    });
  }

  /** Ships every retained delivery now (after the ship under way, if any). Throws when the window failed; nothing is lost. */
  ship(): Promise<ShipResult> {
    const previous = this.running?.catch(() => undefined) ?? Promise.resolve(undefined);
    const run = previous.then(() => this.shipOnce());
    this.running = run;
    return run.finally(() => {
      if (this.running === run) this.running = undefined;
    });
  }

  /**
   * One window, as the timer runs it: a failure is a warning (the run goes on, nothing is lost: the
   * segments stay retained and the next window ships them) and counts as a processing error.
   */
  async window(): Promise<ShipResult | undefined> {
    // A window still waiting for its load jobs covers this one too: queueing ticks behind it would only
    // pile up (they would ship nothing more than the next tick will).
    if (this.running) {
      this.options.log.debug("the previous BigQuery window is still running; this tick is skipped");
      return undefined;
    }
    try {
      return await this.ship();
    } catch (error) {
      this.options.onError?.(error);
      this.options.log.warn("BigQuery flush failed; the deliveries stay retained and the next window ships them", {
        error: error instanceof Error ? error.message : String(error),
        backlog: this.backlog(),
        next_in_seconds: this.options.config.flushSeconds,
      });
      return undefined;
    }
  }

  /** Ships every `--flush-seconds`. */
  start(): void {
    if (this.timer || this.stopped) return;
    const { settings, flushSeconds } = this.options.config;
    this.options.log.info("shipping to BigQuery", { project: settings.projectId, location: settings.location, bucket: settings.staging?.bucket, prefix: settings.staging?.prefix, flush_seconds: flushSeconds, backlog: this.backlog() });
    this.timer = setInterval(() => void this.window(), flushSeconds * 1000);
    this.timer.unref();
  }

  /**
   * `--live-days`: at start and then daily, raw rows older than N days (by `_extracted_at`) leave the
   * live DuckDB and the models are rebuilt (full refresh), so the file the endpoints read stays the size
   * of N days however long serve runs. BigQuery keeps everything. Runs alone on the file, like a flush.
   */
  async pruneLive(flusher: Flusher, now = new Date()): Promise<{ deleted: Record<string, number>; rebuilt: boolean }> {
    const { duckdbPath, config, log } = this.options;
    const cutoff = new Date(now.getTime() - config.liveDays * 86_400_000).toISOString();
    return flusher.exclusive(async () => {
      const deleted: Record<string, number> = {};
      const w = await openDuckDb(duckdbPath);
      try {
        const present = new Set(
          (await w.connection.runAndReadAll(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, [datasets.raw])).getRowObjectsJS().map((r) => String(r.table_name)),
        );
        // The raw tables, and the live quarantine (which BigQuery's `_quarantine` keeps as well).
        for (const table of [...rawTableNames, QUARANTINE_TABLE]) {
          if (!present.has(table)) continue;
          const result = await w.connection.run(`DELETE FROM "${datasets.raw}"."${table}" WHERE _extracted_at < $1::TIMESTAMPTZ`, [cutoff]);
          if (result.rowsChanged > 0) deleted[table] = result.rowsChanged;
        }
      } finally {
        w.close();
      }
      const rebuilt = Object.keys(deleted).some((table) => table !== QUARANTINE_TABLE);
      // The incremental models still hold what the deleted rows made: rebuild them from what is left.
      if (rebuilt) await runTransform({ duckdbPath, fullRefresh: true });
      log.info("live DuckDB pruned", { live_days: config.liveDays, cutoff, deleted, models_rebuilt: rebuilt });
      return { deleted, rebuilt };
    });
  }

  /** `pruneLive` now and then once a day; a failure is a warning (the live file only grows until the next day). */
  startLivePruning(flusher: Flusher): void {
    if (this.liveTimer || this.stopped) return;
    const run = () =>
      void this.pruneLive(flusher).catch((error: unknown) => {
        this.options.onError?.(error);
        this.options.log.warn("pruning the live DuckDB failed; it is tried again tomorrow", { error: error instanceof Error ? error.message : String(error) });
      });
    run();
    this.liveTimer = setInterval(run, 86_400_000);
    this.liveTimer.unref();
  }

  /** Stops the timer and ships what is retained (SIGTERM); throws if BigQuery could not take it. */
  async shutdown(): Promise<ShipResult> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.liveTimer) clearInterval(this.liveTimer);
    this.timer = undefined;
    this.liveTimer = undefined;
    try {
      return await this.ship();
    } catch (error) {
      const backlog = this.backlog();
      throw new Error(
        `serve stopped with ${backlog.deliveries} deliveries (${backlog.segments} segments) not yet in BigQuery, kept in ${this.pendingDir}: ${error instanceof Error ? error.message : String(error)}. ` +
          "Start serve again on the same --duckdb-path (with the same disk) and they are shipped at its first window.",
      );
    }
  }

  private async shipOnce(): Promise<ShipResult> {
    const result: ShipResult = { extracts: [], deliveries: 0, jobs: 0, rows: {} };
    try {
      // An extract an earlier window sealed but could not finish goes first, exactly as it was sealed.
      for (const id of this.extractFolders()) await this.shipExtract(id, result);
      const loose = this.looseSegments();
      if (loose.length > 0) {
        const id = extractIdOf(loose);
        const folder = join(this.pendingDir, EXTRACTS, id);
        mkdirSync(folder, { recursive: true });
        for (const name of loose) renameSync(join(this.pendingDir, name), join(folder, name));
        fsyncDir(folder);
        fsyncDir(this.pendingDir);
        this.options.onStep?.("sealed", id);
        await this.shipExtract(id, result);
      }
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : String(error);
      throw error;
    }
    this.lastError = undefined;
    if (result.extracts.length > 0) {
      this.lastLoadAt = new Date();
      this.options.log.info("shipped to BigQuery", { extracts: result.extracts, deliveries: result.deliveries, jobs: result.jobs, rows: result.rows });
    }
    return result;
  }

  private async shipExtract(extractId: string, result: ShipResult): Promise<void> {
    const { config, log, onStep } = this.options;
    const folder = join(this.pendingDir, EXTRACTS, extractId);
    const segments = this.segmentsOf(extractId);
    if (segments.length === 0) {
      rmSync(folder, { recursive: true, force: true });
      return;
    }
    const manifestPath = stagingLayout.manifest(extractId);
    const pendingManifest = join(config.stagingDir, manifestPath);
    const archivedManifest = join(config.stagingDir, archivedManifestPath(manifestPath));
    // Every retained segment's count is known (set when it was retained, or read at start).
    let deliveries = 0;
    for (const name of segments) deliveries += this.counts.get(name) ?? 0;
    if (!existsSync(pendingManifest) && !existsSync(archivedManifest)) {
      if (deliveries === 0) {
        rmSync(folder, { recursive: true, force: true });
        for (const name of segments) this.counts.delete(name);
        return;
      }
      // Streamed segment after segment, line by line: a window's backlog (minutes of deliveries) never
      // sits in the heap at once. Segment names sort by time, so this is receipt order.
      async function* windowEntries(): AsyncGenerator<SpoolEntry> {
        for (const name of segments) yield* readSegmentEntries(join(folder, name));
      }
      await stageDeliveries(windowEntries(), { stagingDir: config.stagingDir, extractId, target: targetId(this.target) });
    }
    onStep?.("staged", extractId);
    const quiet = retriedLogger(log);
    await this.staging.publish(config.stagingDir, quiet, this.target);
    onStep?.("published", extractId);
    try {
      const load = await loadIntoBigQuery({ bigquery: this.bigquery, staging: this.staging, location: config.settings.location, log: quiet, ...(this.options.pollMs ? { pollMs: this.options.pollMs } : {}) });
      result.jobs += load.jobs.filter((j) => !j.reused).length;
      for (const [table, n] of Object.entries(load.rows)) result.rows[table] = (result.rows[table] ?? 0) + n;
    } catch (error) {
      // The loader loads every pending extract under the prefix; another one failing does not make ours pending.
      const pending = await this.staging.listManifests();
      if (pending.some((m) => m.manifest.extract_id === extractId)) throw error;
      log.warn("another staged extract under the prefix failed to load; this window's extract is in BigQuery", { extract_id: extractId, error: error instanceof Error ? error.message : String(error) });
    }
    onStep?.("loaded", extractId);
    // The segments go first: while they exist, the staged manifest is what stops a second staging.
    rmSync(folder, { recursive: true, force: true });
    fsyncDir(join(this.pendingDir, EXTRACTS));
    for (const name of segments) this.counts.delete(name);
    this.removeStagedFiles(archivedManifest);
    result.extracts.push(extractId);
    result.deliveries += deliveries;
  }

  /** The local copies of a loaded extract (the bucket keeps its own): serve runs for months, its disk must not fill. */
  private removeStagedFiles(manifestFile: string): void {
    if (!existsSync(manifestFile)) return;
    const root = this.options.config.stagingDir;
    let manifest: Manifest;
    try {
      manifest = parseManifest(readFileSync(manifestFile, "utf8"), manifestFile);
    } catch {
      return;
    }
    const paths = [...manifest.files.map((f) => f.path), ...(manifest.quarantine_path ? [manifest.quarantine_path] : []), stateObjectPath("_extracts", manifest.extract_id), stateObjectPath("_http_cache", manifest.extract_id)];
    for (const path of paths) rmSync(join(root, path), { force: true });
    rmSync(manifestFile, { force: true });
  }
}
