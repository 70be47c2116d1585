/**
 * Builds the self-contained dashboard: bundles report/client/ (with ECharts from npm) using esbuild,
 * reads the reporting views of a DuckDB warehouse and writes one HTML file that opens offline.
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DuckDBInstance } from "@duckdb/node-api";
import { build } from "esbuild";
import { readReportData, ReportDataError, type QueryRows, type ReadReportOptions } from "./data.js";
import { renderPage } from "./html.js";
import type { ReportData } from "./model.js";

const clientEntry = fileURLToPath(new URL("./client/main.ts", import.meta.url));

let bundled: Promise<string> | undefined;

/** The browser script, minified; built once per process (about a second for ECharts). */
export function clientBundle(): Promise<string> {
  bundled ??= build({
    entryPoints: [clientEntry],
    bundle: true,
    write: false,
    format: "iife",
    platform: "browser",
    target: ["es2020"],
    minify: true,
    legalComments: "eof",
    charset: "utf8",
    logLevel: "silent",
  }).then((result) => {
    const file = result.outputFiles[0];
    if (!file) throw new Error("esbuild produced no output for the report bundle");
    return file.text;
  });
  return bundled;
}

/** Reads views from a DuckDB file opened read-only, so a report never changes the warehouse. */
export async function withDuckDbQuery<T>(duckdbPath: string, fn: (query: QueryRows) => Promise<T>): Promise<T> {
  if (!existsSync(duckdbPath)) {
    throw new ReportDataError(`warehouse file ${duckdbPath} does not exist: run \`actions-warehouse pipeline\` (or \`npm run demo\`) first`);
  }
  const instance = await DuckDBInstance.create(duckdbPath, { access_mode: "READ_ONLY" });
  try {
    const connection = await instance.connect();
    try {
      await connection.run("SET TimeZone = 'UTC'");
      return await fn(async (sql) => (await connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[]);
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

export interface WriteReportOptions extends ReadReportOptions {
  duckdbPath: string;
  /** The HTML file to write. */
  out: string;
}

export interface WriteReportResult {
  path: string;
  bytes: number;
  data: ReportData;
}

export async function buildReportHtml(data: ReportData): Promise<string> {
  return renderPage(data, await clientBundle());
}

export async function writeReport(options: WriteReportOptions): Promise<WriteReportResult> {
  const data = await withDuckDbQuery(options.duckdbPath, (query) => readReportData(query, options));
  const html = await buildReportHtml(data);
  const path = resolve(options.out);
  mkdirSync(dirname(path), { recursive: true });
  // Write then rename: a browser refreshing the page never sees half a file.
  const partial = `${path}.partial`;
  writeFileSync(partial, html);
  renameSync(partial, path);
  return { path, bytes: Buffer.byteLength(html), data };
}
