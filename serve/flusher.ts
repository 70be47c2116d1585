/**
 * Spool → staging → DuckDB, then the incremental transform. One flush at a time (the warehouse has one
 * writer); `serve` holds the warehouse lock for its whole life, and DuckDB is opened only while a flush,
 * load or transform runs.
 *
 * Per sealed segment, in order:
 *   1. stage it as extract `webhook-<segment>` unless its manifest already exists (a crash after staging);
 *   2. `loadIntoDuckDb` (idempotent per batch id, so a segment staged twice is loaded once);
 *   3. record its delivery keys in `github_raw._deliveries` (the dedupe index of deliveries whose
 *      segment is gone);
 *   4. move its manifest to `archive/manifests/` (as the BigQuery loader does), so a load reads only
 *      pending manifests however long the server runs;
 *   5. delete the segment.
 * A crash between any two steps repeats the later steps at the next start, never the effect twice.
 *
 * Transforms: the full transform (every model and assertion) runs at most every `--transform-seconds`;
 * between two, every flush that loaded rows builds only the live endpoints' models (`LIVE_TAG`) and their
 * upstream, with the same definitions, so /api/metrics is one flush behind the spool, not one transform.
 *
 * DuckDB is opened once per flush (`SERVE_DUCKDB`: one thread, bounded memory) and closed with an asynchronous
 * checkpoint first (`closeAsync`): a synchronous close checkpoints on the event loop and held every
 * acknowledgement back for hundreds of milliseconds.
 */
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { dirname, join } from "node:path";
import { archivedManifestPath } from "../load/staging.js";
import type { DuckDBConnection } from "@duckdb/node-api";
import { openDuckDb, type DuckDbSettings, type Warehouse } from "../load/duckdb-connection.js";
import { loadIntoDuckDb } from "../load/duckdb-load.js";
import { datasets } from "../load/datasets.js";
import { targetId } from "../load/targets.js";
import { stagingLayout } from "../schemas/manifest.js";
import { runTransform } from "../transform/run.js";
import type { Logger } from "../log/logger.js";
import { stageDeliveries } from "./events.js";
import type { Spool } from "./spool.js";

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

/**
 * The Dataform tag of the models the live endpoints read (serve/api.ts: fct_workflow_runs,
 * fct_workflow_jobs). After every flush that loaded rows they are built with their upstream (the staging
 * views and dim_runner_rates), by the same definitions and incremental SQL as the full transform, so a
 * delivery shows in /api/metrics one flush after it lands, while everything else (reporting views,
 * package and step facts, assertions) keeps the `--transform-seconds` cadence. A model the live
 * endpoints start to read gets the tag too.
 */
export const LIVE_TAG = "live";

/**
 * DuckDB as `serve` opens it: one query thread, so a load or transform never takes every core from the
 * event loop that answers deliveries (on a 2-core machine DuckDB's default of all cores stalled the
 * acknowledgements), and a bounded buffer pool (DuckDB's default is 80% of the machine's memory; past
 * the limit it spills to disk), so the server's memory stays flat whatever the warehouse size.
 */
export const SERVE_DUCKDB: DuckDbSettings = { memoryLimit: "512MB", threads: 1 };

export const deliveriesTable = `"${datasets.raw}"."_deliveries"`;

/** How long loaded delivery keys are kept for dedupe: GitHub redelivers for 3 days (GHES 7). */
export const DELIVERY_KEY_DAYS = 8;

export async function ensureDeliveriesTable(connection: DuckDBConnection): Promise<void> {
  await connection.run(`CREATE SCHEMA IF NOT EXISTS "${datasets.raw}"`);
  await connection.run(`CREATE TABLE IF NOT EXISTS ${deliveriesTable} (delivery_key VARCHAR NOT NULL, segment VARCHAR NOT NULL, received_at TIMESTAMPTZ NOT NULL, loaded_at TIMESTAMPTZ NOT NULL)`);
}

/** Keys of deliveries loaded in the last `DELIVERY_KEY_DAYS` days (older ones are pruned). */
export async function loadedDeliveryKeys(duckdbPath: string): Promise<string[]> {
  const w = await openDuckDb(duckdbPath, SERVE_DUCKDB);
  try {
    await ensureDeliveriesTable(w.connection);
    await w.connection.run(`DELETE FROM ${deliveriesTable} WHERE received_at < now() - INTERVAL ${DELIVERY_KEY_DAYS} DAY`);
    const reader = await w.connection.runAndReadAll(`SELECT DISTINCT delivery_key FROM ${deliveriesTable}`);
    return reader.getRowObjectsJS().map((r) => String(r.delivery_key));
  } finally {
    await w.closeAsync();
  }
}

export interface FlusherOptions {
  duckdbPath: string;
  stagingDir: string;
  spool: Spool;
  transformSeconds: number;
  log: Logger;
  onError?: (error: unknown) => void;
  /**
   * `--warehouse bigquery` (serve/bigquery-sink.ts): a segment now in the live DuckDB is handed over
   * (moved away) instead of deleted, until BigQuery has it. Called with its path and delivery count.
   */
  retainSegment?: (path: string, deliveries: number) => void;
}

export interface FlushResult {
  segments: number;
  deliveries: number;
  rows: Record<string, number>;
  transformed: boolean;
  /** Only the live models were built (LIVE_TAG), as after every flush that loaded rows between full transforms. */
  live?: boolean;
}

/**
 * Who holds the warehouse: many reads at once, or one writer (a flush or an exclusive run) alone. Grants
 * are FIFO, so a waiting writer goes before reads that arrive after it and reads cannot starve a flush.
 * A plain queue, not "wake every waiter and let them re-check": woken waiters all saw the warehouse free
 * at once and two flushes ran together, staging the same segment twice (ENOENT on its `.partial`).
 */
class WarehouseTurns {
  private readers = 0;
  private writer = false;
  private readonly queue: { write: boolean; grant: () => void }[] = [];

  acquire(write: boolean): Promise<() => void> {
    return new Promise((resolve) => {
      this.queue.push({ write, grant: () => resolve(() => this.release(write)) });
      this.pump();
    });
  }

  private release(write: boolean): void {
    if (write) this.writer = false;
    else this.readers -= 1;
    this.pump();
  }

  private pump(): void {
    while (this.queue.length > 0 && !this.writer) {
      const next = this.queue[0] as { write: boolean; grant: () => void };
      if (next.write && this.readers > 0) return;
      this.queue.shift();
      if (next.write) this.writer = true;
      else this.readers += 1;
      next.grant();
    }
  }
}

export class Flusher {
  lastLoadAt: Date | undefined;
  lastTransformAt: Date | undefined;
  /** Rows loaded since the last transform. */
  private dirty = false;
  /** Rows loaded since the last transform of the live models (full or live). */
  private liveDirty = false;
  private lastPrune = Date.now();
  private readonly turns = new WarehouseTurns();
  /** A flush asked for while one waits for its turn joins it (it will include everything acknowledged so far). */
  private queuedFlush: { transform: "due" | "force" | "never"; result: Promise<FlushResult> } | undefined;

  /** Readers sharing one DuckDB instance between flushes (serve/api.ts): never open while a flush runs. */
  private reader: { warehouse: Promise<Warehouse>; users: number } | undefined;
  private readerClosing: Promise<void> | undefined;

  constructor(private readonly options: FlusherOptions) {}

  /**
   * Runs `fn` on the warehouse between flushes: the process never holds two DuckDB instances on the file.
   * Concurrent reads share one instance, closed when the last finishes; a waiting flush goes first.
   */
  async read<T>(fn: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    const release = await this.turns.acquire(false);
    try {
      // The last reader's instance may still be closing (checkpointing on DuckDB's thread): never two at once.
      while (!this.reader && this.readerClosing) await this.readerClosing;
      this.reader ??= { warehouse: openDuckDb(this.options.duckdbPath, SERVE_DUCKDB), users: 0 };
      const r = this.reader;
      r.users += 1;
      try {
        return await fn((await r.warehouse).connection);
      } finally {
        r.users -= 1;
        if (r.users === 0) {
          if (this.reader === r) this.reader = undefined;
          const closing = r.warehouse.then(
            (w) => w.closeAsync(),
            () => undefined,
          );
          this.readerClosing = closing;
          try {
            await closing;
          } finally {
            if (this.readerClosing === closing) this.readerClosing = undefined;
          }
        }
      }
    } finally {
      release();
    }
  }

  /**
   * Runs `fn` alone on the warehouse, as a flush runs (flushes and reads wait for it), then counts the
   * warehouse as changed so the next due transform runs: the scheduled extract of `--poll-every` (serve/poll.ts).
   * `rawChanged: false` for work that writes no raw table (the alert evaluation, serve/alerts-timer.ts,
   * writes only the alert state): it must not cause a full transform every minute.
   */
  async exclusive<T>(fn: () => Promise<T>, opts: { rawChanged?: boolean } = {}): Promise<T> {
    const release = await this.turns.acquire(true);
    try {
      return await fn();
    } finally {
      if (opts.rawChanged !== false) {
        this.dirty = true;
        this.liveDirty = true;
      }
      release();
    }
  }

  /** Runs a flush, or waits for the one under way and runs another (so everything acknowledged before the call is included). */
  async flush(opts: { transform?: "due" | "force" | "never" } = {}): Promise<FlushResult> {
    const transform = opts.transform ?? "due";
    // A flush not yet started rotates the spool when it starts, so it includes this caller's deliveries too.
    const queued = this.queuedFlush;
    if (queued && queued.transform === transform) return queued.result;
    const entry: { transform: "due" | "force" | "never"; result: Promise<FlushResult> } = { transform, result: Promise.resolve({ segments: 0, deliveries: 0, rows: {}, transformed: false }) };
    entry.result = (async () => {
      const release = await this.turns.acquire(true);
      if (this.queuedFlush === entry) this.queuedFlush = undefined;
      try {
        return await this.flushOnce(transform);
      } finally {
        release();
      }
    })();
    this.queuedFlush = entry;
    return entry.result;
  }

  private async flushOnce(transform: "due" | "force" | "never"): Promise<FlushResult> {
    const { spool, stagingDir, duckdbPath, log } = this.options;
    const t0 = performance.now();
    const ms: Record<string, number> = {};
    const lap = (phase: string, from: number): number => {
      const now = performance.now();
      ms[phase] = Math.round(now - from);
      return now;
    };
    await spool.rotate();
    const segments = spool.sealedSegments();
    const result: FlushResult = { segments: 0, deliveries: 0, rows: {}, transformed: false };
    const staged: { segment: string; manifestPath: string; keys: { key: string; received_at: string }[] }[] = [];
    for (const segment of segments) {
      const extractId = `webhook-${segment.replace(/\.ndjson$/, "")}`;
      const manifestPath = stagingLayout.manifest(extractId);
      const alreadyStaged = existsSync(join(stagingDir, manifestPath)) || existsSync(join(stagingDir, archivedManifestPath(manifestPath)));
      // Streamed, not read whole: a backlog (after a long transform or poll) would otherwise sit in the
      // heap at once, parsed; it once grew the server to an out-of-memory crash. Only the keys are kept.
      const keys: { key: string; received_at: string }[] = [];
      const entries = spool.entries(segment);
      const first = await entries.next();
      if (!first.done) {
        keys.push({ key: first.value.key, received_at: first.value.received_at });
        const all = (async function* () {
          yield first.value;
          for await (const e of entries) {
            keys.push({ key: e.key, received_at: e.received_at });
            yield e;
          }
        })();
        if (alreadyStaged) for await (const _ of all);
        else await stageDeliveries(all, { stagingDir, extractId, target: targetId({ kind: "duckdb", path: duckdbPath }) });
      }
      staged.push({ segment, manifestPath, keys });
      result.deliveries += keys.length;
    }
    // One DuckDB opening for the whole flush (load, keys, transform): each close costs a checkpoint and
    // tearing the instance down, so three per flush were three stalls.
    let t = lap("stage_ms", t0);
    let opened: Warehouse | undefined;
    const connection = async (): Promise<DuckDBConnection> => (opened ??= await openDuckDb(duckdbPath, SERVE_DUCKDB)).connection;
    try {
      if (staged.length > 0) {
        const load = await loadIntoDuckDb({ duckdbPath, stagingDir, log, connection: await connection() });
        for (const [table, n] of Object.entries(load.rows)) result.rows[table] = (result.rows[table] ?? 0) + n;
        if (load.loaded.length > 0) {
          this.dirty = true;
          this.liveDirty = true;
        }
        t = lap("load_ms", t);
        await this.recordKeys(staged, await connection());
        // Loaded manifests move to the archive (as on BigQuery), so each load reads only what is pending.
        for (const s of staged) {
          const from = join(stagingDir, s.manifestPath);
          if (!existsSync(from)) continue;
          const to = join(stagingDir, archivedManifestPath(s.manifestPath));
          mkdirSync(dirname(to), { recursive: true });
          renameSync(from, to);
        }
        for (const s of staged) {
          this.options.retainSegment?.(join(spool.dir, s.segment), s.keys.length);
          spool.remove(s.segment);
        }
        result.segments = staged.length;
        this.lastLoadAt = new Date();
        t = lap("keys_ms", t);
      }
      if (Date.now() - this.lastPrune > 3_600_000) {
        this.lastPrune = Date.now();
        spool.pruneKeys(DELIVERY_KEY_DAYS * 86_400_000);
      }
      const due = this.lastTransformAt === undefined || Date.now() - this.lastTransformAt.getTime() >= this.options.transformSeconds * 1000;
      if (transform === "force" || (transform === "due" && this.dirty && due)) {
        this.dirty = false;
        this.liveDirty = false;
        try {
          await runTransform({ duckdbPath, connection: await connection() });
        } catch (error) {
          this.dirty = true;
          this.liveDirty = true;
          throw error;
        } finally {
          this.lastTransformAt = new Date();
        }
        result.transformed = true;
        t = lap("transform_ms", t);
      } else if (transform === "due" && this.liveDirty) {
        // The live endpoints' models, between full transforms: the same definitions and incremental SQL,
        // only fewer of them (see LIVE_TAG). `dirty` stays set, so the full transform still runs when due.
        this.liveDirty = false;
        try {
          await runTransform({ duckdbPath, tags: [LIVE_TAG], includeDependencies: true, assertions: false, connection: await connection() });
        } catch (error) {
          this.liveDirty = true;
          throw error;
        }
        result.live = true;
        t = lap("live_ms", t);
      }
    } finally {
      await opened?.closeAsync();
      lap("close_ms", t);
    }
    if (result.deliveries > 0) log.info("spool flushed", { segments: result.segments, deliveries: result.deliveries, rows: result.rows, transformed: result.transformed, live: result.live ?? false, ...ms });
    return result;
  }

  private async recordKeys(staged: { segment: string; keys: { key: string; received_at: string }[] }[], connection: DuckDBConnection): Promise<void> {
    await ensureDeliveriesTable(connection);
    await connection.run("BEGIN TRANSACTION");
    try {
      for (const s of staged) {
        await connection.run(`DELETE FROM ${deliveriesTable} WHERE segment = $1`, [s.segment]);
        if (s.keys.length === 0) continue;
        const loadedAt = new Date().toISOString();
        for (let i = 0; i < s.keys.length; i += 500) {
          const values = s.keys
            .slice(i, i + 500)
            .map((k) => `(${sqlString(k.key)}, ${sqlString(s.segment)}, ${sqlString(k.received_at)}::TIMESTAMPTZ, ${sqlString(loadedAt)}::TIMESTAMPTZ)`)
            .join(", ");
          await connection.run(`INSERT INTO ${deliveriesTable} VALUES ${values}`);
        }
      }
      await connection.run("COMMIT");
    } catch (error) {
      await connection.run("ROLLBACK");
      throw error;
    }
  }
}
