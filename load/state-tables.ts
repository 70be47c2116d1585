/**
 * The extractor's state tables in the raw dataset, declared once for both warehouses:
 * - `_extracts`: one row per fully loaded extract (window, scope, counts): the watermark of incremental
 *   extracts;
 * - `_http_cache`: the ETag of every list page whose content is loaded, so the next extract can ask with
 *   `If-None-Match` (a 304 costs no rate limit).
 *
 * DuckDB (`load/duckdb-load.ts`) creates them with `stateTableDdl`, keyed (one row per extract, one per
 * URL: later extracts replace earlier ETags). BigQuery (`load/bigquery-bootstrap.ts`) creates them from
 * `stateTableSpecs`, day-partitioned; BigQuery rows are append-only, so readers take the newest row per
 * URL (`load/watermark-bigquery.ts`). Column order matters: the DuckDB loader inserts by position.
 */
import type { BigQueryField } from "../schemas/bigquery-schema.js";
import { duckdbType, type BigQueryMode, type BigQueryType } from "../schemas/columns.js";
import { quoteIdent } from "./duckdb-connection.js";
import { datasets } from "./datasets.js";
import type { RawTableSpec } from "./bigquery-tables.js";

export type StateTableName = "_extracts" | "_http_cache";

interface StateColumn {
  name: string;
  type: BigQueryType;
  mode: BigQueryMode;
  description: string;
  /** DuckDB only: NOT NULL on a list column (BigQuery REPEATED columns are never NULL anyway). */
  notNull?: boolean;
}

interface StateTable {
  description: string;
  columns: StateColumn[];
  /** DuckDB primary key (BigQuery has no enforced keys). */
  primaryKey: string;
  partitionField: string;
  clusterFields: string[];
}

const column = (name: string, type: BigQueryType, mode: BigQueryMode, description: string, extra: Partial<StateColumn> = {}): StateColumn => ({ name, type, mode, description, ...extra });

export const stateTables: Record<StateTableName, StateTable> = {
  _extracts: {
    description: "One row per fully loaded extract (window, scope, counts): the watermark of incremental extracts. Written only after every batch of the extract is loaded.",
    primaryKey: "extract_id",
    partitionField: "loaded_at",
    clusterFields: ["extract_id"],
    columns: [
      column("extract_id", "STRING", "REQUIRED", "Extract identifier (UTC start time and a random suffix); batch ids start with it."),
      column("started_at", "TIMESTAMP", "REQUIRED", "When the extract started (UTC)."),
      column("finished_at", "TIMESTAMP", "REQUIRED", "When the extract wrote its manifest (UTC)."),
      column("window_since", "TIMESTAMP", "REQUIRED", "First instant of the run-creation window covered (UTC)."),
      column("window_until", "TIMESTAMP", "REQUIRED", "End of the window covered (UTC): the watermark of each repository in scope."),
      column("repositories", "STRING", "REPEATED", "Repositories (owner/name) the extract covered.", { notNull: true }),
      column("organizations", "STRING", "REPEATED", "Organisations in scope (--org).", { notNull: true }),
      column("users", "STRING", "REPEATED", "Users in scope (--user).", { notNull: true }),
      column("records", "INT64", "REQUIRED", "Records written across all raw tables."),
      column("quarantined", "INT64", "REQUIRED", "Records quarantined."),
      column("api_requests", "INT64", "REQUIRED", "GitHub API requests made."),
      column("loaded_at", "TIMESTAMP", "REQUIRED", "When the extract was recorded as fully loaded (UTC)."),
    ],
  },
  _http_cache: {
    description: "ETag of every GitHub list page whose content is loaded, for conditional requests (a 304 costs no rate limit). BigQuery keeps every observation; the newest per URL counts.",
    primaryKey: "url",
    partitionField: "recorded_at",
    clusterFields: ["url"],
    columns: [
      column("url", "STRING", "REQUIRED", "Full URL of the list page."),
      column("etag", "STRING", "REQUIRED", "ETag GitHub sent with the page."),
      column("next_url", "STRING", "NULLABLE", "The page's rel=next link, followed when the page answers 304."),
      column("total_count", "INT64", "NULLABLE", "total_count of the page, when the list has one."),
      column("keys", "STRING", "REPEATED", "Identifiers the extractor needs from an unchanged page (repository and package names)."),
      column("extract_id", "STRING", "REQUIRED", "Extract that observed the page."),
      column("recorded_at", "TIMESTAMP", "REQUIRED", "When the page's extract finished (UTC)."),
    ],
  },
};

export const stateTableNames = Object.keys(stateTables) as StateTableName[];

/** `CREATE TABLE IF NOT EXISTS` for DuckDB, in the raw schema. */
export function stateTableDdl(table: StateTableName): string {
  const spec = stateTables[table];
  const cols = spec.columns.map((c) => {
    const type = duckdbType({ description: c.description, bigquery: { type: c.type, mode: c.mode } });
    const constraint = c.name === spec.primaryKey ? " PRIMARY KEY" : c.mode === "REQUIRED" || c.notNull ? " NOT NULL" : "";
    return `${quoteIdent(c.name)} ${type}${constraint}`;
  });
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(datasets.raw)}.${quoteIdent(table)} (${cols.join(", ")})`;
}

export function stateTableFields(table: StateTableName): BigQueryField[] {
  return stateTables[table].columns.map((c) => ({ name: c.name, type: c.type, mode: c.mode, description: c.description }));
}

/** BigQuery table specs for `bootstrap`: day-partitioned and clustered like the raw tables. */
export function stateTableSpecs(): RawTableSpec[] {
  return stateTableNames.map((name) => ({
    dataset: datasets.raw,
    table: name,
    description: stateTables[name].description,
    fields: stateTableFields(name),
    partitionField: stateTables[name].partitionField,
    clusterFields: [...stateTables[name].clusterFields],
  }));
}
