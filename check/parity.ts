/**
 * Parity: every model of the project on the same raw fixture data, on the ZetaSQL reference evaluator
 * (BigQuery's meaning) and on DuckDB with the local runner's translation (transform/translate.ts) and
 * dependency order (transform/run.ts `planActions`). Each model's rows must be identical
 * (order-insensitive, floats within FLOAT_TOLERANCE) with the same column names and types; incremental
 * models are compared for both branches (full build, then the incremental query over it).
 *
 * The DuckDB side builds each action itself, rather than calling runTransform, so a test can turn
 * translation fixes off and show the mismatch each one exists for.
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import { ALERT_TABLES } from "../alerts/tables.js";
import { createRawTables, openDuckDb, quoteIdent } from "../load/duckdb-connection.js";
import type { CompiledGraph } from "../transform/compile.js";
import { actionsOf, planActions } from "../transform/run.js";
import { translate, type TranslateOptions } from "../transform/translate.js";
import { columnsOf, rawTableNames, type RawTableName } from "../schemas/raw-tables.js";
import type { CheckResult } from "./analyze.js";
import { tableName } from "./catalog.js";
import { duckRelation, referenceRelation } from "./relations.js";
import { compareRelations, timestampToMicros, toValueProto, type Difference, type Relation } from "./values.js";
import type { TableContent } from "./zetasql-types.js";
import type { ZetaSql } from "./zetasql.js";

/** Raw rows per raw table, as JSON: timestamps ISO-8601, arrays as arrays, payload optional. */
export type RawFixture = Partial<Record<RawTableName, Record<string, unknown>[]>>;

export interface ModelParity {
  name: string;
  part: "query" | "incremental";
  referenceRows: number;
  duckdbRows: number;
  difference?: Difference;
  error?: string;
}

export interface ParityResult {
  models: ModelParity[];
  ok: boolean;
}

export interface ParityOptions {
  translateOptions?: TranslateOptions;
  /** Only these actions (schema.name); default all tables, views and assertions. */
  only?: string[];
}

function sqlLiteral(value: unknown, type: string, array: boolean): string {
  if (value === null || value === undefined) return "NULL";
  if (array) {
    if (!Array.isArray(value)) throw new Error(`expected an array, got ${JSON.stringify(value)}`);
    return `[${value.map((v) => sqlLiteral(v, type, false)).join(", ")}]::VARCHAR[]`;
  }
  switch (type) {
    case "INT64":
      return String(BigInt(value as number));
    case "FLOAT64":
      return String(Number(value));
    case "BOOL":
      return value ? "TRUE" : "FALSE";
    case "TIMESTAMP":
      // Through epoch micros so the literal cannot be read in another zone.
      return `make_timestamptz(${timestampToMicros(String(value))})`;
    case "JSON":
      return `'${JSON.stringify(value).replaceAll("'", "''")}'::JSON`;
    default:
      return `'${String(value).replaceAll("'", "''")}'`;
  }
}

async function loadRawIntoDuckDb(connection: DuckDBConnection, raw: RawFixture): Promise<void> {
  await createRawTables(connection);
  for (const table of rawTableNames) {
    const cols = columnsOf(table);
    for (const [i, row] of (raw[table] ?? []).entries()) {
      const full: Record<string, unknown> = { payload: {}, ...row };
      const unknown = Object.keys(full).filter((k) => !cols.some((c) => c.name === k));
      if (unknown.length > 0) throw new Error(`fixture ${table}[${i}]: unknown column(s) ${unknown.join(", ")}`);
      const values = cols.map((c) => sqlLiteral(full[c.name], c.bigquery.type, c.bigquery.mode === "REPEATED"));
      await connection.run(`INSERT INTO github_raw.${quoteIdent(table)} (${cols.map((c) => quoteIdent(c.name)).join(", ")}) VALUES (${values.join(", ")})`);
    }
  }
}

function rawContent(check: CheckResult, raw: RawFixture, database: string | undefined): Record<string, TableContent> {
  const content: Record<string, TableContent> = {};
  for (const table of rawTableNames) {
    const name = tableName({ database, schema: "github_raw", name: table });
    const columns = check.catalog.get(name)?.column ?? [];
    content[name] = {
      tableData: {
        row: (raw[table] ?? []).map((row, i) => ({
          cell: columns.map((c) => toValueProto((row as Record<string, unknown>)[c.name] ?? (c.name === "payload" ? {} : null), c.type, `${table}[${i}].${c.name}`)),
        })),
      },
    };
  }
  // The alert tables (alerts/tables.ts) are declared sources too (rpt_alerts): empty here, as in a
  // warehouse no evaluation has written to; rpt_alerts' rows are covered by its model test.
  for (const table of ALERT_TABLES) content[tableName({ database, schema: "github_raw", name: table })] = { tableData: { row: [] } };
  return content;
}

/** Re-encodes a reference result as table content for downstream models. */
function asContent(check: CheckResult, name: string, relation: Relation): TableContent {
  const columns = check.catalog.get(name)?.column ?? [];
  return { tableData: { row: relation.rows.map((row) => ({ cell: row.map((v, i) => toValueProto(v, columns[i]?.type ?? { typeKind: "TYPE_STRING" })) })) } };
}

/**
 * Runs the parity comparison. `check` must come from checkGraph on the same graph (it provides the
 * catalog with every model's columns); the DuckDB database is in memory.
 */
export async function runParity(engine: ZetaSql, graph: CompiledGraph, check: CheckResult, raw: RawFixture, options: ParityOptions = {}): Promise<ParityResult> {
  if (!check.ok) throw new Error("parity needs a project that passes check");
  const database = graph.projectConfig.defaultDatabase;
  const content = rawContent(check, raw, database);
  const warehouse = await openDuckDb(":memory:");
  const { connection } = warehouse;
  const results: ModelParity[] = [];
  try {
    await loadRawIntoDuckDb(connection, raw);
    const plan = planActions(actionsOf(graph)).filter((a) => a.type !== "operation");
    for (const schema of new Set(plan.map((a) => a.target.schema))) await connection.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    const tr = (sql: string) => translate(sql, options.translateOptions);
    for (const action of plan) {
      const name = tableName(action.target, database);
      const relation = `${quoteIdent(action.target.schema)}.${quoteIdent(action.target.name)}`;
      const query = action.table?.query ?? action.queries[0] ?? "SELECT 1";
      const compare = !options.only || options.only.includes(action.name);
      let reference: Relation;
      try {
        reference = await referenceRelation(engine, query, check.catalog, content);
      } catch (error) {
        results.push({ name: action.name, part: "query", referenceRows: 0, duckdbRows: 0, error: `ZetaSQL: ${(error as Error).message}` });
        continue;
      }
      content[name] = asContent(check, name, reference);
      let duck: Relation;
      try {
        await connection.run(`CREATE OR REPLACE ${action.type === "view" || action.type === "assertion" ? "VIEW" : "TABLE"} ${relation} AS\n${tr(query)}`);
        duck = await duckRelation(connection, `SELECT * FROM ${relation}`);
      } catch (error) {
        results.push({ name: action.name, part: "query", referenceRows: reference.rows.length, duckdbRows: 0, error: `DuckDB: ${(error as Error).message}` });
        continue;
      }
      if (compare) {
        const difference = compareRelations(reference, duck, { labels: ["ZetaSQL", "DuckDB"] });
        results.push({ name: action.name, part: "query", referenceRows: reference.rows.length, duckdbRows: duck.rows.length, ...(difference ? { difference } : {}) });
      }
      const incrementalQuery = action.table?.incrementalQuery;
      if (action.type === "incremental" && incrementalQuery !== undefined && compare) {
        try {
          const refInc = await referenceRelation(engine, incrementalQuery, check.catalog, content);
          const duckInc = await duckRelation(connection, tr(incrementalQuery));
          const difference = compareRelations(refInc, duckInc, { labels: ["ZetaSQL", "DuckDB"] });
          results.push({ name: action.name, part: "incremental", referenceRows: refInc.rows.length, duckdbRows: duckInc.rows.length, ...(difference ? { difference } : {}) });
        } catch (error) {
          results.push({ name: action.name, part: "incremental", referenceRows: 0, duckdbRows: 0, error: (error as Error).message });
        }
      }
    }
  } finally {
    warehouse.close();
  }
  return { models: results, ok: results.every((r) => !r.difference && !r.error) };
}

export function formatParity(r: ModelParity): string {
  const head = `${r.name}${r.part === "incremental" ? " (incremental branch)" : ""}`;
  if (r.error) return `${head}: ${r.error}`;
  if (r.difference) return `${head}: ${r.difference.message}`;
  return `${head}: ${r.referenceRows} rows identical`;
}
