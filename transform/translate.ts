/**
 * BigQuery (GoogleSQL) -> DuckDB translation: the project-owned layer on top of @polyglot-sql/sdk.
 *
 * polyglot does most of the work, but some of its output runs on DuckDB with a different meaning than
 * BigQuery's. Each fix below says what was wrong; each has a parity test in
 * test/transform-translate.test.ts that runs the translated SQL on DuckDB and checks BigQuery's
 * documented answer.
 */
import { Dialect, transpile } from "@polyglot-sql/sdk";

export class TranslationError extends Error {
  constructor(
    message: string,
    readonly sql: string,
  ) {
    super(message);
    this.name = "TranslationError";
  }
}

/** Index just after the matching close paren of the "(" at `open`, skipping strings and quoted names. */
function matchParen(sql: string, open: number): number {
  let depth = 0;
  for (let i = open; i < sql.length; i++) {
    const ch = sql[i];
    if (ch === "'" || ch === '"' || ch === "`") {
      i = skipQuoted(sql, i);
      continue;
    }
    if (ch === "(") depth++;
    else if (ch === ")") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  throw new TranslationError(`unbalanced parentheses at ${open}`, sql);
}

/** Index of the closing quote of the quoted run starting at `start` (handles doubled and \ escapes). */
function skipQuoted(sql: string, start: number): number {
  const q = sql[start];
  for (let i = start + 1; i < sql.length; i++) {
    if (sql[i] === "\\") {
      i++;
      continue;
    }
    if (sql[i] === q) {
      if (sql[i + 1] === q) {
        i++;
        continue;
      }
      return i;
    }
  }
  return sql.length;
}

/**
 * SQL comments, removed before anything else reads the text. The fixes find strings by their quotes, and
 * an apostrophe in a `--` comment ("the job's name") opened a string that ran to the next quote, so every
 * fix silently skipped the SQL between them. Comments carry no meaning for DuckDB: each becomes one space
 * (a `--` comment keeps its line break). Quotes inside string literals and quoted names are not comments.
 */
export function stripComments(sql: string): string {
  let out = "";
  let start = 0;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i];
    if (ch === "'" || ch === '"' || ch === "`") {
      i = skipQuoted(sql, i);
      continue;
    }
    if (ch === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      out += `${sql.slice(start, i)} `;
      start = end < 0 ? sql.length : end;
      i = start - 1;
    } else if (ch === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      out += `${sql.slice(start, i)} `;
      start = end < 0 ? sql.length : end + 2;
      i = start - 1;
    }
  }
  return out + sql.slice(start);
}

/** Splits a call's argument text at top-level commas. */
function splitArgs(inner: string): string[] {
  const args: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i];
    if (ch === "'" || ch === '"' || ch === "`") {
      i = skipQuoted(inner, i);
      continue;
    }
    if (ch === "(" || ch === "[") depth++;
    else if (ch === ")" || ch === "]") depth--;
    else if (ch === "," && depth === 0) {
      args.push(inner.slice(start, i).trim());
      start = i + 1;
    }
  }
  args.push(inner.slice(start).trim());
  return args;
}

/**
 * Rewrites every call `NAME(args...)` (case-insensitive, outside string literals) with `replace`; calls
 * nested in arguments are rewritten first. `replace` returns undefined to leave a call as it is.
 */
export function rewriteCalls(sql: string, name: string, replace: (args: string[]) => string | undefined): string {
  const pattern = new RegExp(`\\b${name}\\s*\\(`, "gi");
  let out = "";
  let pos = 0;
  for (let i = 0; i < sql.length; ) {
    const ch = sql[i];
    if (ch === "'" || ch === '"' || ch === "`") {
      i = skipQuoted(sql, i) + 1;
      continue;
    }
    pattern.lastIndex = i;
    const m = pattern.exec(sql);
    if (!m || m.index !== i || (i > 0 && /[\w.]/.test(sql[i - 1] ?? ""))) {
      i++;
      continue;
    }
    const open = i + m[0].length - 1;
    const close = matchParen(sql, open);
    const inner = rewriteCalls(sql.slice(open + 1, close - 1), name, replace);
    const replacement = replace(splitArgs(inner));
    out += sql.slice(pos, i) + (replacement ?? `${sql.slice(i, open + 1)}${inner})`);
    pos = close;
    i = close;
  }
  return out + sql.slice(pos);
}

// ---------------------------------------------------------------------------------------------------
// Fixes applied to the BigQuery text before polyglot.

/**
 * Fix 1 — three-part names. Dataform writes `project.dataset.table` in one backtick pair; polyglot keeps
 * it as one quoted identifier ("actions-warehouse.github_raw.workflow_runs"), which DuckDB reads as a
 * single table name. DuckDB has no project level: drop it and quote dataset and table separately.
 */
export function splitQualifiedNames(sql: string): string {
  return sql.replace(/`([^`]+)`/g, (whole, name: string) => {
    const parts = name.split(".");
    if (parts.length < 2 || parts.length > 3) return whole;
    return parts
      .slice(-2)
      .map((p) => `\`${p}\``)
      .join(".");
  });
}

/**
 * Fix 2 — TIMESTAMP_DIFF. polyglot emits DuckDB DATE_DIFF('SECOND', b, a), which counts unit
 * boundaries crossed (00:00:00.9 -> 00:00:01.1 is 1), while BigQuery returns whole elapsed units
 * truncated toward zero (0). Rewriting to DIV(UNIX_MICROS(a) - UNIX_MICROS(b), n) does not help either:
 * polyglot drops the parentheses (`EPOCH_US(a) - EPOCH_US(b) // n`). So the call is renamed here and
 * expanded after polyglot into microsecond arithmetic with DuckDB's `//` (truncates toward zero).
 */
const TIMESTAMP_DIFF_MICROS: Record<string, bigint> = {
  MICROSECOND: 1n,
  MILLISECOND: 1_000n,
  SECOND: 1_000_000n,
  MINUTE: 60_000_000n,
  HOUR: 3_600_000_000n,
  DAY: 86_400_000_000n,
};
const TS_DIFF_MARKER = "__bq_timestamp_diff";

function markTimestampDiff(sql: string): string {
  return rewriteCalls(sql, "TIMESTAMP_DIFF", (args) => `${TS_DIFF_MARKER}(${args.join(", ")})`);
}

function expandTimestampDiff(sql: string): string {
  return rewriteCalls(sql, TS_DIFF_MARKER, (args) => {
    const [a, b, unitArg] = args;
    const unit = (unitArg ?? "").replaceAll('"', "").toUpperCase();
    const micros = TIMESTAMP_DIFF_MICROS[unit];
    if (a === undefined || b === undefined || micros === undefined) {
      throw new TranslationError(`TIMESTAMP_DIFF unit not supported: ${unitArg ?? "(none)"}`, sql);
    }
    return `((EPOCH_US(${a}) - EPOCH_US(${b})) // ${micros})`;
  });
}

// ---------------------------------------------------------------------------------------------------
// Fixes applied to polyglot's DuckDB output.

/**
 * Fix 3 — DATE_TRUNC on DATE. BigQuery DATE_TRUNC(date, part) returns a DATE; DuckDB's date_trunc
 * returns a TIMESTAMP (so views expose the wrong type and comparisons with DATEs shift zones).
 * ISOWEEK (Monday start) is passed through as 'ISOWEEK', which DuckDB does not know: it is DuckDB's
 * 'week'. BigQuery WEEK starts on Sunday while DuckDB 'week' starts on Monday: subtract dayofweek
 * (Sunday = 0) instead.
 */
function fixDateTrunc(sql: string): string {
  return rewriteCalls(sql, "DATE_TRUNC", (args) => {
    const [partArg, value] = args;
    if (partArg === undefined || value === undefined || args.length !== 2) return undefined;
    const part = partArg.replace(/'/g, "").toUpperCase();
    const isDate = /^CAST\(.*\bAS DATE\)$/is.test(value);
    if (part === "WEEK" || part.startsWith("WEEK(SUNDAY")) {
      return `CAST((${value}) - CAST(DAYOFWEEK(${value}) AS INTEGER) AS DATE)`;
    }
    if (part === "ISOWEEK" || part === "WEEK(MONDAY)") return `CAST(DATE_TRUNC('week', ${value}) AS DATE)`;
    if (isDate) return `CAST(DATE_TRUNC('${part.toLowerCase()}', ${value}) AS DATE)`;
    return undefined;
  });
}

/**
 * Fix 4 — INTERVAL with a column. BigQuery accepts `INTERVAL n HOUR` with any INT64 expression;
 * polyglot emits `INTERVAL period_hours HOUR`, a DuckDB parser error for a bare column name. DuckDB
 * accepts the parenthesised form `INTERVAL (period_hours) HOUR`.
 */
function parenthesizeIntervalColumns(sql: string): string {
  return sql.replace(
    /\bINTERVAL\s+([A-Za-z_][\w.]*)\s+(MICROSECOND|MILLISECOND|SECOND|MINUTE|HOUR|DAY|WEEK|MONTH|QUARTER|YEAR)\b/gi,
    (_whole, expr: string, unit: string) => `INTERVAL (${expr}) ${unit}`,
  );
}

/** Applies `fn` to the text between quoted runs only (string literals and quoted names are kept). */
function outsideQuotes(sql: string, fn: (text: string) => string): string {
  let out = "";
  let start = 0;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i];
    if (ch === "'" || ch === '"' || ch === "`") {
      const end = skipQuoted(sql, i);
      out += fn(sql.slice(start, i)) + sql.slice(i, end + 1);
      start = end + 1;
      i = end;
    }
  }
  return out + fn(sql.slice(start));
}

/**
 * Fix 5 — float literals. BigQuery types `2.5` as FLOAT64; DuckDB as DECIMAL(2,1), so CEIL, ROUND and
 * arithmetic on literals return NUMERIC values with decimal rounding. Cast them to DOUBLE.
 */
function floatLiterals(sql: string): string {
  return outsideQuotes(sql, (text) =>
    text.replace(/(?<![\w.$])(\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\.\d+(?:[eE][+-]?\d+)?)(?![\w.])/g, (lit: string) => `CAST(${lit} AS DOUBLE)`),
  );
}

/**
 * Fix 6 — COUNTIF. polyglot emits DuckDB COUNT_IF, which returns NULL (not 0) over no rows; BigQuery's
 * COUNTIF returns 0. COUNT(CASE WHEN ... THEN 1 END) returns 0 and works as a window function too.
 */
function fixCountIf(sql: string): string {
  return rewriteCalls(sql, "COUNT_IF", (args) => (args.length === 1 ? `COUNT(CASE WHEN ${args[0]} THEN 1 END)` : undefined));
}

/**
 * Fix 7 — CONCAT. BigQuery CONCAT returns NULL if any argument is NULL; DuckDB's CONCAT skips NULLs.
 * DuckDB's `||` propagates NULL like BigQuery.
 */
function fixConcat(sql: string): string {
  return rewriteCalls(sql, "CONCAT", (args) => `(${args.map((a) => `(${a})`).join(" || ")})`);
}

/**
 * Fix 8 — REGEXP_CONTAINS. polyglot emits REGEXP_FULL_MATCH (the whole value must match); BigQuery's
 * REGEXP_CONTAINS is true when any substring matches, which is DuckDB's REGEXP_MATCHES.
 */
const REGEXP_CONTAINS_MARKER = "__bq_regexp_contains";
function markRegexpContains(sql: string): string {
  return rewriteCalls(sql, "REGEXP_CONTAINS", (args) => `${REGEXP_CONTAINS_MARKER}(${args.join(", ")})`);
}
function expandRegexpContains(sql: string): string {
  return rewriteCalls(sql, REGEXP_CONTAINS_MARKER, (args) => `REGEXP_MATCHES(${args.join(", ")})`);
}

/**
 * Fix 9 — JSON_VALUE. polyglot emits `json -> path`, which returns JSON (strings keep their quotes);
 * BigQuery's JSON_VALUE returns the scalar as STRING (NULL for objects and arrays), like DuckDB's
 * json_value(...) cast to VARCHAR after unquoting: json_extract_string on scalars.
 */
const JSON_VALUE_MARKER = "__bq_json_value";
function markJsonValue(sql: string): string {
  return rewriteCalls(sql, "JSON_VALUE", (args) => `${JSON_VALUE_MARKER}(${args.length === 1 ? `${args[0]}, '$'` : args.join(", ")})`);
}
function expandJsonValue(sql: string): string {
  return rewriteCalls(sql, JSON_VALUE_MARKER, (args) => {
    const [json, path] = args;
    return `CASE WHEN json_type(CAST(${json} AS JSON), ${path}) IN ('OBJECT', 'ARRAY') THEN NULL ELSE json_extract_string(CAST(${json} AS JSON), ${path}) END`;
  });
}

/**
 * Fix 10 — JSON_QUERY_ARRAY. DuckDB has no such function (polyglot passes the name through). BigQuery returns
 * the elements of the JSON array at a path as ARRAY<JSON>, NULL when the path is missing or holds no array;
 * DuckDB's json_extract with `[*]` appended to the path returns the elements (an empty list when there is no
 * array), so it is guarded by json_type. The path must be a string literal.
 */
const JSON_QUERY_ARRAY_MARKER = "__bq_json_query_array";
function markJsonQueryArray(sql: string): string {
  return rewriteCalls(sql, "JSON_QUERY_ARRAY", (args) => `${JSON_QUERY_ARRAY_MARKER}(${args.length === 1 ? `${args[0]}, '$'` : args.join(", ")})`);
}
function expandJsonQueryArray(sql: string): string {
  return rewriteCalls(sql, JSON_QUERY_ARRAY_MARKER, (args) => {
    const [json, path] = args;
    if (json === undefined || path === undefined || !/^'[^']*'$/.test(path)) throw new TranslationError(`JSON_QUERY_ARRAY needs a string literal path, got ${path ?? "(none)"}`, sql);
    const elements = `${path.slice(0, -1)}[*]'`;
    return `CASE WHEN json_type(CAST(${json} AS JSON), ${path}) = 'ARRAY' THEN CAST(json_extract(CAST(${json} AS JSON), ${elements}) AS JSON[]) END`;
  });
}

/** Names of the fixes, so a test can show what a fix changes by turning it off. */
export const FIXES = ["qualifiedNames", "timestampDiff", "dateTrunc", "intervalColumns", "floatLiterals", "countIf", "concat", "regexpContains", "jsonValue", "jsonQueryArray"] as const;
export type FixName = (typeof FIXES)[number];

export interface TranslateOptions {
  /** Pretty-print polyglot's output (slower; for debugging). */
  pretty?: boolean;
  /** Fixes to leave out (tests only: shows the mistranslation a fix exists for). */
  disable?: FixName[];
}

/** Translates one BigQuery statement (or several, `;`-separated) to DuckDB SQL. */
export function translate(bigquerySql: string, options: TranslateOptions = {}): string {
  const off = new Set(options.disable ?? []);
  const step = (name: FixName, fn: (sql: string) => string) => (sql: string) => (off.has(name) ? sql : fn(sql));
  const before = [
    step("qualifiedNames", splitQualifiedNames),
    step("timestampDiff", markTimestampDiff),
    step("regexpContains", markRegexpContains),
    step("jsonValue", markJsonValue),
    step("jsonQueryArray", markJsonQueryArray),
  ];
  const after = [
    step("timestampDiff", expandTimestampDiff),
    step("regexpContains", expandRegexpContains),
    step("jsonValue", expandJsonValue),
    step("jsonQueryArray", expandJsonQueryArray),
    step("dateTrunc", fixDateTrunc),
    step("intervalColumns", parenthesizeIntervalColumns),
    step("countIf", fixCountIf),
    step("concat", fixConcat),
    step("floatLiterals", floatLiterals),
  ];
  const pre = before.reduce((sql, fn) => fn(sql), stripComments(bigquerySql));
  const result = transpile(pre, Dialect.BigQuery, Dialect.DuckDB, { pretty: options.pretty ?? false });
  if (!result.success || !result.sql) {
    const where = result.errorLine ? ` (line ${result.errorLine}, column ${result.errorColumn ?? "?"})` : "";
    throw new TranslationError(`polyglot could not translate${where}: ${result.error ?? "unknown error"}`, bigquerySql);
  }
  return result.sql.map((s) => after.reduce((sql, fn) => fn(sql), s)).join(";\n");
}
