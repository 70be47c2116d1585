/**
 * `bootstrap`: creates the BigQuery datasets (raw, staging, models, assertions), the raw tables and the
 * extractor's state tables (`_extracts`, `_http_cache`) and the alert state tables (`alert_events`, `alert_mutes`,
 * `alert_outbox`: alerts/tables.ts), idempotently. The alert tables are created here, empty, because the
 * rpt_alerts view reads alert_events: `transform` must work before the first `alerts evaluate`. Running it again creates nothing and changes nothing, except adding columns that were
 * added to the zod schemas since (BigQuery allows adding NULLABLE columns in place); a column whose type
 * changed, or a table whose partitioning or clustering differs, stops with an error naming it, because
 * fixing that means a migration someone should decide on.
 */
import { BigQuery } from "@google-cloud/bigquery";
import { ALERT_COLUMNS, ALERT_TABLES, type AlertTable } from "../alerts/tables.js";
import type { Logger } from "../log/logger.js";
import type { BigQueryField } from "../schemas/bigquery-schema.js";
import { datasets } from "./datasets.js";
import { rawTableSpecs, type RawTableSpec } from "./bigquery-tables.js";
import { stateTableSpecs } from "./state-tables.js";

export class BootstrapError extends Error {
  override readonly name = "BootstrapError";
}

export interface BootstrapOptions {
  bigquery: BigQuery;
  location: string;
  log: Logger;
}

export interface BootstrapResult {
  datasetsCreated: string[];
  tablesCreated: string[];
  columnsAdded: string[];
}

const isCode = (error: unknown, code: number) => (error as { code?: number }).code === code;

/**
 * `tables.get` answers with the legacy type names whatever the table was created with (INT64 comes back
 * as INTEGER, FLOAT64 as FLOAT, BOOL as BOOLEAN, STRUCT as RECORD): see
 * https://cloud.google.com/bigquery/docs/reference/rest/v2/tables#TableFieldSchema ("type": "INTEGER
 * (or INT64)", ...). Compare types by their canonical standard-SQL name.
 */
const LEGACY_TYPES: Record<string, string> = { INTEGER: "INT64", FLOAT: "FLOAT64", BOOLEAN: "BOOL", RECORD: "STRUCT" };
export const canonicalType = (type: string): string => LEGACY_TYPES[type.toUpperCase()] ?? type.toUpperCase();

interface TableMetadata {
  schema?: { fields?: { name: string; type: string; mode?: string; description?: string }[] };
  timePartitioning?: { type?: string; field?: string };
  clustering?: { fields?: string[] };
  location?: string;
}

/** A raw or state table, or an alert table (`partitionField` null: not partitioned, not clustered). */
type TableSpec = Omit<RawTableSpec, "partitionField"> & { partitionField: string | null };

/**
 * The alert tables as bootstrap creates them: the columns and BigQuery types of alerts/tables.ts (the list
 * `alerts evaluate` creates them from with CREATE TABLE IF NOT EXISTS), every column NULLABLE, not
 * partitioned, so whichever of the two runs first makes the same table.
 */
export function alertTableSpecs(): TableSpec[] {
  const descriptions: Record<AlertTable, string> = {
    alert_events: "Alert episodes (alerts/state.ts): one row per fingerprint and episode, pending, firing or resolved. Read by rpt_alerts.",
    alert_mutes: "Rules muted until a time (actions-warehouse alerts mute).",
    alert_outbox: "Notifications queued by alert evaluations, until their channel accepts them (sent_at).",
  };
  return ALERT_TABLES.map((table) => ({
    dataset: datasets.raw,
    table,
    description: descriptions[table],
    fields: ALERT_COLUMNS[table].map((c): BigQueryField => ({ name: c.name, type: c.bigquery, mode: "NULLABLE", description: c.description })),
    partitionField: null,
    clusterFields: [],
  }));
}

function tableResource(spec: TableSpec) {
  return {
    description: spec.description,
    schema: { fields: spec.fields },
    ...(spec.partitionField === null ? {} : { timePartitioning: { type: "DAY", field: spec.partitionField }, clustering: { fields: spec.clusterFields } }),
  };
}

async function ensureTable(bigquery: BigQuery, spec: TableSpec, result: BootstrapResult, log: Logger): Promise<void> {
  const table = bigquery.dataset(spec.dataset).table(spec.table);
  const name = `${spec.dataset}.${spec.table}`;
  let metadata: TableMetadata;
  try {
    [metadata] = (await table.getMetadata()) as [TableMetadata, unknown];
  } catch (error) {
    if (!isCode(error, 404)) throw error;
    try {
      await bigquery.dataset(spec.dataset).createTable(spec.table, tableResource(spec));
      result.tablesCreated.push(name);
      log.info("table created", { table: name });
      return;
    } catch (createError) {
      // Another bootstrap created it in between: fall through and compare.
      if (!isCode(createError, 409)) throw createError;
      [metadata] = (await table.getMetadata()) as [TableMetadata, unknown];
    }
  }
  const partition = metadata.timePartitioning;
  // Alert tables (partitionField null) are unpartitioned, as `alerts evaluate` creates them: nothing to compare.
  if (spec.partitionField !== null && (partition?.type !== "DAY" || partition.field !== spec.partitionField)) {
    throw new BootstrapError(`${name} is partitioned as ${JSON.stringify(partition ?? null)}, expected DAY on ${spec.partitionField}; partitioning cannot change in place`);
  }
  const clustering = metadata.clustering?.fields ?? [];
  if (spec.partitionField !== null && clustering.join(",") !== spec.clusterFields.join(",")) {
    throw new BootstrapError(`${name} is clustered by [${clustering.join(", ")}], expected [${spec.clusterFields.join(", ")}]`);
  }
  const existing = metadata.schema?.fields ?? [];
  for (const field of existing) {
    const wanted = spec.fields.find((f) => f.name === field.name);
    if (!wanted) throw new BootstrapError(`${name}.${field.name} exists in BigQuery but not in the raw schema; columns are never removed`);
    if (canonicalType(wanted.type) !== canonicalType(field.type) || (wanted.mode === "REPEATED") !== (field.mode === "REPEATED")) {
      throw new BootstrapError(`${name}.${field.name} is ${field.mode ?? "NULLABLE"} ${field.type} in BigQuery but ${wanted.mode} ${wanted.type} in the raw schema`);
    }
  }
  const added = spec.fields.filter((f) => !existing.some((e) => e.name === f.name));
  if (added.length === 0) return;
  // A column added to a table that already has rows must be NULLABLE: old rows have no value for it.
  const fields = [...existing, ...added.map((f) => ({ ...f, mode: f.mode === "REQUIRED" ? "NULLABLE" : f.mode }))];
  await table.setMetadata({ schema: { fields } });
  for (const f of added) result.columnsAdded.push(`${name}.${f.name}`);
  log.info("columns added", { table: name, columns: added.map((f) => f.name) });
}

export async function bootstrapBigQuery(options: BootstrapOptions): Promise<BootstrapResult> {
  const { bigquery, location, log } = options;
  const result: BootstrapResult = { datasetsCreated: [], tablesCreated: [], columnsAdded: [] };
  const descriptions: Record<string, string> = {
    [datasets.raw]: "Raw GitHub Actions and Packages records, loaded append-only from NDJSON batches (actions-warehouse).",
    [datasets.staging]: "Deduplicated staging views over the raw tables (Dataform).",
    [datasets.models]: "Facts, dimensions and rpt_* reporting views (Dataform).",
    [datasets.assertions]: "Dataform assertion views; a row here is a failed data check.",
  };
  for (const id of [datasets.raw, datasets.staging, datasets.models, datasets.assertions]) {
    const dataset = bigquery.dataset(id);
    const [exists] = await dataset.exists();
    if (exists) {
      const [meta] = (await dataset.getMetadata()) as [{ location?: string }, unknown];
      if (meta.location && meta.location.toLowerCase() !== location.toLowerCase()) {
        throw new BootstrapError(`dataset ${id} is in ${meta.location}, not ${location}; load jobs and Dataform need every dataset in one location`);
      }
      continue;
    }
    try {
      await bigquery.createDataset(id, { location, description: descriptions[id] });
      result.datasetsCreated.push(id);
      log.info("dataset created", { dataset: id, location });
    } catch (error) {
      if (!isCode(error, 409)) throw error;
    }
  }
  // Raw tables, then the extractor's state (`_extracts`, `_http_cache`: load/state-tables.ts), then the
  // alert state (alerts/tables.ts).
  for (const spec of [...rawTableSpecs(), ...stateTableSpecs(), ...alertTableSpecs()]) await ensureTable(bigquery, spec, result, log);
  log.info("bootstrap finished", { datasets_created: result.datasetsCreated.length, tables_created: result.tablesCreated.length, columns_added: result.columnsAdded.length });
  return result;
}
