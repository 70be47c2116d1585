/**
 * The report's row source on BigQuery: the same queries as on DuckDB (report/data.ts), run as query jobs
 * through the official `@google-cloud/bigquery` client with Application Default Credentials (and
 * BIGQUERY_EMULATOR_HOST, which the client honours). The client's typed values (BigQueryTimestamp,
 * BigQueryInt, BigQueryDate, Big for NUMERIC, Buffer for BYTES) become the plain JSON values the DuckDB
 * source gives, so the one zod model in data.ts turns both into the same `ReportData`.
 */
import {
  BigQuery,
  BigQueryDate,
  BigQueryDatetime,
  BigQueryInt,
  BigQueryTime,
  BigQueryTimestamp,
  Geography,
  type Query,
} from "@google-cloud/bigquery";
import { createBigQuery } from "../load/bigquery-client.js";
import { datasets } from "../load/datasets.js";
import type { ReportParams, ReportSource } from "./data.js";

export interface BigQueryReportTarget {
  projectId: string;
  location: string;
  /** A client to use (default: one for the project and location, with Application Default Credentials). */
  client?: BigQuery;
}

/** A value as BigQuery's client returns it → the JSON-like value DuckDB's `getRowObjectsJson` gives. */
export function plainValue(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "bigint") return value.toString();
  if (value instanceof BigQueryInt) return value.value;
  if (value instanceof BigQueryTimestamp || value instanceof BigQueryDate || value instanceof BigQueryDatetime || value instanceof BigQueryTime || value instanceof Geography) {
    return value.value;
  }
  if (Buffer.isBuffer(value)) return value.toString("base64");
  if (Array.isArray(value)) return value.map(plainValue);
  if (typeof value === "object") {
    // Big (NUMERIC, BIGNUMERIC) serialises to its exact decimal text.
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") return plainValue(toJSON.call(value));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainValue(v)]));
  }
  return String(value);
}

/**
 * Named parameters in the REST shape (QueryParameter): typed, every value a string as the wire format
 * has it. Built here rather than with the client's `params`/`types` options, which would send numbers as
 * JSON numbers and leave `types` in the job configuration.
 */
function queryParameters(params: ReportParams): Pick<Query, "parameterMode" | "queryParameters"> {
  return {
    parameterMode: "NAMED",
    queryParameters: Object.entries(params).map(([name, value]) => ({
      name,
      parameterType: { type: typeof value === "string" ? "STRING" : Number.isInteger(value) ? "INT64" : "FLOAT64" },
      parameterValue: { value: String(value) },
    })),
  };
}

export function bigQueryReportSource(target: BigQueryReportTarget): ReportSource {
  const client = target.client ?? createBigQuery({ projectId: target.projectId, location: target.location });
  const job = (sql: string, params: ReportParams, dryRun: boolean): Query => ({
    query: sql,
    useLegacySql: false,
    location: target.location,
    jobPrefix: "aw_report_",
    ...(Object.keys(params).length ? queryParameters(params) : {}),
    ...(dryRun ? { dryRun: true } : {}),
  });
  return {
    table: (name) => `\`${target.projectId}.${datasets.models}.${name}\``,
    where: (view) => `view ${target.projectId}.${datasets.models}.${view}, dataset ${datasets.models} in ${target.location}`,
    transformCommand: `actions-warehouse transform --warehouse bigquery --project ${target.projectId} --location ${target.location}`,
    dryRun: async (sql, params) => {
      const [, resource] = await client.createQueryJob(job(sql, params, true));
      const bytes = Number(resource.statistics?.totalBytesProcessed ?? resource.statistics?.query?.totalBytesProcessed ?? 0);
      return Number.isFinite(bytes) ? bytes : 0;
    },
    query: async (sql, params) => {
      const [queryJob] = await client.createQueryJob(job(sql, params, false));
      // Integers as exact text (run ids), parsed by the report's schemas like DuckDB's BIGINT text.
      const [rows] = await queryJob.getQueryResults({ wrapIntegers: true });
      return (rows as unknown[]).map((row) => plainValue(row) as Record<string, unknown>);
    },
  };
}
