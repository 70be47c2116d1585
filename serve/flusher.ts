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
 */
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { dirname, join } from "node:path";
import { archivedManifestPath } from "../load/staging.js";
import type { DuckDBConnection } from "@duckdb/node-api";
import { openDuckDb, type Warehouse } from "../load/duckdb-connection.js";
import { loadIntoDuckDb } from "../load/duckdb-load.js";
import { datasets } from "../load/datasets.js";
import { targetId } from "../load/targets.js";
import { stagingLayout } from "../schemas/manifest.js";
import { runTransform } from "../transform/run.js";
import type { Logger } from "../log/logger.js";
import { stageDeliveries } from "./events.js";
import type { Spool } from "./spool.js";

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

export const deliveriesTable = `"${datasets.raw}"."_deliveries"`;

/** How long loaded delivery keys are kept for dedupe: GitHub redelivers for 3 days (GHES 7). */
export const DELIVERY_KEY_DAYS = 8;

export async function ensureDeliveriesTable(connection: DuckDBConnection): Promise<void> {
  await connection.run(`CREATE SCHEMA IF NOT EXISTS "${datasets.raw}"`);
  await connection.run(`CREATE TABLE IF NOT EXISTS ${deliveriesTable} (delivery_key VARCHAR NOT NULL, segment VARCHAR NOT NULL, received_at TIMESTAMPTZ NOT NULL, loaded_at TIMESTAMPTZ NOT NULL)`);
}

/** Keys of deliveries loaded in the last `DELIVERY_KEY_DAYS` days (older ones are pruned). */
export async function loadedDeliveryKeys(duckdbPath: string): Promise<string[]> {
  const w = await openDuckDb(duckdbPath);
  try {
    await ensureDeliveriesTable(w.connection);
    await w.connection.run(`DELETE FROM ${deliveriesTable} WHERE received_at < now() - INTERVAL ${DELIVERY_KEY_DAYS} DAY`);
    const reader = await w.connection.runAndReadAll(`SELECT DISTINCT delivery_key FROM ${deliveriesTable}`);
    return reader.getRowObjectsJS().map((r) => String(r.delivery_key));
  } finally {
    w.close();
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
}

export class Flusher {
  lastLoadAt: Date | undefined;
  lastTransformAt: Date | undefined;
  /** Rows loaded since the last transform. */
  private dirty = false;
  private running: Promise<FlushResult> | undefined;
  private lastPrune = Date.now();

  /** Readers sharing one DuckDB instance between flushes (serve/api.ts): never open while a flush runs. */
  private reader: { warehouse: Promise<Warehouse>; users: number; done: Promise<void>; release: () => void } | undefined;
  private flushesWaiting = 0;

  constructor(private readonly options: FlusherOptions) {}

  /**
   * Runs `fn` on the warehouse between flushes: the process never holds two DuckDB instances on the file.
   * Concurrent reads share one instance, closed when the last finishes; a waiting flush goes first.
   */
  async read<T>(fn: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    while (this.running || this.flushesWaiting > 0) {
      if (this.running) await this.running.catch(() => undefined);
      else await new Promise((resolve) => setImmediate(resolve));
    }
    if (!this.reader) {
      let release = () => {};
      const done = new Promise<void>((r) => (release = r));
      this.reader = { warehouse: openDuckDb(this.options.duckdbPath), users: 0, done, release };
    }
    const r = this.reader;
    r.users += 1;
    try {
      return await fn((await r.warehouse).connection);
    } finally {
      r.users -= 1;
      if (r.users === 0) {
        if (this.reader === r) this.reader = undefined;
        try {
          (await r.warehouse.catch(() => undefined))?.close();
        } finally {
          r.release();
        }
      }
    }
  }

  /** Waits until no flush, exclusive run or read holds the warehouse; waiting writers go before new reads. */
  private async waitForTurn(): Promise<void> {
    this.flushesWaiting += 1;
    try {
      while (this.running || this.reader) {
        if (this.running) await this.running.catch(() => undefined);
        else if (this.reader) await this.reader.done;
      }
    } finally {
      this.flushesWaiting -= 1;
    }
  }

  /**
   * Runs `fn` alone on the warehouse, as a flush runs (flushes and reads wait for it), then counts the
   * warehouse as changed so the next due transform runs: the scheduled extract of `--poll-every` (serve/poll.ts).
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    await this.waitForTurn();
    const run = fn();
    const held: Promise<FlushResult> = run.then(
      () => ({ segments: 0, deliveries: 0, rows: {}, transformed: false }),
      () => ({ segments: 0, deliveries: 0, rows: {}, transformed: false }),
    );
    this.running = held;
    try {
      return await run;
    } finally {
      this.dirty = true;
      if (this.running === held) this.running = undefined;
    }
  }

  /** Runs a flush, or waits for the one under way and runs another (so everything acknowledged before the call is included). */
  async flush(opts: { transform?: "due" | "force" | "never" } = {}): Promise<FlushResult> {
    await this.waitForTurn();
    const run = this.flushOnce(opts.transform ?? "due");
    this.running = run;
    try {
      return await run;
    } finally {
      if (this.running === run) this.running = undefined;
    }
  }

  private async flushOnce(transform: "due" | "force" | "never"): Promise<FlushResult> {
    const { spool, stagingDir, duckdbPath, log } = this.options;
    await spool.rotate();
    const segments = spool.sealedSegments();
    const result: FlushResult = { segments: 0, deliveries: 0, rows: {}, transformed: false };
    const staged: { segment: string; manifestPath: string; keys: { key: string; received_at: string }[] }[] = [];
    for (const segment of segments) {
      const entries = spool.read(segment);
      const extractId = `webhook-${segment.replace(/\.ndjson$/, "")}`;
      const manifestPath = stagingLayout.manifest(extractId);
      const alreadyStaged = existsSync(join(stagingDir, manifestPath)) || existsSync(join(stagingDir, archivedManifestPath(manifestPath)));
      if (entries.length > 0 && !alreadyStaged) {
        await stageDeliveries(entries, { stagingDir, extractId, target: targetId({ kind: "duckdb", path: duckdbPath }) });
      }
      staged.push({ segment, manifestPath, keys: entries.map((e) => ({ key: e.key, received_at: e.received_at })) });
      result.deliveries += entries.length;
    }
    if (staged.length > 0) {
      const load = await loadIntoDuckDb({ duckdbPath, stagingDir, log });
      for (const [table, n] of Object.entries(load.rows)) result.rows[table] = (result.rows[table] ?? 0) + n;
      if (load.loaded.length > 0) this.dirty = true;
      await this.recordKeys(staged);
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
    }
    if (Date.now() - this.lastPrune > 3_600_000) {
      this.lastPrune = Date.now();
      spool.pruneKeys(DELIVERY_KEY_DAYS * 86_400_000);
    }
    const due = this.lastTransformAt === undefined || Date.now() - this.lastTransformAt.getTime() >= this.options.transformSeconds * 1000;
    if (transform === "force" || (transform === "due" && this.dirty && due)) {
      this.dirty = false;
      try {
        await runTransform({ duckdbPath });
      } catch (error) {
        this.dirty = true;
        throw error;
      } finally {
        this.lastTransformAt = new Date();
      }
      result.transformed = true;
    }
    if (result.deliveries > 0) log.info("spool flushed", { segments: result.segments, deliveries: result.deliveries, rows: result.rows, transformed: result.transformed });
    return result;
  }

  private async recordKeys(staged: { segment: string; keys: { key: string; received_at: string }[] }[]): Promise<void> {
    const w = await openDuckDb(this.options.duckdbPath);
    try {
      await ensureDeliveriesTable(w.connection);
      await w.connection.run("BEGIN TRANSACTION");
      try {
        for (const s of staged) {
          await w.connection.run(`DELETE FROM ${deliveriesTable} WHERE segment = $1`, [s.segment]);
          if (s.keys.length === 0) continue;
          const loadedAt = new Date().toISOString();
          for (let i = 0; i < s.keys.length; i += 500) {
            const values = s.keys
              .slice(i, i + 500)
              .map((k) => `(${sqlString(k.key)}, ${sqlString(s.segment)}, ${sqlString(k.received_at)}::TIMESTAMPTZ, ${sqlString(loadedAt)}::TIMESTAMPTZ)`)
              .join(", ");
            await w.connection.run(`INSERT INTO ${deliveriesTable} VALUES ${values}`);
          }
        }
        await w.connection.run("COMMIT");
      } catch (error) {
        await w.connection.run("ROLLBACK");
        throw error;
      }
    } finally {
      w.close();
    }
  }
}
