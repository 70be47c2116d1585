/**
 * Builds the self-contained dashboard: bundles report/client/ (with ECharts from npm) using esbuild,
 * reads the reporting views of a DuckDB or BigQuery warehouse and writes one HTML file that opens offline.
 * Both warehouses go through the same queries and the same model (report/data.ts); only the row source
 * differs, so the same data gives the same page.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DuckDBInstance, type DuckDBConnection, type DuckDBValue } from "@duckdb/node-api";
import { browserBundle } from "./bundle.js";
import type { Logger } from "../log/logger.js";
import { bigQueryReportSource, type BigQueryReportTarget } from "./bigquery-source.js";
import { duckDbNames, estimateReportBytes, readReportData, ReportDataError, type ReadReportOptions, type ReportParams, type ReportSource, type ScanEstimate } from "./data.js";
import { renderPage } from "./html.js";
import type { ReportData } from "./model.js";

const clientEntry = fileURLToPath(new URL("./client/main.ts", import.meta.url));

/** The browser script, minified; built once per process (about a second for ECharts). */
export const clientBundle = browserBundle(clientEntry, "report");

/** `@name` parameters (GoogleSQL) as DuckDB's `$name`; the report's SQL has no `@` anywhere else. */
function duckDbParams(sql: string, params: ReportParams): { sql: string; values: Record<string, DuckDBValue> } {
  const values: Record<string, DuckDBValue> = {};
  const text = sql.replace(/@([A-Za-z_]\w*)/g, (_whole, name: string) => {
    const value = params[name];
    if (value === undefined) throw new ReportDataError(`query parameter @${name} has no value`);
    // Whole numbers bind as BIGINT (LIMIT needs an integer), text as VARCHAR (CAST in the SQL).
    values[name] = typeof value === "number" && Number.isInteger(value) ? BigInt(value) : value;
    return `$${name}`;
  });
  return { sql: text, values };
}

/** The models of an open DuckDB connection as a `ReportSource` (also for a read-write one: alerts evaluate, serve). */
export function duckDbConnectionSource(connection: DuckDBConnection): ReportSource {
  return {
    ...duckDbNames(),
    query: async (sql, params) => {
      const bound = duckDbParams(sql, params);
      const reader = Object.keys(bound.values).length ? await connection.runAndReadAll(bound.sql, bound.values) : await connection.runAndReadAll(bound.sql);
      return reader.getRowObjectsJson() as Record<string, unknown>[];
    },
  };
}

/** Reads views from a DuckDB file opened read-only, so a report never changes the warehouse. */
export async function withDuckDbSource<T>(duckdbPath: string, fn: (source: ReportSource) => Promise<T>): Promise<T> {
  if (!existsSync(duckdbPath)) {
    throw new ReportDataError(`warehouse file ${duckdbPath} does not exist: run \`actions-warehouse pipeline\` (or \`npm run demo\`) first`);
  }
  const instance = await DuckDBInstance.create(duckdbPath, { access_mode: "READ_ONLY" });
  try {
    const connection = await instance.connect();
    try {
      await connection.run("SET TimeZone = 'UTC'");
      return await fn(duckDbConnectionSource(connection));
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

export interface WriteReportOptions extends ReadReportOptions {
  /** The DuckDB warehouse file to read (the default warehouse). */
  duckdbPath?: string;
  /** Read the views from BigQuery instead (project and location of the datasets). */
  bigquery?: BigQueryReportTarget;
  /** The HTML file to write. */
  out: string;
  /** Where the BigQuery bytes estimate is logged (info). */
  log?: Logger;
}

export interface WriteReportResult {
  path: string;
  bytes: number;
  data: ReportData;
  /** BigQuery only: what the report's queries scanned, from their dry runs. */
  scan?: ScanEstimate;
}

/** Reads the report from a source; on BigQuery every query is dry-run first and the bytes it will scan logged. */
export async function readReport(source: ReportSource, options: ReadReportOptions & { log?: Logger }): Promise<{ data: ReportData; scan?: ScanEstimate }> {
  const scan = await estimateReportBytes(source, options);
  if (scan) {
    const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    options.log?.info(`report queries will scan ${mib(scan.totalBytes)} (BigQuery dry run)`, { total_bytes: scan.totalBytes, bytes_by_view: scan.byView });
  }
  const data = await readReportData(source, options);
  return scan ? { data, scan } : { data };
}

export async function buildReportHtml(data: ReportData): Promise<string> {
  return renderPage(data, await clientBundle());
}

export async function writeReport(options: WriteReportOptions): Promise<WriteReportResult> {
  let read: { data: ReportData; scan?: ScanEstimate };
  if (options.bigquery) read = await readReport(bigQueryReportSource(options.bigquery), options);
  else if (options.duckdbPath) read = await withDuckDbSource(options.duckdbPath, (source) => readReport(source, options));
  else throw new ReportDataError("no warehouse to read: give a DuckDB file or a BigQuery project");
  const { data } = read;
  const html = await buildReportHtml(data);
  const path = resolve(options.out);
  mkdirSync(dirname(path), { recursive: true });
  // Write then rename: a browser refreshing the page never sees half a file.
  const partial = `${path}.partial`;
  writeFileSync(partial, html);
  renameSync(partial, path);
  return { path, bytes: Buffer.byteLength(html), data, ...(read.scan ? { scan: read.scan } : {}) };
}
