/**
 * Certified functions: every built-in function or operator the models call, with cases whose expected
 * values are the examples (or the stated rules) of the GoogleSQL/BigQuery function reference. Each case
 * runs on the ZetaSQL reference evaluator and on DuckDB through transform/translate.ts
 * (test/functions.test.ts); `check` fails when a model calls a function that is not listed here.
 *
 * To certify a function: add an entry keyed by ZetaSQL's name (what `check` prints, e.g. `timestamp_diff`,
 * `$divide`), with at least one case quoting the documentation (`doc`), then run
 * `npx vitest run test/functions.test.ts`. If DuckDB disagrees, fix transform/translate.ts, not the case.
 */
import type { Plain } from "./values.js";

export interface FunctionCase {
  /** A query returning one row with one column. */
  sql: string;
  expected: Plain;
  /** BigQuery type of the result. */
  type: string;
}

export interface CertifiedFunction {
  /** Documentation page the expected values come from. */
  doc: string;
  cases: FunctionCase[];
}

const REF = "https://cloud.google.com/bigquery/docs/reference/standard-sql";
const c = (sql: string, expected: Plain, type: string): FunctionCase => ({ sql: sql.trim().toUpperCase().startsWith("SELECT") || sql.trim().toUpperCase().startsWith("WITH") ? sql : `SELECT ${sql} AS v`, expected, type });

export const certifiedFunctions: Record<string, CertifiedFunction> = {
  // --- operators (operators page: arithmetic, comparison, logical, IN, IS, concatenation, array subscript)
  $add: { doc: `${REF}/operators#arithmetic_operators`, cases: [c("1 + 2", "3", "INT64"), c("CAST(NULL AS INT64) + 1", null, "INT64")] },
  $subtract: { doc: `${REF}/operators#arithmetic_operators`, cases: [c("5 - 2", "3", "INT64"), c("CAST(NULL AS INT64) - 1", null, "INT64"), c("STRPOS('deploy / build', ' / ') - 1", "6", "INT64")] },
  $multiply: { doc: `${REF}/operators#arithmetic_operators`, cases: [c("2 * 3", "6", "INT64"), c("2 * 0.5", 1, "FLOAT64")] },
  // "Division ... INT64 / INT64 returns FLOAT64": 5 / 2 is 2.5, not 2.
  $divide: { doc: `${REF}/operators#arithmetic_operators`, cases: [c("5 / 2", 2.5, "FLOAT64"), c("-7 / 2", -3.5, "FLOAT64"), c("1 / 3", 1 / 3, "FLOAT64")] },
  $equal: { doc: `${REF}/operators#comparison_operators`, cases: [c("1 = 1", true, "BOOL"), c("'a' = 'A'", false, "BOOL"), c("CAST(NULL AS INT64) = 1", null, "BOOL")] },
  $not_equal: { doc: `${REF}/operators#comparison_operators`, cases: [c("1 != 2", true, "BOOL"), c("'' != CAST(NULL AS STRING)", null, "BOOL")] },
  $greater: { doc: `${REF}/operators#comparison_operators`, cases: [c("2 > 1", true, "BOOL"), c("TIMESTAMP '2026-01-01 00:00:01+00' > TIMESTAMP '2026-01-01 00:00:00+00'", true, "BOOL")] },
  $greater_or_equal: { doc: `${REF}/operators#comparison_operators`, cases: [c("DATE '2026-01-01' >= DATE '2026-01-01'", true, "BOOL"), c("1 >= CAST(NULL AS INT64)", null, "BOOL")] },
  $less: { doc: `${REF}/operators#comparison_operators`, cases: [c("1 < 2", true, "BOOL"), c("'b' < 'a'", false, "BOOL")] },
  $less_or_equal: { doc: `${REF}/operators#comparison_operators`, cases: [c("DATE '2025-12-31' <= DATE '2026-01-01'", true, "BOOL")] },
  // Three-valued logic table of the logical operators section.
  $and: { doc: `${REF}/operators#logical_operators`, cases: [c("TRUE AND CAST(NULL AS BOOL)", null, "BOOL"), c("FALSE AND CAST(NULL AS BOOL)", false, "BOOL")] },
  $or: { doc: `${REF}/operators#logical_operators`, cases: [c("TRUE OR CAST(NULL AS BOOL)", true, "BOOL"), c("FALSE OR CAST(NULL AS BOOL)", null, "BOOL")] },
  $not: { doc: `${REF}/operators#logical_operators`, cases: [c("NOT TRUE", false, "BOOL"), c("NOT CAST(NULL AS BOOL)", null, "BOOL")] },
  $is_null: { doc: `${REF}/operators#is_operators`, cases: [c("CAST(NULL AS INT64) IS NULL", true, "BOOL"), c("0 IS NULL", false, "BOOL")] },
  // "IN with a NULL in the list returns NULL when there is no match" (IN operator semantics table).
  $in: { doc: `${REF}/operators#in_operators`, cases: [c("'a' IN ('a', 'b')", true, "BOOL"), c("'c' IN ('a', 'b')", false, "BOOL"), c("'c' IN ('a', CAST(NULL AS STRING))", null, "BOOL"), c("CAST(NULL AS STRING) IN ('a')", null, "BOOL")] },
  // CASE without ELSE returns NULL when no WHEN matches (conditional expressions page).
  $case_no_value: { doc: `${REF}/conditional_expressions#case`, cases: [c("CASE WHEN 1 > 2 THEN 'x' END", null, "STRING"), c("CASE WHEN 1 < 2 THEN 'x' ELSE 'y' END", "x", "STRING")] },
  // Concatenation operator ||: "NULL if any input is NULL".
  concat: { doc: `${REF}/string_functions#concat`, cases: [c("CONCAT('The sun ', 'is hot')", "The sun is hot", "STRING"), c("'a' || 'b' || 'c'", "abc", "STRING"), c("SELECT 'a' || s AS v FROM UNNEST([CAST(NULL AS STRING)]) AS s", null, "STRING"), c("SELECT CONCAT('a', s) AS v FROM UNNEST([CAST(NULL AS STRING)]) AS s", null, "STRING")] },
  // ['coffee', 'tea', 'milk'][SAFE_OFFSET(6)] is NULL (array subscript operator examples).
  $safe_array_at_offset: {
    doc: `${REF}/operators#array_subscript_operator`,
    cases: [c("['coffee', 'tea', 'milk'][SAFE_OFFSET(1)]", "tea", "STRING"), c("['coffee', 'tea', 'milk'][SAFE_OFFSET(6)]", null, "STRING")],
  },
  // COUNT(*) counts rows including NULLs: [1, 4, NULL, 4, 5] → 5.
  $count_star: { doc: `${REF}/aggregate_functions#count`, cases: [c("SELECT COUNT(*) AS v FROM UNNEST([1, 4, NULL, 4, 5]) AS x", "5", "INT64"), c("SELECT COUNT(*) AS v FROM UNNEST(ARRAY<INT64>[]) AS x", "0", "INT64")] },

  // --- aggregate functions (examples of the aggregate functions page)
  count: {
    doc: `${REF}/aggregate_functions#count`,
    cases: [c("SELECT COUNT(x) AS v FROM UNNEST([1, 4, NULL, 4, 5]) AS x", "4", "INT64"), c("SELECT COUNT(DISTINCT x) AS v FROM UNNEST([1, 4, 4, 5]) AS x", "3", "INT64")],
  },
  countif: {
    doc: `${REF}/aggregate_functions#countif`,
    cases: [
      c("SELECT COUNTIF(x < 0) AS v FROM UNNEST([5, -2, 3, 6, -10, -7, 4, 0]) AS x", "3", "INT64"),
      c("SELECT COUNTIF(x > 0) AS v FROM UNNEST([5, -2, 3, 6, -10, -7, 4, 0]) AS x", "4", "INT64"),
      c("SELECT COUNTIF(x > 0) AS v FROM UNNEST(ARRAY<INT64>[]) AS x", "0", "INT64"),
    ],
  },
  sum: {
    doc: `${REF}/aggregate_functions#sum`,
    cases: [c("SELECT SUM(x) AS v FROM UNNEST([1, 2, 3, 4, 5, 4, 3, 2, 1]) AS x", "25", "INT64"), c("SELECT SUM(x) AS v FROM UNNEST([CAST(NULL AS INT64)]) AS x", null, "INT64")],
  },
  avg: { doc: `${REF}/aggregate_functions#avg`, cases: [c("SELECT AVG(x) AS v FROM UNNEST([0, 2, 4, 4, 5]) AS x", 3, "FLOAT64"), c("SELECT AVG(x) AS v FROM UNNEST([1, NULL, 2]) AS x", 1.5, "FLOAT64")] },
  max: { doc: `${REF}/aggregate_functions#max`, cases: [c("SELECT MAX(x) AS v FROM UNNEST([8, 37, 55, 4]) AS x", "55", "INT64"), c("SELECT MAX(x) AS v FROM UNNEST(ARRAY<INT64>[]) AS x", null, "INT64")] },
  min: { doc: `${REF}/aggregate_functions#min`, cases: [c("SELECT MIN(x) AS v FROM UNNEST([8, 37, 55, 4]) AS x", "4", "INT64")] },
  // Deterministic only when every row holds the same value, which is how the models use it.
  any_value: { doc: `${REF}/aggregate_functions#any_value`, cases: [c("SELECT ANY_VALUE(x) AS v FROM UNNEST(['apple', 'apple']) AS x", "apple", "STRING")] },

  // --- window functions
  row_number: {
    doc: `${REF}/numbering_functions#row_number`,
    cases: [c("SELECT ARRAY_AGG(n ORDER BY x) AS v FROM (SELECT x, ROW_NUMBER() OVER (ORDER BY x) AS n FROM UNNEST([10, 20, 30]) AS x)", ["1", "2", "3"], "ARRAY<INT64>")],
  },
  // Example: x in [0, 3, NULL, 1, 2]: min 0, percentile1 0.03, median 1.5, percentile90 2.7, max 3.
  percentile_cont: {
    doc: `${REF}/navigation_functions#percentile_cont`,
    cases: [
      c("SELECT PERCENTILE_CONT(x, 0) OVER () AS v FROM UNNEST([0, 3, NULL, 1, 2]) AS x LIMIT 1", 0, "FLOAT64"),
      c("SELECT PERCENTILE_CONT(x, 0.01) OVER () AS v FROM UNNEST([0, 3, NULL, 1, 2]) AS x LIMIT 1", 0.03, "FLOAT64"),
      c("SELECT PERCENTILE_CONT(x, 0.5) OVER () AS v FROM UNNEST([0, 3, NULL, 1, 2]) AS x LIMIT 1", 1.5, "FLOAT64"),
      c("SELECT PERCENTILE_CONT(x, 0.9) OVER () AS v FROM UNNEST([0, 3, NULL, 1, 2]) AS x LIMIT 1", 2.7, "FLOAT64"),
      c("SELECT PERCENTILE_CONT(x, 1) OVER () AS v FROM UNNEST([0, 3, NULL, 1, 2]) AS x LIMIT 1", 3, "FLOAT64"),
    ],
  },

  // --- scalar functions
  coalesce: { doc: `${REF}/conditional_expressions#coalesce`, cases: [c("COALESCE('A', 'B', 'C')", "A", "STRING"), c("COALESCE(NULL, 'B', 'C')", "B", "STRING")] },
  nullif: { doc: `${REF}/conditional_expressions#nullif`, cases: [c("NULLIF(0, 0)", null, "INT64"), c("NULLIF(10, 0)", "10", "INT64")] },
  // REGEXP_CONTAINS is true when a substring matches ("use ^ and $ for a full match").
  regexp_contains: {
    doc: `${REF}/string_functions#regexp_contains`,
    cases: [c("REGEXP_CONTAINS('foo@example.com', r'@[a-zA-Z0-9-]+\\.[a-zA-Z0-9-.]+')", true, "BOOL"), c("REGEXP_CONTAINS('www.example.net', r'^[a-zA-Z0-9-]+\\.[a-zA-Z0-9-]+$')", false, "BOOL"), c("REGEXP_CONTAINS('release/1.2', r'^release')", true, "BOOL")],
  },
  // JSON_VALUE('{"name": "Jakob", "age": "6" }', '$.age') is '6' (no quotes); objects and arrays give NULL.
  json_value: {
    doc: `${REF}/json_functions#json_value`,
    cases: [c(`JSON_VALUE('{"name": "Jakob", "age": "6" }', '$.age')`, "6", "STRING"), c(`JSON_VALUE('{"fruits": ["apple", "banana"]}', '$.fruits')`, null, "STRING"), c(`JSON_VALUE('{"a": {"b": "x"}}', '$.a.b')`, "x", "STRING")],
  },
  // JSON_QUERY_ARRAY(JSON '{"fruits": ["apples", "oranges", "grapes"]}', '$.fruits') gives the three elements as JSON;
  // NULL when the path holds no array. The graph models unnest parsed workflow jobs and edges with it.
  json_query_array: {
    doc: `${REF}/json_functions#json_query_array`,
    cases: [
      c(`SELECT COUNT(*) AS v FROM UNNEST(JSON_QUERY_ARRAY(JSON '{"fruits": ["apples", "oranges", "grapes"]}', '$.fruits')) AS f`, "3", "INT64"),
      c(`SELECT MAX(JSON_VALUE(f)) AS v FROM UNNEST(JSON_QUERY_ARRAY(JSON '{"fruits": ["apples", "oranges", "grapes"]}', '$.fruits')) AS f`, "oranges", "STRING"),
      c(`SELECT COUNT(*) AS v FROM UNNEST(JSON_QUERY_ARRAY(JSON '{"jobs": [{"job_id": "a"}, {"job_id": "b"}]}', '$.jobs')) AS j`, "2", "INT64"),
      c(`SELECT JSON_QUERY_ARRAY(JSON '{"a": 1}', '$.b') IS NULL AS v`, true, "BOOL"),
      c(`SELECT JSON_QUERY_ARRAY(JSON '{"a": {"b": 1}}', '$.a') IS NULL AS v`, true, "BOOL"),
      c(`SELECT COUNT(*) AS v FROM UNNEST(JSON_QUERY_ARRAY(JSON '{"jobs": []}', '$.jobs')) AS j`, "0", "INT64"),
    ],
  },
  lower: { doc: `${REF}/string_functions#lower`, cases: [c("LOWER('FOO')", "foo", "STRING"), c("LOWER('Ubuntu-Latest')", "ubuntu-latest", "STRING")] },
  starts_with: { doc: `${REF}/string_functions#starts_with`, cases: [c("STARTS_WITH('bar', 'b')", true, "BOOL"), c("STARTS_WITH('foo', 'b')", false, "BOOL")] },
  // LIKE: "_ matches a single character or byte", "% matches any number of characters or bytes";
  // case-sensitive ('apple' LIKE 'A%' is FALSE). The alert scope globs (alerts/globs.ts) rely on `_`
  // matching one character, a multi-byte one (U+E000, their stand-in for a literal `_`) included.
  $like: {
    doc: `${REF}/operators#like_operator`,
    cases: [
      c("'apple' LIKE 'a%'", true, "BOOL"),
      c("'apple' LIKE '%a'", false, "BOOL"),
      c("'apple' LIKE 'A%'", false, "BOOL"),
      c("'ab' LIKE 'a_'", true, "BOOL"),
      c("'acme/web\uE000app' LIKE 'acme/web_app'", true, "BOOL"),
      c("'release/1.2/hotfix' LIKE 'release/%'", true, "BOOL"),
      c("SELECT s LIKE 'a%' AS v FROM UNNEST([CAST(NULL AS STRING)]) AS s", null, "BOOL"),
    ],
  },
  // STRPOS('foo@example.com', '@') is 4 (1-based); 0 when the substring is absent. Test analytics maps
  // reports to jobs with it (includes/test_cases.js).
  strpos: { doc: `${REF}/string_functions#strpos`, cases: [c("STRPOS('foo@example.com', '@')", "4", "INT64"), c("STRPOS('junit-ubuntu-3.11', '3.12')", "0", "INT64"), c("STRPOS('junit-ubuntu-3.11', 'junit')", "1", "INT64")] },
  // LENGTH('абвгд') is 5: characters, not bytes, for STRING.
  length: { doc: `${REF}/string_functions#length`, cases: [c("LENGTH('абвгд')", "5", "INT64"), c("LENGTH('3.11')", "4", "INT64"), c("LENGTH('')", "0", "INT64")] },
  // SUBSTR('apple', 2) is 'pple', SUBSTR('apple', 1, 3) 'app'; a length past the end returns the rest.
  substr: { doc: `${REF}/string_functions#substr`, cases: [c("SUBSTR('apple', 2)", "pple", "STRING"), c("SUBSTR('apple', 1, 3)", "app", "STRING"), c("SUBSTR('apple', 1, 500)", "apple", "STRING")] },
  // REPLACE('blackberry pie', 'pie', 'cobbler') is 'blackberry cobbler'; every occurrence is replaced.
  replace: {
    doc: `${REF}/string_functions#replace`,
    cases: [c("REPLACE('blackberry pie', 'pie', 'cobbler')", "blackberry cobbler", "STRING"), c("REPLACE('a_b_c', '_', '-')", "a-b-c", "STRING"), c("REPLACE('100%', '%', 'x')", "100x", "STRING")],
  },
  split: {
    doc: `${REF}/string_functions#split`,
    cases: [c("SPLIT('b,c,d', ',')", ["b", "c", "d"], "ARRAY<STRING>"), c("SPLIT('build (ubuntu-latest, 20)', ' (')", ["build", "ubuntu-latest, 20)"], "ARRAY<STRING>"), c("SPLIT('a', ',')", ["a"], "ARRAY<STRING>")],
  },
  // "ARRAY_TO_STRING(['coffee', 'tea', 'milk', NULL], '--')" is 'coffee--tea--milk' (NULLs skipped).
  array_to_string: {
    doc: `${REF}/array_functions#array_to_string`,
    cases: [c("ARRAY_TO_STRING(['coffee', 'tea', 'milk', NULL], '--')", "coffee--tea--milk", "STRING"), c("ARRAY_TO_STRING(['coffee', 'tea', 'milk', NULL], '--', 'MISSING')", "coffee--tea--milk--MISSING", "STRING")],
  },
  // CEIL(2.0) 2, CEIL(2.3) 3, CEIL(2.8) 3, CEIL(2.5) 3, CEIL(-2.3) -2, CEIL(-2.8) -2, CEIL(-2.5) -2.
  ceil: { doc: `${REF}/mathematical_functions#ceil`, cases: [c("CEIL(2.3)", 3, "FLOAT64"), c("CEIL(-2.5)", -2, "FLOAT64"), c("CEIL(61 / 60)", 2, "FLOAT64"), c("CEIL(120 / 60)", 2, "FLOAT64")] },
  // ROUND rounds halfway cases away from zero: ROUND(2.5) 3, ROUND(-2.5) -3, ROUND(123.7, -1) 120.
  round: { doc: `${REF}/mathematical_functions#round`, cases: [c("ROUND(2.5)", 3, "FLOAT64"), c("ROUND(-2.5)", -3, "FLOAT64"), c("ROUND(123.7, -1)", 120, "FLOAT64"), c("ROUND(0.0125, 3)", 0.013, "FLOAT64")] },
  // DATE(TIMESTAMP) takes the date in UTC (the default time zone).
  date: { doc: `${REF}/date_functions#date`, cases: [c("DATE(TIMESTAMP '2016-12-25 05:30:00+07')", "2016-12-24", "DATE"), c("DATE(TIMESTAMP '2025-12-31 23:59:59.999999+00')", "2025-12-31", "DATE"), c("DATE(2016, 12, 25)", "2016-12-25", "DATE")] },
  // DATE_TRUNC(DATE '2008-12-25', MONTH) is 2008-12-01; WEEK starts on Sunday, ISOWEEK on Monday.
  date_trunc: {
    doc: `${REF}/date_functions#date_trunc`,
    cases: [
      c("DATE_TRUNC(DATE '2008-12-25', MONTH)", "2008-12-01", "DATE"),
      c("DATE_TRUNC(DATE '2017-11-05', WEEK(MONDAY))", "2017-10-30", "DATE"),
      c("DATE_TRUNC(DATE '2015-06-15', ISOYEAR)", "2014-12-29", "DATE"),
      c("DATE_TRUNC(DATE '2026-01-04', ISOWEEK)", "2025-12-29", "DATE"),
      c("DATE_TRUNC(DATE '2026-01-06', WEEK)", "2026-01-04", "DATE"),
    ],
  },
  timestamp: {
    doc: `${REF}/timestamp_functions#timestamp`,
    cases: [c("TIMESTAMP('2008-12-25 15:30:00+00')", "2008-12-25T15:30:00.000000Z", "TIMESTAMP"), c("TIMESTAMP('2026-01-02T00:00:00Z')", "2026-01-02T00:00:00.000000Z", "TIMESTAMP")],
  },
  // Non-deterministic: certified by type and by being after a fixed past instant.
  current_timestamp: { doc: `${REF}/timestamp_functions#current_timestamp`, cases: [c("CURRENT_TIMESTAMP() > TIMESTAMP '2020-01-01 00:00:00+00'", true, "BOOL"), c("SELECT CAST(CURRENT_TIMESTAMP() AS STRING) LIKE '20%' AS v", true, "BOOL")] },
  timestamp_sub: {
    doc: `${REF}/timestamp_functions#timestamp_sub`,
    cases: [c("TIMESTAMP_SUB(TIMESTAMP '2008-12-25 15:30:00+00', INTERVAL 10 MINUTE)", "2008-12-25T15:20:00.000000Z", "TIMESTAMP"), c("TIMESTAMP_SUB(TIMESTAMP '2026-01-01 00:00:00+00', INTERVAL 6 HOUR)", "2025-12-31T18:00:00.000000Z", "TIMESTAMP")],
  },
  // "TIMESTAMP_DIFF(TIMESTAMP '2010-07-07 10:20:00+00', TIMESTAMP '2008-12-25 15:30:00+00', HOUR)" is 13410;
  // 2001-02-01 01:00:00 minus 2001-02-01 00:00:01 in HOUR is 0 (whole units, truncated); -61 DAY example.
  timestamp_diff: {
    doc: `${REF}/timestamp_functions#timestamp_diff`,
    cases: [
      c("TIMESTAMP_DIFF(TIMESTAMP '2010-07-07 10:20:00+00', TIMESTAMP '2008-12-25 15:30:00+00', HOUR)", "13410", "INT64"),
      c("TIMESTAMP_DIFF(TIMESTAMP '2001-02-01 01:00:00+00', TIMESTAMP '2001-02-01 00:00:01+00', HOUR)", "0", "INT64"),
      c("TIMESTAMP_DIFF(TIMESTAMP '2018-08-14', TIMESTAMP '2018-10-14', DAY)", "-61", "INT64"),
      c("TIMESTAMP_DIFF(TIMESTAMP '2026-01-01 00:00:01.1+00', TIMESTAMP '2026-01-01 00:00:00.9+00', SECOND)", "0", "INT64"),
    ],
  },
};

export function isCertified(fn: string): boolean {
  return Object.hasOwn(certifiedFunctions, fn);
}

export function uncertifiedMessage(fn: string, models: string[]): string {
  return (
    `function ${fn} (used by ${models.join(", ")}) has no parity test: add "${fn}" to check/certified-functions.ts ` +
    `with cases whose expected values quote the BigQuery function reference, then run npx vitest run test/functions.test.ts ` +
    `(fix transform/translate.ts if DuckDB disagrees)`
  );
}
