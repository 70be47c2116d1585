/**
 * Generates the BigQuery table schemas (schemas/bigquery/<table>.json) from the zod raw-table schemas.
 * The JSON files are checked in for reviewers and for `bq mk --schema`; test/schemas.test.ts fails when
 * they drift from the zod source, so they are never edited by hand.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { columnsOf, rawTableNames, type RawTableName } from "./raw-tables.js";

export interface BigQueryField {
  name: string;
  type: string;
  mode: string;
  description: string;
}

export const bigQuerySchemaDir = fileURLToPath(new URL("./bigquery/", import.meta.url));

export function bigQuerySchema(table: RawTableName): BigQueryField[] {
  return columnsOf(table).map((c) => ({
    name: c.name,
    type: c.bigquery.type,
    mode: c.bigquery.mode,
    description: c.description,
  }));
}

export function renderBigQuerySchema(table: RawTableName): string {
  return `${JSON.stringify(bigQuerySchema(table), null, 2)}\n`;
}

export function writeBigQuerySchemas(dir = bigQuerySchemaDir): string[] {
  mkdirSync(dir, { recursive: true });
  return rawTableNames.map((table) => {
    const file = join(dir, `${table}.json`);
    writeFileSync(file, renderBigQuerySchema(table));
    return file;
  });
}
