/** Opening the embedded warehouse: one DuckDB file, UTC session, raw tables created on demand. */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { alertTablesDdl } from "../alerts/tables.js";
import { columnsOf, rawTableNames, type RawTableName } from "../schemas/raw-tables.js";
import { datasets } from "./datasets.js";

export interface Warehouse {
  connection: DuckDBConnection;
  close(): void;
  /**
   * `close` for a process that must keep answering meanwhile (`serve`): closing a file DuckDB checkpoints
   * its write-ahead log into the database, synchronously on the calling thread (hundreds of milliseconds
   * once the warehouse grows). Checkpointing first, as a query, does that work on DuckDB's own thread,
   * and the close after it has nothing left to write.
   */
  closeAsync(): Promise<void>;
}

/**
 * DuckDB settings of an opening. By default DuckDB takes every core and up to 80% of the machine's
 * memory; a long-running process that shares the machine (`serve`, which answers HTTP on the same
 * cores) bounds both.
 */
export interface DuckDbSettings {
  /** `memory_limit`, e.g. "512MB": the buffer pool's ceiling (DuckDB spills to disk past it). */
  memoryLimit?: string;
  /** `threads`: worker threads DuckDB runs queries on. */
  threads?: number;
}

export async function openDuckDb(path: string, settings: DuckDbSettings = {}): Promise<Warehouse> {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const config: Record<string, string> = {};
  if (settings.memoryLimit !== undefined) config.memory_limit = settings.memoryLimit;
  if (settings.threads !== undefined) config.threads = String(settings.threads);
  const instance = await DuckDBInstance.create(path, config);
  const connection = await instance.connect();
  // BigQuery TIMESTAMPs are absolute instants; pinning the session to UTC makes DATE(), EXTRACT and
  // date_trunc on TIMESTAMPTZ agree with BigQuery's UTC defaults whatever the host's zone is.
  await connection.run("SET TimeZone = 'UTC'");
  const close = () => {
    connection.closeSync();
    instance.closeSync();
  };
  return {
    connection,
    close,
    async closeAsync() {
      try {
        await connection.run("CHECKPOINT");
      } catch {
        // A checkpoint that cannot run now (e.g. an open transaction after a failure) is left to the close.
      }
      close();
    },
  };
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function rawTableRef(table: RawTableName): string {
  return `${quoteIdent(datasets.raw)}.${quoteIdent(table)}`;
}

export function rawTableDdl(table: RawTableName): string {
  const cols = columnsOf(table).map(
    (c) => `  ${quoteIdent(c.name)} ${c.duckdbType}${c.bigquery.mode === "REQUIRED" ? " NOT NULL" : ""}`,
  );
  return `CREATE TABLE IF NOT EXISTS ${rawTableRef(table)} (\n${cols.join(",\n")}\n)`;
}

/**
 * Creates the raw schema, every raw table and the (empty) alert state tables if missing (idempotent). The
 * alert tables are here, not only in `alerts evaluate`, because rpt_alerts reads alert_events: a warehouse
 * that was loaded but never evaluated must still build every model.
 */
export async function createRawTables(connection: DuckDBConnection): Promise<void> {
  await connection.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(datasets.raw)}`);
  for (const table of rawTableNames) await connection.run(rawTableDdl(table));
  for (const ddl of alertTablesDdl("duckdb", (name) => `${quoteIdent(datasets.raw)}.${quoteIdent(name)}`)) await connection.run(ddl);
}
