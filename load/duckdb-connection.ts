/** Opening the embedded warehouse: one DuckDB file, UTC session, raw tables created on demand. */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { columnsOf, rawTableNames, type RawTableName } from "../schemas/raw-tables.js";
import { datasets } from "./datasets.js";

export interface Warehouse {
  connection: DuckDBConnection;
  close(): void;
}

export async function openDuckDb(path: string): Promise<Warehouse> {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const instance = await DuckDBInstance.create(path);
  const connection = await instance.connect();
  // BigQuery TIMESTAMPs are absolute instants; pinning the session to UTC makes DATE(), EXTRACT and
  // date_trunc on TIMESTAMPTZ agree with BigQuery's UTC defaults whatever the host's zone is.
  await connection.run("SET TimeZone = 'UTC'");
  return {
    connection,
    close() {
      connection.closeSync();
      instance.closeSync();
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

/** Creates the raw schema and every raw table if missing (idempotent). */
export async function createRawTables(connection: DuckDBConnection): Promise<void> {
  await connection.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(datasets.raw)}`);
  for (const table of rawTableNames) await connection.run(rawTableDdl(table));
}
