/** Query results of both engines as comparable relations (check/values.ts). */
import type { DuckDBConnection } from "@duckdb/node-api";
import { translate, type TranslateOptions } from "../transform/translate.js";
import type { Catalog } from "./catalog.js";
import { duckDbTypeName, fromDuckDb, fromValueProto, type Plain, type Relation } from "./values.js";
import type { TableContent } from "./zetasql-types.js";
import { typeName } from "./zetasql-types.js";
import type { ZetaSql } from "./zetasql.js";

/** Runs BigQuery SQL on the ZetaSQL reference evaluator. */
export async function referenceRelation(engine: ZetaSql, sql: string, catalog?: Catalog, content: Record<string, TableContent> = {}): Promise<Relation> {
  const result = await engine.evaluate(sql, catalog?.proto() ?? { name: "empty", table: [] }, content);
  return {
    columns: result.columns.map((c) => ({ name: c.name, type: typeName(c.type) })),
    rows: result.rows.map((row) => row.map((v, i) => fromValueProto(v, result.columns[i]?.type ?? { typeKind: "TYPE_STRING" }))),
  };
}

/** Runs SQL that is already DuckDB's. */
export async function duckRelation(connection: DuckDBConnection, duckSql: string): Promise<Relation> {
  const reader = await connection.runAndReadAll(duckSql);
  const names = reader.columnNames();
  const types = reader.columnTypes();
  const columns = names.map((name, i) => ({ name, type: types[i] ? duckDbTypeName(types[i]) : "?" }));
  // DuckDB integer literals are 32-bit (JS numbers); BigQuery has only INT64, kept as decimal strings.
  const normalize = (v: Plain, type: string): Plain => (type === "INT64" && typeof v === "number" ? String(v) : v);
  return {
    columns,
    rows: reader.getRows().map((row) => row.map((v, i) => normalize(fromDuckDb(v), columns[i]?.type ?? ""))),
  };
}

/** Translates BigQuery SQL with the project's layer (transform/translate.ts) and runs it on DuckDB. */
export async function translatedRelation(connection: DuckDBConnection, bigquerySql: string, options: TranslateOptions = {}): Promise<Relation> {
  return duckRelation(connection, translate(bigquerySql, options));
}
