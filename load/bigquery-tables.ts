/**
 * The BigQuery raw tables, derived from the zod raw-table schemas (the single source of truth) through
 * `schemas/bigquery-schema.ts`, the same generator that writes `schemas/bigquery/*.json`: column names,
 * types, modes and descriptions, day partitioning on each table's `partitionBy` and clustering on its
 * `clusterBy`. `_quarantine` holds records that failed validation, with the reason.
 */
import { bigQuerySchema, type BigQueryField } from "../schemas/bigquery-schema.js";
import { rawTableNames, rawTables } from "../schemas/raw-tables.js";
import { datasets } from "./datasets.js";

export interface RawTableSpec {
  dataset: string;
  table: string;
  description: string;
  fields: BigQueryField[];
  partitionField: string;
  clusterFields: string[];
}

export const QUARANTINE_TABLE = "_quarantine";

const quarantineFields: BigQueryField[] = [
  { name: "resource", type: "STRING", mode: "REQUIRED", description: "Raw table the record was meant for." },
  { name: "source", type: "STRING", mode: "REQUIRED", description: "API request the record came from." },
  { name: "reason", type: "STRING", mode: "REQUIRED", description: "Why the record failed its schema (field and message)." },
  { name: "record", type: "JSON", mode: "NULLABLE", description: "The record exactly as received." },
  { name: "_batch_id", type: "STRING", mode: "REQUIRED", description: "Quarantine file the row was loaded from." },
  { name: "_extracted_at", type: "TIMESTAMP", mode: "NULLABLE", description: "When the extractor received the record (UTC)." },
];

export function rawTableSpecs(): RawTableSpec[] {
  const specs: RawTableSpec[] = rawTableNames.map((name) => ({
    dataset: datasets.raw,
    table: name,
    description: rawTables[name].description,
    fields: bigQuerySchema(name),
    partitionField: rawTables[name].partitionBy,
    clusterFields: [...rawTables[name].clusterBy],
  }));
  specs.push({
    dataset: datasets.raw,
    table: QUARANTINE_TABLE,
    description: "Records that failed their raw-table schema, kept with the reason instead of being dropped.",
    fields: quarantineFields,
    partitionField: "_extracted_at",
    clusterFields: ["resource"],
  });
  return specs;
}

export function rawTableSpec(table: string): RawTableSpec {
  const spec = rawTableSpecs().find((s) => s.table === table);
  if (!spec) throw new Error(`no raw table ${table}`);
  return spec;
}
