/**
 * Column builders for raw warehouse tables.
 *
 * Each builder returns a zod schema carrying its warehouse type and description as metadata, so one
 * declaration yields the runtime validator, the TypeScript type, the BigQuery JSON schema and the DuckDB
 * column type. Nothing downstream re-declares a column.
 */
import { z } from "zod";

export type BigQueryType = "STRING" | "INT64" | "BOOL" | "TIMESTAMP" | "JSON" | "FLOAT64";
export type BigQueryMode = "REQUIRED" | "NULLABLE" | "REPEATED";

export interface ColumnMeta {
  description: string;
  bigquery: { type: BigQueryType; mode: BigQueryMode };
}

const DUCKDB_TYPES: Record<BigQueryType, string> = {
  STRING: "VARCHAR",
  INT64: "BIGINT",
  BOOL: "BOOLEAN",
  TIMESTAMP: "TIMESTAMPTZ",
  JSON: "JSON",
  FLOAT64: "DOUBLE",
};

/** ISO-8601 instant with an offset (GitHub always sends `Z`). */
const instant = z.iso.datetime({ offset: true });
/** Any JSON value (object) kept verbatim. */
const jsonObject = z.record(z.string(), z.unknown());

function column<T extends z.ZodType>(schema: T, type: BigQueryType, mode: BigQueryMode, description: string) {
  return schema.meta({ description, bigquery: { type, mode } } satisfies ColumnMeta);
}

export const col = {
  string: (d: string) => column(z.string(), "STRING", "REQUIRED", d),
  stringOrNull: (d: string) => column(z.string().nullable(), "STRING", "NULLABLE", d),
  int: (d: string) => column(z.number().int().nonnegative(), "INT64", "REQUIRED", d),
  float: (d: string) => column(z.number().finite(), "FLOAT64", "REQUIRED", d),
  floatOrNull: (d: string) => column(z.number().finite().nullable(), "FLOAT64", "NULLABLE", d),
  intOrNull: (d: string) => column(z.number().int().nullable(), "INT64", "NULLABLE", d),
  bool: (d: string) => column(z.boolean(), "BOOL", "REQUIRED", d),
  boolOrNull: (d: string) => column(z.boolean().nullable(), "BOOL", "NULLABLE", d),
  timestamp: (d: string) => column(instant, "TIMESTAMP", "REQUIRED", d),
  timestampOrNull: (d: string) => column(instant.nullable(), "TIMESTAMP", "NULLABLE", d),
  strings: (d: string) => column(z.array(z.string()), "STRING", "REPEATED", d),
  json: (d: string) => column(jsonObject, "JSON", "REQUIRED", d),
};

export function columnMeta(schema: z.ZodType, name: string): ColumnMeta {
  const meta = schema.meta() as Partial<ColumnMeta> | undefined;
  if (!meta?.bigquery || !meta.description) {
    throw new Error(`column ${name} was not declared with a builder from schemas/columns.ts`);
  }
  return meta as ColumnMeta;
}

export function duckdbType(meta: ColumnMeta): string {
  const base = DUCKDB_TYPES[meta.bigquery.type];
  return meta.bigquery.mode === "REPEATED" ? `${base}[]` : base;
}
