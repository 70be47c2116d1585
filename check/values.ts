/**
 * One value model for both engines, so results can be compared: fixture JSON → ZetaSQL ValueProto,
 * ZetaSQL ValueProto → plain value, DuckDB value → plain value, and an order-insensitive row comparison.
 *
 * Plain values: null, INT64 as a decimal string (exact beyond 2^53), FLOAT64 as number, STRING, BOOL,
 * DATE as YYYY-MM-DD, TIMESTAMP as YYYY-MM-DDTHH:MM:SS.ffffffZ (microseconds, UTC), JSON as its text,
 * ARRAY as an array of plain values.
 */
import {
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBListValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBType,
  type DuckDBValue,
} from "@duckdb/node-api";
import type { ValueProto } from "./zetasql.js";
import { typeName, type ZType } from "./zetasql-types.js";

export type Plain = null | string | number | boolean | Plain[];

const MICROS_PER_DAY = 86_400_000_000n;

/** Float tolerance of every comparison: |a - b| <= 1e-9 * max(1, |a|, |b|). */
export const FLOAT_TOLERANCE = 1e-9;

function pad(n: number | bigint, width = 2): string {
  return String(n).padStart(width, "0");
}

export function daysToDate(days: number): string {
  return new Date(days * 86_400_000).toISOString().slice(0, 10);
}

export function dateToDays(text: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  if (!m) throw new Error(`not a DATE (YYYY-MM-DD): ${text}`);
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / 86_400_000;
}

export function microsToTimestamp(micros: bigint): string {
  const floorDiv = (a: bigint, b: bigint) => (a >= 0n ? a / b : -((-a + b - 1n) / b));
  const days = floorDiv(micros, MICROS_PER_DAY);
  const rest = micros - days * MICROS_PER_DAY;
  const secs = rest / 1_000_000n;
  const frac = rest % 1_000_000n;
  return `${daysToDate(Number(days))}T${pad(secs / 3600n)}:${pad((secs / 60n) % 60n)}:${pad(secs % 60n)}.${pad(frac, 6)}Z`;
}

/** ISO-8601 instant (any offset, up to microseconds) → microseconds since the epoch. */
export function timestampToMicros(text: string): bigint {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i.exec(text.trim());
  if (!m) throw new Error(`not a TIMESTAMP (ISO-8601): ${text}`);
  const [, date, hh, mm, ss, frac = "", zone = "Z"] = m;
  let offsetMinutes = 0;
  if (zone.toUpperCase() !== "Z") {
    const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
    if (!z) throw new Error(`bad offset in ${text}`);
    offsetMinutes = (z[1] === "-" ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3] ?? 0));
  }
  const seconds = BigInt(dateToDays(date as string)) * 86_400n + BigInt(Number(hh) * 3600 + Number(mm) * 60 + Number(ss) - offsetMinutes * 60);
  return seconds * 1_000_000n + BigInt(frac.padEnd(6, "0") || "0");
}

/** A fixture value (JSON) of the given type → ZetaSQL ValueProto; null/undefined → NULL. */
export function toValueProto(value: unknown, type: ZType, where = "value"): ValueProto {
  if (value === null || value === undefined) return {};
  const fail = (): never => {
    throw new Error(`${where}: ${JSON.stringify(value)} is not a ${typeName(type)}`);
  };
  switch (type.typeKind) {
    case "TYPE_INT64":
      if ((typeof value === "number" && Number.isInteger(value)) || (typeof value === "string" && /^-?\d+$/.test(value))) return { int64Value: String(value) };
      return fail();
    case "TYPE_DOUBLE":
      return typeof value === "number" ? { doubleValue: value } : fail();
    case "TYPE_STRING":
      return typeof value === "string" ? { stringValue: value } : fail();
    case "TYPE_BOOL":
      return typeof value === "boolean" ? { boolValue: value } : fail();
    case "TYPE_DATE":
      return typeof value === "string" ? { dateValue: dateToDays(value) } : fail();
    case "TYPE_TIMESTAMP": {
      if (typeof value !== "string") return fail();
      const micros = timestampToMicros(value);
      const seconds = micros >= 0n ? micros / 1_000_000n : -((-micros + 999_999n) / 1_000_000n);
      return { timestampValue: { seconds: String(seconds), nanos: Number(micros - seconds * 1_000_000n) * 1000 } };
    }
    case "TYPE_JSON":
      return { jsonValue: typeof value === "string" ? value : JSON.stringify(value) };
    case "TYPE_ARRAY": {
      if (!Array.isArray(value) || !type.arrayType) return fail();
      const element = type.arrayType.elementType;
      return { arrayValue: { element: value.map((v, i) => toValueProto(v, element, `${where}[${i}]`)) } };
    }
    default:
      throw new Error(`${where}: fixtures do not support ${typeName(type)}`);
  }
}

/** ZetaSQL ValueProto → plain value. */
export function fromValueProto(v: ValueProto, type: ZType): Plain {
  if (!v.value) return null;
  switch (type.typeKind) {
    case "TYPE_INT64":
      return String(v.int64Value);
    case "TYPE_DOUBLE":
      return Number(v.doubleValue);
    case "TYPE_STRING":
      return v.stringValue ?? "";
    case "TYPE_BOOL":
      return Boolean(v.boolValue);
    case "TYPE_DATE":
      return daysToDate(v.dateValue ?? 0);
    case "TYPE_TIMESTAMP":
      return microsToTimestamp(BigInt(v.timestampValue?.seconds ?? "0") * 1_000_000n + BigInt(Math.trunc((v.timestampValue?.nanos ?? 0) / 1000)));
    case "TYPE_JSON":
      return v.jsonValue ?? "";
    case "TYPE_ARRAY":
      return (v.arrayValue?.element ?? []).map((e) => fromValueProto(e, type.arrayType?.elementType ?? { typeKind: "TYPE_STRING" }));
    default:
      throw new Error(`results of type ${typeName(type)} are not supported`);
  }
}

/** DuckDB value → plain value. TIMESTAMP without zone is kept distinct (a DATETIME in BigQuery terms). */
export function fromDuckDb(v: DuckDBValue): Plain {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") return v;
  if (v instanceof DuckDBTimestampTZValue) return microsToTimestamp(v.micros);
  if (v instanceof DuckDBTimestampValue) return `DATETIME ${microsToTimestamp(v.micros).replace(/Z$/, "")}`;
  if (v instanceof DuckDBDateValue) return daysToDate(v.days);
  if (v instanceof DuckDBListValue) return v.items.map((i) => fromDuckDb(i));
  if (v instanceof DuckDBDecimalValue) return v.toDouble();
  return String(v);
}

/** DuckDB column type → the BigQuery type it stands for (integer widths collapse to INT64). */
export function duckDbTypeName(t: DuckDBType): string {
  const s = t.toString().toUpperCase();
  const list = /^(.*)\[\]$/.exec(s);
  if (list?.[1]) return `ARRAY<${scalarDuckName(list[1])}>`;
  return scalarDuckName(s);
}

function scalarDuckName(s: string): string {
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|INT\d*)$/.test(s)) return "INT64";
  if (/^(DOUBLE|FLOAT|REAL)$/.test(s)) return "FLOAT64";
  if (s.startsWith("DECIMAL")) return "NUMERIC";
  if (s === "VARCHAR") return "STRING";
  if (s === "BOOLEAN") return "BOOL";
  if (s === "TIMESTAMP WITH TIME ZONE" || s === "TIMESTAMPTZ") return "TIMESTAMP";
  if (s === "TIMESTAMP") return "DATETIME";
  return s;
}

export interface Relation {
  columns: { name: string; type: string }[];
  rows: Plain[][];
}

function close(a: number, b: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  return Math.abs(a - b) <= FLOAT_TOLERANCE * Math.max(1, Math.abs(a), Math.abs(b));
}

/** Equality of plain values; `loose` also equates an INT64 string with the same number (hand-written expectations). */
export function plainEqual(a: Plain, b: Plain, loose = false): boolean {
  if (typeof a === "number" && typeof b === "number") return close(a, b);
  if (loose && typeof a === "number" && typeof b === "string" && /^-?\d+$/.test(b)) return close(a, Number(b));
  if (loose && typeof b === "number" && typeof a === "string" && /^-?\d+$/.test(a)) return close(Number(a), b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => plainEqual(x, b[i] ?? null, loose));
  return a === b;
}

/** A sort key that puts rows equal within FLOAT_TOLERANCE next to each other. */
function sortKey(row: Plain[]): string {
  return JSON.stringify(row, (_k, v: unknown) => (typeof v === "number" ? String(Number(v.toPrecision(8))) : v));
}

export interface Difference {
  kind: "columns" | "types" | "rows";
  message: string;
}

/**
 * Compares two results: same column names in the same order, same types (unless `ignoreTypes`), and
 * the same multiset of rows (order-insensitive, floats within FLOAT_TOLERANCE).
 */
export function compareRelations(expected: Relation, actual: Relation, options: { ignoreTypes?: boolean; loose?: boolean; labels?: [string, string] } = {}): Difference | undefined {
  const [le, la] = options.labels ?? ["expected", "actual"];
  const en = expected.columns.map((c) => c.name).join(", ");
  const an = actual.columns.map((c) => c.name).join(", ");
  if (en !== an) return { kind: "columns", message: `columns differ:\n  ${le}: ${en}\n  ${la}: ${an}` };
  if (!options.ignoreTypes) {
    const bad = expected.columns.filter((c, i) => c.type !== actual.columns[i]?.type);
    if (bad.length > 0) {
      return { kind: "types", message: `column types differ: ${bad.map((c) => `${c.name} ${le} ${c.type}, ${la} ${actual.columns.find((x) => x.name === c.name)?.type}`).join("; ")}` };
    }
  }
  const e = [...expected.rows].sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
  const a = [...actual.rows].sort((x, y) => sortKey(x).localeCompare(sortKey(y)));
  const unmatched = [...a];
  const missing: Plain[][] = [];
  for (const row of e) {
    const i = unmatched.findIndex((r) => r.length === row.length && r.every((v, j) => plainEqual(row[j] ?? null, v, options.loose)));
    if (i >= 0) unmatched.splice(i, 1);
    else missing.push(row);
  }
  if (missing.length === 0 && unmatched.length === 0) return undefined;
  const show = (rows: Plain[][]) =>
    rows
      .slice(0, 10)
      .map((r) => `    {${expected.columns.map((c, i) => `${c.name}: ${JSON.stringify(r[i])}`).join(", ")}}`)
      .join("\n") + (rows.length > 10 ? `\n    ... ${rows.length - 10} more` : "");
  return {
    kind: "rows",
    message:
      `rows differ (${expected.rows.length} ${le}, ${actual.rows.length} ${la}):\n` +
      (missing.length ? `  only in ${le}:\n${show(missing)}\n` : "") +
      (unmatched.length ? `  only in ${la}:\n${show(unmatched)}\n` : ""),
  };
}
