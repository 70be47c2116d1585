/**
 * Parity tests of transform/translate.ts: each BigQuery construct the models use is translated, run on
 * DuckDB, and compared with BigQuery's documented answer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDuckDb, type Warehouse } from "../load/duckdb-connection.js";
import { rewriteCalls, splitQualifiedNames, stripComments, translate } from "../transform/translate.js";

let w: Warehouse;
beforeAll(async () => {
  w = await openDuckDb(":memory:");
});
afterAll(() => w.close());

async function one(bigquerySql: string): Promise<Record<string, unknown>> {
  const reader = await w.connection.runAndReadAll(translate(bigquerySql));
  return (reader.getRowObjectsJson() as Record<string, unknown>[])[0] ?? {};
}

describe("translate", () => {
  it("fix 1: three-part names lose the project and quote dataset and table", async () => {
    expect(splitQualifiedNames("FROM `actions-warehouse.github_raw.workflow_runs`")).toBe("FROM `github_raw`.`workflow_runs`");
    await w.connection.run("CREATE SCHEMA IF NOT EXISTS s1; CREATE OR REPLACE TABLE s1.t1 AS SELECT 42 AS x");
    expect(await one("SELECT x FROM `actions-warehouse.s1.t1`")).toEqual({ x: 42 });
  });

  it("fix 2: TIMESTAMP_DIFF counts whole elapsed units, truncated toward zero", async () => {
    // BigQuery: 00:00:00.9 -> 00:00:01.1 is 0 seconds (DuckDB date_diff would say 1).
    const r = await one(`SELECT
      TIMESTAMP_DIFF(TIMESTAMP '2026-01-01 00:00:01.1+00', TIMESTAMP '2026-01-01 00:00:00.9+00', SECOND) AS a,
      TIMESTAMP_DIFF(TIMESTAMP '2026-01-01 00:00:00.9+00', TIMESTAMP '2026-01-01 00:00:01.1+00', SECOND) AS b,
      TIMESTAMP_DIFF(TIMESTAMP '2026-01-01 00:10:00.9+00', TIMESTAMP '2025-12-31 23:50:00+00', SECOND) AS c,
      TIMESTAMP_DIFF(TIMESTAMP '2026-01-01 00:00:01+00', TIMESTAMP '2025-12-31 23:59:59+00', MINUTE) AS d,
      TIMESTAMP_DIFF(TIMESTAMP '2026-01-02 00:00:00+00', TIMESTAMP '2026-01-01 00:00:01+00', DAY) AS e,
      TIMESTAMP_DIFF(TIMESTAMP_ADD(TIMESTAMP '2026-01-01 00:00:00+00', INTERVAL 90 MINUTE), TIMESTAMP '2026-01-01 00:00:00+00', HOUR) AS f`);
    expect(r).toEqual({ a: "0", b: "0", c: "1200", d: "0", e: "0", f: "1" });
  });

  it("comments are removed first: an apostrophe in a comment no longer hides the SQL after it from the fixes", async () => {
    const sql = `SELECT
      -- the job's failures (an apostrophe here used to open a string)
      COUNTIF(x > 1) AS n, /* it's a block comment */ 'a -- b' AS s, "it's" AS q
    FROM (SELECT 1 AS x) -- end's`;
    expect(stripComments(sql)).not.toMatch(/job's|block comment|end's/);
    expect(stripComments(sql)).toContain("'a -- b'");
    // COUNTIF over no matching row is 0 in BigQuery; untranslated (DuckDB COUNT_IF) it would be NULL.
    expect(await one(sql)).toEqual({ n: "0", s: "a -- b", q: "it's" });
  });

  it("fix 2 applies inside nested expressions and ignores string literals", () => {
    const sql = translate("SELECT CASE WHEN x THEN TIMESTAMP_DIFF(COALESCE(a, b), b, SECOND) END, 'TIMESTAMP_DIFF(' AS s FROM t");
    expect(sql).toContain("((EPOCH_US(COALESCE(a, b)) - EPOCH_US(b)) // 1000000)");
    expect(sql).toContain("'TIMESTAMP_DIFF('");
    expect(rewriteCalls("f(g(1), 'f(2)')", "f", (args) => `[${args.join("|")}]`)).toBe("[g(1)|'f(2)']");
  });

  it("fix 3: DATE_TRUNC of a DATE returns a DATE; ISOWEEK starts Monday, WEEK starts Sunday", async () => {
    const r = await one(`SELECT
      CAST(DATE_TRUNC(DATE(TIMESTAMP '2026-01-04 10:00:00+00'), ISOWEEK) AS STRING) AS iso_sun,
      CAST(DATE_TRUNC(DATE(TIMESTAMP '2026-01-05 10:00:00+00'), ISOWEEK) AS STRING) AS iso_mon,
      CAST(DATE_TRUNC(DATE '2026-01-06', WEEK) AS STRING) AS week_tue,
      CAST(DATE_TRUNC(DATE '2026-01-04', WEEK) AS STRING) AS week_sun,
      CAST(DATE_TRUNC(DATE(TIMESTAMP '2026-02-17 23:59:59+00'), MONTH) AS STRING) AS month`);
    expect(r).toEqual({ iso_sun: "2025-12-29", iso_mon: "2026-01-05", week_tue: "2026-01-04", week_sun: "2026-01-04", month: "2026-02-01" });
    const types = await w.connection.runAndReadAll(`SELECT typeof(${translate("SELECT DATE_TRUNC(DATE '2026-01-06', MONTH)").replace(/^SELECT /, "")}) AS t`);
    expect(types.getRowObjectsJson()).toEqual([{ t: "DATE" }]);
  });

  it("fix 4: INTERVAL with a column operand", async () => {
    const r = await one(`SELECT CAST(TIMESTAMP_SUB(TIMESTAMP '2026-01-02 00:00:00+00', INTERVAL h HOUR) AS STRING) AS a,
      CAST(TIMESTAMP_SUB(TIMESTAMP '2026-01-02 00:00:00+00', INTERVAL 2 * h HOUR) AS STRING) AS b FROM (SELECT 24 AS h)`);
    expect(r).toEqual({ a: "2026-01-01 00:00:00+00", b: "2025-12-31 00:00:00+00" });
  });

  it("PERCENTILE_CONT (analytic) interpolates linearly and ignores NULLs", async () => {
    const reader = await w.connection.runAndReadAll(
      translate(`SELECT g, PERCENTILE_CONT(x, 0.5) OVER (PARTITION BY g) AS p50, PERCENTILE_CONT(x, 0.95) OVER (PARTITION BY g) AS p95
        FROM (SELECT 1 AS g, 100 AS x UNION ALL SELECT 1, 150 UNION ALL SELECT 1, 400 UNION ALL SELECT 1, NULL UNION ALL SELECT 2, NULL)
        ORDER BY g LIMIT 1`),
    );
    const [row] = reader.getRowObjectsJson() as Record<string, number>[];
    expect(row?.p50).toBe(150);
    expect(row?.p95).toBeCloseTo(375, 9);
  });

  it("constructs the models rely on keep BigQuery's meaning", async () => {
    const r = await one(`SELECT
      SPLIT('build (ubuntu-latest, 20)', ' (')[SAFE_OFFSET(0)] AS job_base,
      SPLIT('lint', ' (')[SAFE_OFFSET(0)] AS plain,
      'a' || CAST(NULL AS STRING) AS concat_null,
      ARRAY_TO_STRING(['self-hosted', 'linux'], ',') AS labels,
      EXISTS (SELECT 1 FROM UNNEST(['Self-Hosted', 'linux']) AS label WHERE LOWER(label) = 'self-hosted') AS self_hosted,
      STARTS_WITH(LOWER('Ubuntu-24.04'), 'ubuntu-') AS ubuntu,
      CAST(CEIL(61 / 60) AS INT64) AS minutes,
      COUNTIF(TRUE) / NULLIF(COUNTIF(FALSE) + 2, 0) AS ratio,
      CAST(DATE(TIMESTAMP '2025-12-31 23:59:59+00') AS STRING) AS d`);
    expect(r).toEqual({ job_base: "build", plain: "lint", concat_null: null, labels: "self-hosted,linux", self_hosted: true, ubuntu: true, minutes: "2", ratio: 0.5, d: "2025-12-31" });
  });

  it("QUALIFY dedupe keeps the newest version", async () => {
    const r = await one(`SELECT k, v FROM (SELECT 1 AS k, 'old' AS v, 1 AS u UNION ALL SELECT 1, 'new', 2) WHERE TRUE
      QUALIFY ROW_NUMBER() OVER (PARTITION BY k ORDER BY u DESC) = 1`);
    expect(r).toEqual({ k: 1, v: "new" });
  });
});
