/**
 * The ZetaSQL catalog of the warehouse: raw tables from schemas/ (the single source of truth), then each
 * model's output columns as the analyzer resolved them, added in dependency order.
 *
 * Compiled Dataform SQL names tables as one backtick-quoted identifier `project.dataset.table`; ZetaSQL
 * reads that as a single name, so tables are registered under exactly that full name.
 */
import type { Target } from "../transform/compile.js";
import { ALERT_COLUMNS, ALERT_TABLES, type AlertTable } from "../alerts/tables.js";
import { columnsOf, rawTables, type RawTableName } from "../schemas/raw-tables.js";
import { zType, type SimpleCatalog, type SimpleColumn, type SimpleTable } from "./zetasql-types.js";

export function tableName(target: Target, defaultDatabase?: string): string {
  const database = target.database ?? defaultDatabase;
  return [database, target.schema, target.name].filter((p): p is string => Boolean(p)).join(".");
}

/** Columns of a raw table as ZetaSQL sees them (BigQuery types from schemas/raw-tables.ts). */
export function rawColumns(table: RawTableName): SimpleColumn[] {
  return columnsOf(table).map((c) => ({
    name: c.name,
    type: zType(c.bigquery.mode === "REPEATED" ? `ARRAY<${c.bigquery.type}>` : c.bigquery.type),
  }));
}

export function isRawTable(name: string): name is RawTableName {
  return Object.hasOwn(rawTables, name);
}

/** The alert state tables of the raw dataset (alerts/tables.ts), which models such as rpt_alerts read. */
export function isAlertTable(name: string): name is AlertTable {
  return (ALERT_TABLES as readonly string[]).includes(name);
}

/** Columns of an alert table as ZetaSQL sees them (BigQuery types from alerts/tables.ts). */
export function alertColumns(table: AlertTable): SimpleColumn[] {
  return ALERT_COLUMNS[table].map((c) => ({ name: c.name, type: zType(c.bigquery) }));
}

export class Catalog {
  private readonly tables = new Map<string, SimpleTable>();

  set(name: string, column: SimpleColumn[]): void {
    this.tables.set(name, { name, column });
  }

  get(name: string): SimpleTable | undefined {
    return this.tables.get(name);
  }

  has(name: string): boolean {
    return this.tables.has(name);
  }

  proto(): SimpleCatalog {
    return { name: "actions-warehouse", table: [...this.tables.values()] };
  }
}
