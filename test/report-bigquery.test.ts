/**
 * `report --warehouse bigquery`: the same dashboard from BigQuery as from DuckDB for the same rows.
 *
 * One seeded simulator extract feeds both warehouses: the DuckDB one through the real pipeline
 * (test/report-fixture.ts), the BigQuery stand-in through `bootstrap` and `load --warehouse bigquery`
 * from the very same staging folder; `transform --warehouse bigquery` (the real Dataform CLI, with ADC)
 * builds the models in the stand-in. Then `report --warehouse bigquery --project P --out F` runs through
 * the command line, and the page it writes must embed exactly the DuckDB report's data (and be the same
 * page once the generation time is equal).
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { withZetaSql } from "../check/zetasql.js";
import { checkGraph } from "../check/analyze.js";
import { main } from "../jobs/cli.js";
import { datasets } from "../load/datasets.js";
import { buildReportHtml, writeReport } from "../report/build.js";
import { reportQueries, type ReportParams } from "../report/data.js";
import type { ReportData } from "../report/model.js";
import { compileProject, type CompiledGraph } from "../transform/compile.js";
import { buildReportWarehouse, REPORT_ANCHOR } from "./report-fixture.js";
import { startGoogleStandIns, type GoogleStandIns } from "./stand-ins/google-env.js";

const PROJECT = "acme-analytics";
const BUCKET = "acme-actions-staging";
const VARS = { kpi_reference_time: REPORT_ANCHOR };

const embedded = (html: string): ReportData => {
  const json = /<script type="application\/json" id="report-data">([^<]*)<\/script>/.exec(html)?.[1];
  if (!json) throw new Error("no embedded report data");
  return JSON.parse(json) as ReportData;
};

describe("report --warehouse bigquery", () => {
  let dir: string;
  let google: GoogleStandIns;
  let graph: CompiledGraph;
  let duck: { data: ReportData; html: string };
  let stderr = "";
  const saved = { ...process.env };
  const cli = (...args: string[]) => main(["node", "actions-warehouse", ...args]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-report-bq-"));
    const built = await buildReportWarehouse(dir);
    const result = await writeReport({ duckdbPath: built.duckdbPath, out: join(dir, "duckdb.html"), now: new Date(REPORT_ANCHOR) });
    duck = { data: result.data, html: readFileSync(result.path, "utf8") };
    graph = await compileProject({ vars: VARS });

    google = await startGoogleStandIns({ projectId: PROJECT, jobLatencyMs: 5 });
    process.env.LOG_LEVEL = "info";
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    });
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    expect(await cli("bootstrap", "--project", PROJECT, "--location", "US")).toBe(0);
    // The same NDJSON batches the DuckDB warehouse loaded, staged in Cloud Storage and loaded by load jobs.
    // An extract belongs to one warehouse (its manifest names it, and other warehouses refuse it), so the
    // copy for BigQuery is re-addressed to the project: same batches, same checksums.
    const bqStaging = join(dir, "bigquery-staging");
    cpSync(join(built.duckdbPath, "..", "staging"), bqStaging, { recursive: true });
    for (const f of readdirSync(join(bqStaging, "manifests"))) {
      const path = join(bqStaging, "manifests", f);
      writeFileSync(path, JSON.stringify({ ...(JSON.parse(readFileSync(path, "utf8")) as object), target: `bigquery:${PROJECT}` }));
    }
    expect(await cli("load", "--warehouse", "bigquery", "--staging-dir", bqStaging, "--project", PROJECT, "--bucket", BUCKET), stderr).toBe(0);
  }, 600_000);

  afterAll(async () => {
    vi.restoreAllMocks();
    process.env = saved;
    await google?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("every report query is GoogleSQL: the ZetaSQL analyzer accepts it against the compiled models", async () => {
    await withZetaSql(async (engine) => {
      const checked = await checkGraph(engine, graph);
      const database = graph.projectConfig.defaultDatabase ?? "";
      const literal = (params: ReportParams, name: string) => {
        const v = params[name];
        return typeof v === "number" ? String(v) : `'${String(v)}'`;
      };
      for (const options of [{}, { since: "2026-10-03" }]) {
        for (const q of Object.values(reportQueries((name) => `\`${database}.${datasets.models}.${name}\``, options))) {
          // The analyzer has no parameters: bind them as literals of the types the client sends (STRING, INT64).
          const sql = q.sql.replace(/@(\w+)/g, (_m, name: string) => literal(q.params, name));
          await expect(engine.analyze(sql, checked.catalog.proto()), `${q.view}: ${sql}`).resolves.toBeDefined();
        }
      }
    });
  }, 120_000);

  it("without the rpt_* views, says to run transform first and names the view and dataset", async () => {
    stderr = "";
    expect(await cli("report", "--warehouse", "bigquery", "--project", PROJECT, "--out", join(dir, "none.html"))).toBe(1);
    expect(stderr).toMatch(/cannot read rpt_kpi_summary/);
    expect(stderr).toContain(`${PROJECT}.${datasets.models}.rpt_kpi_summary`);
    expect(stderr).toContain(`run transform first: actions-warehouse transform --warehouse bigquery --project ${PROJECT}`);
  });

  it("reads the views from BigQuery into the same page the DuckDB warehouse gives, after logging the bytes they scan", async () => {
    // The models built by the real `transform --warehouse bigquery`: the Dataform CLI against the stand-in.
    expect(await cli("transform", "--warehouse", "bigquery", "--project", PROJECT, "--var", `kpi_reference_time=${REPORT_ANCHOR}`), stderr).toBe(0);
    expect(stderr).toContain("dataform run finished");

    stderr = "";
    const queriesBefore = google.bigquery.queries.length;
    const out = join(dir, "bigquery.html");
    expect(await cli("report", "--warehouse", "bigquery", "--project", PROJECT, "--out", out), stderr).toBe(0);
    const html = readFileSync(out, "utf8");
    const data = embedded(html);

    // The data embedded in the page is the DuckDB report's, row for row.
    const { generatedAt, ...rest } = data;
    const { generatedAt: _duckGenerated, ...duckRest } = duck.data;
    expect(rest).toEqual(duckRest);
    expect(embedded(duck.html)).toEqual(duck.data);
    expect(Date.parse(generatedAt)).toBeGreaterThan(Date.parse(REPORT_ANCHOR));
    expect(duck.data.health.length).toBeGreaterThan(10);
    expect(duck.data.running.length).toBeGreaterThan(0);
    // Same data, same page: only the generation time differs.
    expect(await buildReportHtml({ ...data, generatedAt: duck.data.generatedAt })).toBe(duck.html);

    // Every query was dry-run before any ran, and the estimate logged per view and in total.
    const ran = google.bigquery.queries.slice(queriesBefore);
    const count = Object.keys(reportQueries(() => "t")).length;
    expect(ran.filter((q) => q.dryRun)).toHaveLength(count);
    expect(ran.findIndex((q) => !q.dryRun)).toBe(count);
    const line = stderr.split("\n").find((l) => l.includes("total_bytes"));
    expect(line, stderr).toBeDefined();
    const logged = JSON.parse(line ?? "{}") as { level: string; msg: string; total_bytes: number; bytes_by_view: Record<string, number> };
    expect(logged.level).toBe("info");
    expect(logged.msg).toMatch(/report queries will scan .* MiB \(BigQuery dry run\)/);
    expect(Object.keys(logged.bytes_by_view).sort()).toEqual([...new Set(Object.values(reportQueries(() => "t")).map((q) => q.view))].sort());
    expect(Object.values(logged.bytes_by_view).reduce((a, b) => a + b, 0)).toBe(logged.total_bytes);
    expect(logged.total_bytes).toBeGreaterThan(0);
  }, 300_000);

  it("never writes the identity token to logs", () => {
    expect(stderr).not.toContain(google.subjectToken);
  });
});
