/**
 * The BigQuery stand-in's SQL engine: the rows load jobs append are kept in an in-memory DuckDB as well,
 * and query jobs run there after translation with the project's own BigQuery -> DuckDB layer
 * (`transform/translate.ts`, the one the local Dataform runner uses). Results go back in BigQuery's REST
 * wire format (schema with legacy type names, rows as `{ f: [{ v }] }` with every scalar a string), so the
 * real client parses them as it would BigQuery's.
 *
 * Named query parameters (`@name`, typed `queryParameters` as the client sends them) are bound by
 * substituting GoogleSQL literals before translation; polyglot has no notion of BigQuery parameters.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance, DuckDBTypeId, type DuckDBConnection, type DuckDBType, type DuckDBValue } from "@duckdb/node-api";
import { translate } from "../../transform/translate.js";

export interface TableField {
  name: string;
  type: string;
  mode?: string;
  description?: string;
  fields?: TableField[];
}

export interface QueryParameterType {
  type: string;
  arrayType?: QueryParameterType;
  structTypes?: { name?: string; type: QueryParameterType }[];
}
export interface QueryParameterValue {
  value?: string | null;
  arrayValues?: QueryParameterValue[];
  structValues?: Record<string, QueryParameterValue>;
}
export interface QueryParameter {
  name?: string;
  parameterType: QueryParameterType;
  parameterValue: QueryParameterValue;
}

/** How TIMESTAMP values are written: int64 microseconds, ISO strings, or float seconds (the legacy default). */
export type TimestampFormat = "int64" | "iso" | "float";

export interface WireCell {
  v: unknown;
}
export interface QueryOutcome {
  statementType: string;
  /** Columns, for statements that return rows. */
  schema?: { fields: TableField[] };
  rows?: { f: WireCell[] }[];
  numDmlAffectedRows?: string;
  /** The DuckDB SQL that ran (tests and error messages). */
  duckdbSql: string;
}

export class QueryError extends Error {
  constructor(
    message: string,
    readonly reason: "invalidQuery" | "notFound",
  ) {
    super(message);
  }
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
/** A GoogleSQL string literal (backslash escapes). */
const sqlString = (s: string) => `'${s.replaceAll("\\", "\\\\").replaceAll("'", "\\'").replaceAll("\n", "\\n")}'`;
/** A DuckDB string literal (quotes doubled). */
const duckString = (s: string) => `'${s.replaceAll("'", "''")}'`;

const DUCKDB_TYPES: Record<string, string> = {
  STRING: "VARCHAR",
  INT64: "BIGINT",
  INTEGER: "BIGINT",
  FLOAT64: "DOUBLE",
  FLOAT: "DOUBLE",
  BOOL: "BOOLEAN",
  BOOLEAN: "BOOLEAN",
  TIMESTAMP: "TIMESTAMPTZ",
  DATE: "DATE",
  JSON: "JSON",
  NUMERIC: "DECIMAL(38, 9)",
  BYTES: "BLOB",
};

function duckdbType(field: TableField): string {
  const base =
    field.type === "RECORD" || field.type === "STRUCT"
      ? `STRUCT(${(field.fields ?? []).map((f) => `${quote(f.name)} ${duckdbType(f)}`).join(", ")})`
      : DUCKDB_TYPES[field.type];
  if (!base) throw new QueryError(`the stand-in has no DuckDB type for ${field.type} (${field.name})`, "invalidQuery");
  return field.mode === "REPEATED" ? `${base}[]` : base;
}

function columnDdl(field: TableField): string {
  return `${quote(field.name)} ${duckdbType(field)}${field.mode === "REQUIRED" ? " NOT NULL" : ""}`;
}

// ---------------------------------------------------------------------------------------------------
// Parameters: typed wire values -> GoogleSQL literals.

function typeName(t: QueryParameterType): string {
  if (t.type === "ARRAY") return `ARRAY<${typeName(t.arrayType ?? { type: "STRING" })}>`;
  if (t.type === "STRUCT") return `STRUCT<${(t.structTypes ?? []).map((s) => `${s.name ?? ""} ${typeName(s.type)}`.trim()).join(", ")}>`;
  return t.type === "INTEGER" ? "INT64" : t.type === "FLOAT" ? "FLOAT64" : t.type === "BOOLEAN" ? "BOOL" : t.type;
}

function literal(t: QueryParameterType, v: QueryParameterValue | undefined): string {
  if (t.type === "ARRAY") {
    const items = v?.arrayValues ?? [];
    // An empty ARRAY parameter is an empty array in BigQuery (arrays are never NULL there).
    return `${typeName(t)}[${items.map((item) => literal(t.arrayType ?? { type: "STRING" }, item)).join(", ")}]`;
  }
  if (t.type === "STRUCT") {
    if (!v?.structValues) return `CAST(NULL AS ${typeName(t)})`;
    return `STRUCT(${(t.structTypes ?? []).map((s) => `${literal(s.type, v.structValues?.[s.name ?? ""])} AS ${s.name ?? ""}`).join(", ")})`;
  }
  const raw = v?.value;
  if (raw === undefined || raw === null) return `CAST(NULL AS ${typeName(t)})`;
  switch (typeName(t)) {
    case "STRING":
      return sqlString(raw);
    case "INT64":
      if (!/^-?\d+$/.test(raw)) throw new QueryError(`Invalid INT64 parameter value: ${raw}`, "invalidQuery");
      return raw;
    case "FLOAT64":
      return `CAST(${sqlString(raw)} AS FLOAT64)`;
    case "BOOL":
      return raw.toLowerCase() === "true" ? "TRUE" : "FALSE";
    case "TIMESTAMP":
      if (Number.isNaN(Date.parse(raw.replace(" ", "T")))) throw new QueryError(`Invalid TIMESTAMP parameter value: ${raw}`, "invalidQuery");
      return `TIMESTAMP ${sqlString(raw)}`;
    case "DATE":
      return `DATE ${sqlString(raw)}`;
    case "JSON":
      return `JSON ${sqlString(raw)}`;
    default:
      throw new QueryError(`the stand-in cannot bind a ${t.type} parameter`, "invalidQuery");
  }
}

/** Replaces each `@name` outside quotes and comments with the parameter's literal; unknown names fail like BigQuery. */
export function bindParameters(sql: string, parameters: QueryParameter[] = [], mode?: string): string {
  if (parameters.length > 0 && mode?.toUpperCase() === "POSITIONAL") throw new QueryError("the stand-in binds named parameters only", "invalidQuery");
  const byName = new Map(parameters.map((p) => [(p.name ?? "").toLowerCase(), p]));
  let out = "";
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i] ?? "";
    if (ch === "'" || ch === '"' || ch === "`") {
      let j = i + 1;
      while (j < sql.length && sql[j] !== ch) j += sql[j] === "\\" ? 2 : 1;
      out += sql.slice(i, j + 1);
      i = j;
      continue;
    }
    if (ch === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      const stop = end === -1 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop - 1;
      continue;
    }
    const m = ch === "@" && sql[i + 1] !== "@" ? /^@([A-Za-z_]\w*)/.exec(sql.slice(i)) : null;
    if (m?.[1]) {
      const p = byName.get(m[1].toLowerCase());
      if (!p) throw new QueryError(`Query parameter '${m[1]}' not found`, "invalidQuery");
      out += literal(p.parameterType, p.parameterValue);
      i += m[0].length - 1;
      continue;
    }
    out += ch;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Results: DuckDB values -> BigQuery wire format.

function wireType(type: DuckDBType): { type: string; fields?: TableField[]; repeated?: boolean } {
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return { type: "BOOLEAN" };
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.UBIGINT:
      return { type: "INTEGER" };
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return { type: "FLOAT" };
    case DuckDBTypeId.DECIMAL:
      return { type: "NUMERIC" };
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_NS:
      return { type: "TIMESTAMP" };
    case DuckDBTypeId.DATE:
      return { type: "DATE" };
    case DuckDBTypeId.VARCHAR:
      return { type: type.alias === "JSON" ? "JSON" : "STRING" };
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const inner = wireType((type as unknown as { valueType: DuckDBType }).valueType);
      if (inner.repeated) throw new QueryError("Cannot return an ARRAY of ARRAYs", "invalidQuery");
      return { ...inner, repeated: true };
    }
    case DuckDBTypeId.STRUCT: {
      const s = type as unknown as { entryNames: readonly string[]; entryTypes: readonly DuckDBType[] };
      return { type: "RECORD", fields: s.entryNames.map((name, i) => wireField(name, s.entryTypes[i] as DuckDBType)) };
    }
    case DuckDBTypeId.SQLNULL:
      return { type: "STRING" };
    default:
      throw new QueryError(`the stand-in cannot return DuckDB type ${type.toString()}`, "invalidQuery");
  }
}

function wireField(name: string, type: DuckDBType): TableField {
  const t = wireType(type);
  return { name, type: t.type, mode: t.repeated ? "REPEATED" : "NULLABLE", ...(t.fields ? { fields: t.fields } : {}) };
}

function wireScalar(value: DuckDBValue, field: TableField, ts: TimestampFormat): unknown {
  if (value === null || value === undefined) return null;
  switch (field.type) {
    case "RECORD": {
      const entries = (value as unknown as { entries: Record<string, DuckDBValue> }).entries;
      return { f: (field.fields ?? []).map((f) => ({ v: wireValue(entries[f.name] ?? null, f, ts) })) };
    }
    case "TIMESTAMP": {
      const micros = (value as unknown as { micros: bigint }).micros;
      if (ts === "int64") return micros.toString();
      if (ts === "iso") return new Date(Number(micros / 1000n)).toISOString();
      return (Number(micros) / 1e6).toString();
    }
    case "BOOLEAN":
      return value ? "true" : "false";
    default:
      return typeof value === "object" ? value.toString() : String(value);
  }
}

function wireValue(value: DuckDBValue, field: TableField, ts: TimestampFormat): unknown {
  if (field.mode === "REPEATED") {
    // BigQuery has no NULL arrays: they come back empty.
    const items = value === null ? [] : (value as unknown as { items: DuckDBValue[] }).items;
    return items.map((item) => ({ v: wireScalar(item, { ...field, mode: "NULLABLE" }, ts) }));
  }
  return wireScalar(value, field, ts);
}

// ---------------------------------------------------------------------------------------------------

export interface SqlEngine {
  createTable(dataset: string, table: string, fields: TableField[]): Promise<void>;
  addColumns(dataset: string, table: string, fields: TableField[]): Promise<void>;
  /** Appends rows (JSON objects as loaded) to a table. */
  insertRows(dataset: string, table: string, fields: TableField[], rows: Record<string, unknown>[]): Promise<void>;
  /** Every row of a table as JSON-friendly objects (after DML). */
  readRows(dataset: string, table: string): Promise<Record<string, unknown>[]>;
  /** Binds, translates and runs one GoogleSQL statement (or script). */
  query(sql: string, parameters: QueryParameter[] | undefined, parameterMode: string | undefined, ts: TimestampFormat): Promise<QueryOutcome>;
  close(): void;
}

const DML = /^\s*(INSERT|UPDATE|DELETE|MERGE)\b/i;

export async function startSqlEngine(): Promise<SqlEngine> {
  const instance = await DuckDBInstance.create(":memory:");
  const db: DuckDBConnection = await instance.connect();
  await db.run("SET TimeZone = 'UTC'");
  const scratch = mkdtempSync(join(tmpdir(), "aw-bq-sql-"));
  let files = 0;
  // One statement at a time on the one connection: requests arrive concurrently.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };
  const ref = (dataset: string, table: string) => `${quote(dataset)}.${quote(table)}`;

  return {
    createTable: (dataset, table, fields) =>
      serial(async () => {
        await db.run(`CREATE SCHEMA IF NOT EXISTS ${quote(dataset)}`);
        await db.run(`CREATE TABLE IF NOT EXISTS ${ref(dataset, table)} (${fields.map(columnDdl).join(", ")})`);
      }),
    addColumns: (dataset, table, fields) =>
      serial(async () => {
        for (const f of fields) await db.run(`ALTER TABLE ${ref(dataset, table)} ADD COLUMN IF NOT EXISTS ${quote(f.name)} ${duckdbType(f)}`);
      }),
    insertRows: (dataset, table, fields, rows) =>
      serial(async () => {
        if (rows.length === 0) return;
        files += 1;
        const path = join(scratch, `rows-${files}.ndjson`);
        writeFileSync(path, rows.map((r) => JSON.stringify(r)).join("\n"));
        const columns = fields.map((f) => `${duckString(f.name)}: ${duckString(duckdbType(f))}`).join(", ");
        const names = fields.map((f) => quote(f.name)).join(", ");
        await db.run(`INSERT INTO ${ref(dataset, table)} (${names}) SELECT ${names} FROM read_json(${duckString(path)}, format = 'newline_delimited', columns = {${columns}})`);
        rmSync(path);
      }),
    readRows: (dataset, table) => serial(async () => (await db.runAndReadAll(`SELECT * FROM ${ref(dataset, table)}`)).getRowObjectsJson() as Record<string, unknown>[]),
    query: (sql, parameters, parameterMode, ts) =>
      serial(async () => {
        const bound = bindParameters(sql, parameters, parameterMode);
        let duckdbSql: string;
        try {
          duckdbSql = translate(bound);
        } catch (error) {
          throw new QueryError(`Syntax error: ${(error as Error).message}`, "invalidQuery");
        }
        let reader;
        try {
          reader = await db.runAndReadAll(duckdbSql);
        } catch (error) {
          const message = (error as Error).message;
          throw new QueryError(message, /Catalog Error: Table .* does not exist/.test(message) ? "notFound" : "invalidQuery");
        }
        const dml = DML.exec(bound);
        if (dml?.[1]) {
          const count = reader.getRows()[0]?.[0];
          return { statementType: dml[1].toUpperCase(), numDmlAffectedRows: String(count ?? 0), duckdbSql };
        }
        const fields = reader.columnNames().map((name, i) => wireField(name, reader.columnTypes()[i] as DuckDBType));
        const rows = reader.getRows().map((row) => ({ f: row.map((value, i) => ({ v: wireValue(value, fields[i] as TableField, ts) })) }));
        return { statementType: "SELECT", schema: { fields }, rows, duckdbSql };
      }),
    close: () => {
      db.closeSync();
      instance.closeSync();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
