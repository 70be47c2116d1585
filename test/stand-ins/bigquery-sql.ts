/**
 * The BigQuery stand-in's SQL engine: the rows load jobs append are kept in an in-memory DuckDB as well,
 * and query jobs run there after translation with the project's own BigQuery -> DuckDB layer
 * (`transform/translate.ts`, the one the local Dataform runner uses). Results go back in BigQuery's REST
 * wire format (schema with legacy type names, rows as `{ f: [{ v }] }` with every scalar a string), so the
 * real client parses them as it would BigQuery's.
 *
 * Named query parameters (`@name`, typed `queryParameters` as the client sends them) are bound by
 * substituting GoogleSQL literals before translation; polyglot has no notion of BigQuery parameters.
 *
 * Besides running statements, this file holds the text-level helpers the stand-in needs to behave like
 * BigQuery around them: statement classification (DDL the Dataform CLI sends, DML, SELECT), the tables a
 * statement references, and the dry-run byte estimate (see `estimateBytes`).
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

// ---------------------------------------------------------------------------------------------------
// Type names. `tables.get` answers with the legacy names whatever a table was created with: the
// TableFieldSchema reference lists "INTEGER (or INT64)", "FLOAT (or FLOAT64)", "BOOLEAN (or BOOL)" and
// "RECORD (or STRUCT)" (https://cloud.google.com/bigquery/docs/reference/rest/v2/tables#TableFieldSchema.FIELDS.type;
// the same text is in @google-cloud/bigquery's types.d.ts, generated from the discovery document).

const LEGACY_NAMES: Record<string, string> = { INT64: "INTEGER", FLOAT64: "FLOAT", BOOL: "BOOLEAN", STRUCT: "RECORD" };
const STANDARD_NAMES: Record<string, string> = { INTEGER: "INT64", FLOAT: "FLOAT64", BOOLEAN: "BOOL", RECORD: "STRUCT" };

/** INT64 -> INTEGER, FLOAT64 -> FLOAT, BOOL -> BOOLEAN, STRUCT -> RECORD; other names upper-cased. */
export const legacyTypeName = (type: string): string => LEGACY_NAMES[type.toUpperCase()] ?? type.toUpperCase();
/** The GoogleSQL name of a type (INTEGER -> INT64, ...). */
export const standardTypeName = (type: string): string => STANDARD_NAMES[type.toUpperCase()] ?? type.toUpperCase();
/** Whether two type names denote the same type (modulo the legacy aliases). */
export const sameType = (a: string, b: string): boolean => standardTypeName(a) === standardTypeName(b);
/** A schema with every type (nested ones too) under its legacy name, as `tables.get` answers it. */
export function legacyFields(fields: TableField[]): TableField[] {
  return fields.map((f) => ({ ...f, type: legacyTypeName(f.type), ...(f.fields ? { fields: legacyFields(f.fields) } : {}) }));
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
  DATETIME: "TIMESTAMP",
  TIME: "TIME",
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
    case DuckDBTypeId.TIME:
      return { type: "TIME" };
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

// Timestamps in results. Rows are kept with TIMESTAMP values as int64 microseconds and rewritten per
// request: `formatOptions.useInt64Timestamp` / `timestampOutputFormat` (jobs.query body,
// jobs.getQueryResults query string) choose int64 microseconds, ISO 8601 strings or, without either,
// float seconds (https://cloud.google.com/bigquery/docs/reference/rest/v2/DataFormatOptions).

export type WireRow = { f: WireCell[] };

/** The format a request asks for (`formatOptions.*`). */
export function timestampFormat(useInt64Timestamp: unknown, outputFormat: unknown): TimestampFormat {
  if (outputFormat === "ISO8601_STRING") return "iso";
  if (outputFormat === "INT64") return "int64";
  if (outputFormat === "FLOAT64") return "float";
  return useInt64Timestamp === true || useInt64Timestamp === "true" ? "int64" : "float";
}

function isoMicros(micros: bigint): string {
  const ms = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
  const sub = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
  return `${new Date(Number(ms)).toISOString().slice(0, 19)}.${sub.toString().padStart(6, "0")}Z`;
}

function reformat(value: unknown, field: TableField, ts: TimestampFormat): unknown {
  if (value === null || value === undefined) return null;
  if (field.mode === "REPEATED") return (value as WireCell[]).map((c) => ({ v: reformat(c.v, { ...field, mode: "NULLABLE" }, ts) }));
  if (field.type === "RECORD") return { f: (value as WireRow).f.map((c, i) => ({ v: reformat(c.v, (field.fields ?? [])[i] as TableField, ts) })) };
  if (field.type !== "TIMESTAMP") return value;
  const micros = BigInt(value as string);
  return ts === "iso" ? isoMicros(micros) : ts === "float" ? (Number(micros) / 1e6).toString() : micros.toString();
}

/** Rewrites the TIMESTAMP cells of int64-format rows into the requested format. */
export function formatRows(rows: WireRow[], fields: TableField[], ts: TimestampFormat): WireRow[] {
  if (ts === "int64") return rows;
  return rows.map((row) => ({ f: row.f.map((c, i) => ({ v: reformat(c.v, fields[i] as TableField, ts) })) }));
}

// ---------------------------------------------------------------------------------------------------
// Statements: what a query job is, and which tables it names.

export interface TableRef {
  project?: string;
  dataset: string;
  table: string;
}

export type Statement =
  | { kind: "createSchema"; project?: string; dataset: string; ifNotExists: boolean }
  | { kind: "create"; object: "VIEW" | "TABLE"; target: TableRef; orReplace: boolean; ifNotExists: boolean; body: string; partitionField?: string; clusterFields?: string[] }
  | { kind: "drop"; object: "VIEW" | "TABLE"; target: TableRef; ifExists: boolean }
  | { kind: "dml"; verb: "INSERT" | "UPDATE" | "DELETE" | "MERGE"; target?: TableRef }
  | { kind: "select" }
  /** Column-list `CREATE TABLE [IF NOT EXISTS] t (col TYPE, ...)` (no AS query). */
  | { kind: "createColumns"; target: TableRef; ifNotExists: boolean; fields: TableField[] }
  /** BEGIN [TRANSACTION], COMMIT [TRANSACTION], ROLLBACK [TRANSACTION]. */
  | { kind: "transaction"; verb: "BEGIN" | "COMMIT" | "ROLLBACK" }
  /** `CALL BQ.ABORT_SESSION()`: ends the job's session. */
  | { kind: "abortSession" };

/** Throws a QueryError (invalidQuery) if the GoogleSQL does not parse and translate. */
export function checkSyntax(googleSql: string): void {
  try {
    translate(googleSql);
  } catch (error) {
    throw new QueryError(`Syntax error: ${(error as Error).message}`, "invalidQuery");
  }
}

/** Index just past the quoted run at `start`: '...', "...", `...`, and the triple-quoted forms. */
function skipQuoted(sql: string, start: number): number {
  const q = sql[start] ?? "";
  if (q !== "`" && sql.startsWith(q.repeat(3), start)) {
    const end = sql.indexOf(q.repeat(3), start + 3);
    return end === -1 ? sql.length : end + 3;
  }
  for (let i = start + 1; i < sql.length; i++) {
    if (sql[i] === "\\") i++;
    else if (sql[i] === q) return i + 1;
  }
  return sql.length;
}

/**
 * The statement with string literals and comments blanked (same length, so indexes carry over) and
 * backticked names kept: what the regexes below match against.
 */
export function blankLiterals(sql: string): string {
  let out = "";
  for (let i = 0; i < sql.length; ) {
    const ch = sql[i] ?? "";
    if (ch === "'" || ch === '"') {
      const end = skipQuoted(sql, i);
      out += `${ch}${" ".repeat(Math.max(0, end - i - 2))}${ch}`.slice(0, end - i);
      i = end;
    } else if (ch === "`") {
      const end = skipQuoted(sql, i);
      out += sql.slice(i, end);
      i = end;
    } else if ((ch === "-" && sql[i + 1] === "-") || ch === "#") {
      const nl = sql.indexOf("\n", i);
      const end = nl === -1 ? sql.length : nl;
      out += " ".repeat(end - i);
      i = end;
    } else if (ch === "/" && sql[i + 1] === "*") {
      const close = sql.indexOf("*/", i + 2);
      const end = close === -1 ? sql.length : close + 2;
      out += sql.slice(i, end).replace(/[^\n]/g, " ");
      i = end;
    } else {
      out += ch;
      i += 1;
    }
  }
  return out;
}

/** `p.d.t`, `p`.`d`.`t`, d.t -> its parts. */
export function parseName(text: string): TableRef | undefined {
  const parts = text.replaceAll("`", "").split(".").filter((p) => p !== "");
  if (parts.length === 3) return { project: parts[0], dataset: parts[1] as string, table: parts[2] as string };
  if (parts.length === 2) return { dataset: parts[0] as string, table: parts[1] as string };
  return undefined;
}

const NAME = "(`[^`]+`(?:\\.`[^`]+`)*|[A-Za-z_][\\w-]*(?:\\.[A-Za-z_][\\w-]*){0,2})";

/**
 * Tables (and views) a statement names after FROM, JOIN, INTO, UPDATE, MERGE, USING, TABLE or VIEW,
 * with at least a dataset and a table part (single names are CTEs or aliases). INFORMATION_SCHEMA is
 * left out. Comma joins (`FROM a, b`) are not found: a known gap of this text-level reader.
 */
export function tableReferences(sql: string): TableRef[] {
  const text = blankLiterals(sql);
  const re = new RegExp(`\\b(?:FROM|JOIN|INTO|UPDATE|MERGE(?:\\s+INTO)?|USING|TABLE|VIEW|EXISTS)\\s+${NAME}`, "gi");
  const out: TableRef[] = [];
  for (const m of text.matchAll(re)) {
    const ref = parseName(m[1] ?? "");
    if (!ref || /information_schema/i.test(`${ref.dataset}.${ref.table}`)) continue;
    if (!out.some((r) => r.dataset === ref.dataset && r.table === ref.table)) out.push(ref);
  }
  return out;
}

/** Index of the top-level keyword AS that starts a DDL body (quotes and parentheses skipped), or -1. */
function bodyStart(sql: string, from: number): number {
  let depth = 0;
  for (let i = from; i < sql.length; ) {
    const ch = sql[i] ?? "";
    if (ch === "'" || ch === '"' || ch === "`") {
      i = skipQuoted(sql, i);
      continue;
    }
    if (ch === "(") depth++;
    else if (ch === ")") depth--;
    else if (depth === 0 && /^AS\b/i.test(sql.slice(i, i + 3)) && /[\s)]/.test(sql[i - 1] ?? " ")) return i + 2;
    i++;
  }
  return -1;
}

function leadingComments(sql: string): string {
  return sql.replace(/^(?:\s+|--[^\n]*\n?|\/\*[\s\S]*?\*\/)*/, "");
}

/** The columns of a column-list CREATE TABLE: `(name TYPE [NOT NULL], ...)`, scalar types only. */
function columnList(text: string): { fields: TableField[] } | { message: string } {
  let depth = 0;
  let end = -1;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "(") depth++;
    else if (text[i] === ")" && --depth === 0) {
      end = i;
      break;
    }
  }
  if (end === -1) return { message: "Syntax error: unclosed column list in CREATE TABLE" };
  const fields: TableField[] = [];
  for (const part of text.slice(1, end).split(",")) {
    const c = /^\s*(`[^`]+`|[A-Za-z_]\w*)\s+([A-Za-z0-9_]+)(\s+NOT\s+NULL)?\s*$/i.exec(part);
    if (!c) return { message: `the stand-in reads scalar column definitions only (name TYPE [NOT NULL]), not ${JSON.stringify(part.trim())}` };
    const type = standardTypeName(c[2] ?? "");
    if (!DUCKDB_TYPES[type]) return { message: `Syntax error: unknown type ${c[2] ?? ""} of column ${(c[1] ?? "").replaceAll("`", "")}` };
    fields.push({ name: (c[1] ?? "").replaceAll("`", ""), type, mode: c[3] ? "REQUIRED" : "NULLABLE" });
  }
  return { fields };
}

/**
 * Classifies one statement: the DDL the Dataform CLI sends (CREATE SCHEMA, CREATE [OR REPLACE]
 * VIEW/TABLE ... AS, DROP), DML, or a query. `PARTITION BY` and `CLUSTER BY` of a CREATE TABLE are read
 * so the registered table carries them (DAY partitioning on a column, the only kind the project uses).
 */
export function classifyStatement(sql: string): Statement | { kind: "unsupported"; message: string } {
  const text = leadingComments(sql);
  let m = /^CREATE\s+(?:SCHEMA|DATASET)\s+(IF\s+NOT\s+EXISTS\s+)?(`[^`]+`|[\w.-]+)/i.exec(text);
  if (m) {
    const parts = (m[2] ?? "").replaceAll("`", "").split(".");
    const dataset = parts[parts.length - 1] ?? "";
    return { kind: "createSchema", project: parts.length > 1 ? parts[0] : undefined, dataset, ifNotExists: Boolean(m[1]) };
  }
  m = /^CREATE\s+(OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?(MATERIALIZED\s+VIEW|VIEW|TABLE)\s+(IF\s+NOT\s+EXISTS\s+)?(`[^`]+`(?:\.`[^`]+`)*|[\w.-]+)/i.exec(text);
  if (m) {
    const target = parseName(m[4] ?? "");
    if (!target) return { kind: "unsupported", message: `Table name "${(m[4] ?? "").replaceAll("`", "")}" missing dataset while no default dataset is set in the request.` };
    const start = bodyStart(text, m[0].length);
    if (start === -1) {
      const rest = text.slice(m[0].length).trim();
      if ((m[2] ?? "").toUpperCase() === "TABLE" && !m[1] && rest.startsWith("(")) {
        const fields = columnList(rest);
        if ("message" in fields) return { kind: "unsupported", message: fields.message };
        return { kind: "createColumns", target, ifNotExists: Boolean(m[3]), fields: fields.fields };
      }
      return { kind: "unsupported", message: "the stand-in runs CREATE VIEW/TABLE ... AS <query> and CREATE TABLE [IF NOT EXISTS] t (columns) only" };
    }
    const middle = text.slice(m[0].length, start - 2);
    const blank = blankLiterals(middle);
    const part = /PARTITION\s+BY\s+(?:(?:DATE|TIMESTAMP_TRUNC|DATE_TRUNC|DATETIME_TRUNC)\s*\(\s*`?(\w+)`?[^)]*\)|`?(\w+)`?)/i.exec(blank);
    const cluster = /CLUSTER\s+BY\s+((?:`?\w+`?\s*,\s*)*`?\w+`?)/i.exec(blank);
    const object = (m[2] ?? "").toUpperCase().endsWith("VIEW") ? "VIEW" : "TABLE";
    return {
      kind: "create",
      object,
      target,
      orReplace: Boolean(m[1]),
      ifNotExists: Boolean(m[3]),
      body: text.slice(start).trim().replace(/;\s*$/, ""),
      ...(part ? { partitionField: part[1] ?? part[2] } : {}),
      ...(cluster?.[1] ? { clusterFields: cluster[1].split(",").map((c) => c.replaceAll("`", "").trim()) } : {}),
    };
  }
  m = /^DROP\s+(MATERIALIZED\s+VIEW|VIEW|TABLE)\s+(IF\s+EXISTS\s+)?(`[^`]+`(?:\.`[^`]+`)*|[\w.-]+)/i.exec(text);
  if (m) {
    const target = parseName(m[3] ?? "");
    if (!target) return { kind: "unsupported", message: `Table name "${m[3] ?? ""}" missing dataset while no default dataset is set in the request.` };
    return { kind: "drop", object: (m[1] ?? "").toUpperCase().endsWith("VIEW") ? "VIEW" : "TABLE", target, ifExists: Boolean(m[2]) };
  }
  m = /^(INSERT|UPDATE|DELETE|MERGE)\b/i.exec(text);
  if (m) {
    const verb = (m[1] ?? "").toUpperCase() as "INSERT" | "UPDATE" | "DELETE" | "MERGE";
    const t = new RegExp(`^(?:INSERT\\s+(?:INTO\\s+)?|UPDATE\\s+|DELETE\\s+(?:FROM\\s+)?|MERGE\\s+(?:INTO\\s+)?)${NAME}`, "i").exec(blankLiterals(text));
    return { kind: "dml", verb, target: parseName(t?.[1] ?? "") };
  }
  if (/^(SELECT|WITH|\()/i.test(text)) return { kind: "select" };
  // Transaction control (https://cloud.google.com/bigquery/docs/reference/standard-sql/procedural-language#begin_transaction).
  m = /^(BEGIN|COMMIT|ROLLBACK)(?:\s+TRANSACTION)?\s*;?\s*$/i.exec(text);
  if (m) return { kind: "transaction", verb: (m[1] ?? "").toUpperCase() as "BEGIN" | "COMMIT" | "ROLLBACK" };
  // Ends the session the job runs in (https://cloud.google.com/bigquery/docs/sessions-terminating).
  if (/^CALL\s+BQ\.ABORT_SESSION\s*\(\s*\)\s*;?\s*$/i.test(text)) return { kind: "abortSession" };
  return { kind: "unsupported", message: `the stand-in does not run this statement: ${text.slice(0, 60)}` };
}

// ---------------------------------------------------------------------------------------------------
// Dry-run bytes. BigQuery bills (and a dry run estimates) the bytes of the columns a query references in
// the tables it reads, with each value sized by its type (https://cloud.google.com/bigquery/pricing#data:
// INT64, FLOAT64, DATE, DATETIME, TIME and TIMESTAMP 8 bytes, NUMERIC 16, BIGNUMERIC 32, BOOL 1, STRING
// and BYTES 2 + their length in bytes, JSON the UTF-8 bytes of its text, STRUCT the sum of its fields, a
// repeated column the sum of its values, NULL 0), and leaves out partitions a filter on the partitioning
// column prunes (https://cloud.google.com/bigquery/docs/querying-partitioned-tables: "pruned partitions
// are not included when calculating the bytes scanned"). The stand-in's estimate, kept simple:
// - referenced columns: every column of the table whose name occurs as an identifier in the statement
//   (all of them for `SELECT *` / `t.*`); a name that is also an alias over-counts, never under-counts;
// - views are expanded: their query's tables count, not the view;
// - pruning: after the first WHERE, each `col >= X`, `col > X`, `col <= X`, `col < X`, `col = X` and
//   `col BETWEEN X AND Y` on the partitioning column with X, Y constant literals (query parameters are
//   bound to literals first) narrows the scanned days, as if the comparisons were AND-ed; a NULL partition
//   is pruned by any such filter. Day granularity: `col >= '2026-10-15 12:00'` keeps all of 2026-10-15;
// - DML counts the target's referenced columns as well (right for MERGE, UPDATE and DELETE, which read
//   the target; an overestimate for INSERT ... SELECT); CREATE VIEW processes 0 bytes, CREATE TABLE AS its
//   query's bytes.

const FIXED_SIZES: Record<string, number> = { INT64: 8, FLOAT64: 8, DATE: 8, DATETIME: 8, TIME: 8, TIMESTAMP: 8, NUMERIC: 16, BIGNUMERIC: 32, BOOL: 1, INTERVAL: 16 };

function sizeExpr(expr: string, field: TableField, depth = 0): string {
  if (field.mode === "REPEATED") {
    const v = `e${depth}`;
    return `COALESCE(list_sum(list_transform(${expr}, lambda ${v}: ${sizeExpr(v, { ...field, mode: "NULLABLE" }, depth + 1)})), 0)`;
  }
  const type = standardTypeName(field.type);
  const fixed = FIXED_SIZES[type];
  let size: string;
  if (fixed !== undefined) size = String(fixed);
  else if (type === "STRING") size = `2 + strlen(${expr})`;
  else if (type === "BYTES") size = `2 + octet_length(${expr})`;
  else if (type === "JSON") size = `strlen(CAST(${expr} AS VARCHAR))`;
  else if (type === "STRUCT") size = (field.fields ?? []).map((f) => sizeExpr(`struct_extract(${expr}, ${duckString(f.name)})`, f, depth + 1)).join(" + ") || "0";
  else size = "0";
  return `CASE WHEN ${expr} IS NULL THEN 0 ELSE ${size} END`;
}

export interface PartitionBounds {
  lower?: string;
  upper?: string;
}

/** Constant bounds on `column` after the first WHERE (see the estimator's notes), or undefined. */
export function partitionBounds(sql: string, column: string): PartitionBounds | undefined {
  const where = /\bWHERE\b/i.exec(blankLiterals(sql));
  if (!where) return undefined;
  const text = sql.slice(where.index);
  const col = `(?<![\\w.\`])(?:\`?[A-Za-z_]\\w*\`?\\.)?\`?${column.replace(/\W/g, "\\$&")}\`?`;
  const lit = "(?:(?:TIMESTAMP|DATE|DATETIME)\\s*)?\\(?\\s*'([^']*)'\\s*\\)?";
  const iso = (s: string): string | undefined => {
    const t = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00Z` : s.replace(" ", "T"));
    return Number.isNaN(t) ? undefined : new Date(t).toISOString();
  };
  const bounds: PartitionBounds = {};
  let found = false;
  const lower = (v: string | undefined) => {
    if (v && (!bounds.lower || v > bounds.lower)) bounds.lower = v;
  };
  const upper = (v: string | undefined) => {
    if (v && (!bounds.upper || v < bounds.upper)) bounds.upper = v;
  };
  for (const m of text.matchAll(new RegExp(`${col}\\s+BETWEEN\\s+${lit}\\s+AND\\s+${lit}`, "gi"))) {
    found = true;
    lower(iso(m[1] ?? ""));
    upper(iso(m[2] ?? ""));
  }
  for (const m of text.matchAll(new RegExp(`${col}\\s*(>=|>|<=|<|=)\\s*${lit}`, "gi"))) {
    found = true;
    const v = iso(m[2] ?? "");
    if (m[1]?.startsWith(">") || m[1] === "=") lower(v);
    if (m[1]?.startsWith("<") || m[1] === "=") upper(v);
  }
  return found ? bounds : undefined;
}

/** What the estimator needs to know about a table or view the statement names. */
export interface RelationInfo {
  fields: TableField[];
  partitionField?: string;
  /** For views: the view's query, whose tables are what a query on the view reads. */
  viewQuery?: string;
}

export interface ByteEstimate {
  bytes: number;
  /** Tables read (views expanded), for the per-table minimum of on-demand billing. */
  tables: TableRef[];
}

function identifiers(sql: string): Set<string> {
  const text = blankLiterals(sql).replace(/`/g, " ");
  return new Set((text.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []).map((t) => t.toLowerCase()));
}

/** `SELECT *`, `SELECT t.*` or `, *`: every column of the tables read. `COUNT(*)` is not one. */
const selectsStar = (sql: string) => /(?:\bSELECT\s+(?:DISTINCT\s+|ALL\s+)?|,\s*|[\w`]\.)\*/i.test(blankLiterals(sql));

// ---------------------------------------------------------------------------------------------------

export interface SqlEngine {
  createTable(dataset: string, table: string, fields: TableField[]): Promise<void>;
  addColumns(dataset: string, table: string, fields: TableField[]): Promise<void>;
  /** Drops NOT NULL from columns (REQUIRED relaxed to NULLABLE). */
  relaxColumns(dataset: string, table: string, names: string[]): Promise<void>;
  /** Appends rows (JSON objects as loaded) to a table. */
  insertRows(dataset: string, table: string, fields: TableField[], rows: Record<string, unknown>[]): Promise<void>;
  /** Deletes every row (WRITE_TRUNCATE). */
  truncate(dataset: string, table: string): Promise<void>;
  /** Every row of a table as JSON-friendly objects (after DML). */
  readRows(dataset: string, table: string): Promise<Record<string, unknown>[]>;
  count(dataset: string, table: string): Promise<number>;
  ensureSchema(dataset: string): Promise<void>;
  /** CREATE OR REPLACE VIEW/TABLE from a GoogleSQL query (parameters already bound); returns its columns. */
  createRelation(object: "VIEW" | "TABLE", dataset: string, name: string, googleSql: string): Promise<TableField[]>;
  drop(object: "VIEW" | "TABLE", dataset: string, name: string): Promise<void>;
  /** Bytes of `fields` over the rows of the partitions `bounds` (on `partitionField`) keeps. */
  columnBytes(dataset: string, table: string, fields: TableField[], prune?: { partitionField: string; bounds: PartitionBounds }): Promise<number>;
  /**
   * Binds, translates and runs one GoogleSQL statement (or script). With `session`, on that session's own
   * DuckDB connection, so a transaction begun there sees its own writes and no one else sees them before COMMIT.
   */
  query(sql: string, parameters: QueryParameter[] | undefined, parameterMode: string | undefined, ts: TimestampFormat, session?: string): Promise<QueryOutcome>;
  /** BEGIN / COMMIT / ROLLBACK on a session's connection (opened on first use). */
  transaction(session: string, verb: "BEGIN" | "COMMIT" | "ROLLBACK"): Promise<void>;
  /** Closes a session's connection (an open transaction on it is rolled back). */
  endSession(session: string): Promise<void>;
  close(): void;
}

const DML = /^\s*(INSERT|UPDATE|DELETE|MERGE)\b/i;

/** The dry-run estimate of a statement (parameters bound): see the notes above `FIXED_SIZES`. */
export async function estimateBytes(engine: SqlEngine, sql: string, catalog: (ref: TableRef) => RelationInfo | undefined, depth = 0): Promise<ByteEstimate> {
  const names = identifiers(sql);
  const star = selectsStar(sql);
  const out: ByteEstimate = { bytes: 0, tables: [] };
  for (const ref of tableReferences(sql)) {
    const info = catalog(ref);
    if (!info) continue;
    if (info.viewQuery !== undefined) {
      if (depth > 8) continue;
      const inner = await estimateBytes(engine, info.viewQuery, catalog, depth + 1);
      out.bytes += inner.bytes;
      out.tables.push(...inner.tables);
      continue;
    }
    out.tables.push(ref);
    const columns = star ? info.fields : info.fields.filter((f) => names.has(f.name.toLowerCase()));
    if (columns.length === 0) continue;
    const bounds = info.partitionField ? partitionBounds(sql, info.partitionField) : undefined;
    out.bytes += await engine.columnBytes(ref.dataset, ref.table, columns, bounds && info.partitionField ? { partitionField: info.partitionField, bounds } : undefined);
  }
  return out;
}

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
  /** One DuckDB connection per BigQuery session: DuckDB transactions are per connection. */
  const sessions = new Map<string, DuckDBConnection>();
  const sessionConnection = async (session: string): Promise<DuckDBConnection> => {
    let on = sessions.get(session);
    if (!on) {
      on = await instance.connect();
      await on.run("SET TimeZone = 'UTC'");
      sessions.set(session, on);
    }
    return on;
  };
  const toQueryError = (error: unknown): QueryError => {
    if (error instanceof QueryError) return error;
    const message = (error as Error).message;
    return new QueryError(message, /Catalog Error: (Table|View) .* does not exist/.test(message) ? "notFound" : "invalidQuery");
  };
  const translated = (googleSql: string): string => {
    try {
      return translate(googleSql);
    } catch (error) {
      throw new QueryError(`Syntax error: ${(error as Error).message}`, "invalidQuery");
    }
  };

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
    relaxColumns: (dataset, table, names) =>
      serial(async () => {
        for (const n of names) await db.run(`ALTER TABLE ${ref(dataset, table)} ALTER COLUMN ${quote(n)} DROP NOT NULL`);
      }),
    insertRows: (dataset, table, fields, rows) =>
      serial(async () => {
        if (rows.length === 0) return;
        files += 1;
        const path = join(scratch, `rows-${files}.ndjson`);
        writeFileSync(path, rows.map((r) => JSON.stringify(r)).join("\n"));
        const columns = fields.map((f) => `${duckString(f.name)}: ${duckString(duckdbType(f))}`).join(", ");
        const names = fields.map((f) => quote(f.name)).join(", ");
        try {
          await db.run(`INSERT INTO ${ref(dataset, table)} (${names}) SELECT ${names} FROM read_json(${duckString(path)}, format = 'newline_delimited', columns = {${columns}})`);
        } finally {
          rmSync(path);
        }
      }),
    truncate: (dataset, table) => serial(async () => void (await db.run(`DELETE FROM ${ref(dataset, table)}`))),
    readRows: (dataset, table) => serial(async () => (await db.runAndReadAll(`SELECT * FROM ${ref(dataset, table)}`)).getRowObjectsJson() as Record<string, unknown>[]),
    count: (dataset, table) => serial(async () => Number((await db.runAndReadAll(`SELECT COUNT(*) FROM ${ref(dataset, table)}`)).getRows()[0]?.[0] ?? 0)),
    ensureSchema: (dataset) => serial(async () => void (await db.run(`CREATE SCHEMA IF NOT EXISTS ${quote(dataset)}`))),
    createRelation: (object, dataset, name, googleSql) =>
      serial(async () => {
        const body = translated(googleSql);
        try {
          await db.run(`CREATE SCHEMA IF NOT EXISTS ${quote(dataset)}`);
          await db.run(`CREATE OR REPLACE ${object} ${ref(dataset, name)} AS\n${body}`);
          const reader = await db.runAndReadAll(`SELECT * FROM ${ref(dataset, name)} LIMIT 0`);
          return reader.columnNames().map((n, i) => wireField(n, reader.columnTypes()[i] as DuckDBType));
        } catch (error) {
          throw toQueryError(error);
        }
      }),
    drop: (object, dataset, name) => serial(async () => void (await db.run(`DROP ${object} IF EXISTS ${ref(dataset, name)}`))),
    columnBytes: (dataset, table, fields, prune) =>
      serial(async () => {
        const sum = fields.map((f) => `COALESCE(SUM(${sizeExpr(quote(f.name), f)}), 0)`).join(" + ");
        const where: string[] = [];
        if (prune) {
          const day = `CAST(${quote(prune.partitionField)} AS DATE)`;
          where.push(`${quote(prune.partitionField)} IS NOT NULL`);
          if (prune.bounds.lower) where.push(`${day} >= CAST(TIMESTAMPTZ ${duckString(prune.bounds.lower)} AS DATE)`);
          if (prune.bounds.upper) where.push(`${day} <= CAST(TIMESTAMPTZ ${duckString(prune.bounds.upper)} AS DATE)`);
        }
        try {
          const reader = await db.runAndReadAll(`SELECT ${sum} FROM ${ref(dataset, table)}${where.length ? ` WHERE ${where.join(" AND ")}` : ""}`);
          return Number(reader.getRows()[0]?.[0] ?? 0);
        } catch {
          // A table the engine does not hold (created while query execution was off): nothing to size.
          return 0;
        }
      }),
    query: (sql, parameters, parameterMode, ts, session) =>
      serial(async () => {
        const bound = bindParameters(sql, parameters, parameterMode);
        const duckdbSql = translated(bound);
        const on = session === undefined ? db : await sessionConnection(session);
        let reader;
        try {
          reader = await on.runAndReadAll(duckdbSql);
        } catch (error) {
          throw toQueryError(error);
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
    transaction: (session, verb) =>
      serial(async () => {
        const on = await sessionConnection(session);
        await on.run(verb === "BEGIN" ? "BEGIN TRANSACTION" : verb);
      }),
    endSession: (session) =>
      serial(async () => {
        const on = sessions.get(session);
        if (!on) return;
        sessions.delete(session);
        // A transaction still open on it is abandoned, as when BigQuery terminates a session.
        await on.run("ROLLBACK").catch(() => undefined);
        on.closeSync();
      }),
    close: () => {
      for (const on of sessions.values()) on.closeSync();
      sessions.clear();
      db.closeSync();
      instance.closeSync();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}
