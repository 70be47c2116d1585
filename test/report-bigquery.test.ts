/**
 * `report --warehouse bigquery`: the same dashboard from BigQuery as from DuckDB for the same rows.
 *
 * One seeded simulator extract feeds both warehouses: the DuckDB one through the real pipeline
 * (test/report-fixture.ts), the BigQuery stand-in through `bootstrap` and `load --warehouse bigquery`
 * from the very same staging folder; `transform --warehouse bigquery` (the real Dataform CLI, with ADC)
 * builds the models in the stand-in. Then `report --warehouse bigquery --project P --out F` runs through
 * the command line, and the page it writes must embed exactly the DuckDB report's data (and be the same
 * page once the generation time is equal). Alert episodes recorded on the DuckDB warehouse by the alert
 * state machine are copied row for row into the bootstrapped BigQuery alert_events, so the alerts panel
 * (rpt_alerts) is compared on both too.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BigQuery } from "@google-cloud/bigquery";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseRules } from "../alerts/rules.js";
import { duckDbRunner, recordEvaluation, acknowledge } from "../alerts/state.js";
import { ALERT_COLUMNS } from "../alerts/tables.js";
import { CHANNELS, fingerprintOf, type Finding, type Rule } from "../alerts/types.js";
import { openDuckDb } from "../load/duckdb-connection.js";
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

/**
 * Records alert episodes on the DuckDB warehouse through the state machine (relative to the report's
 * reference time: one resolved 3 days before, one resolved 40 days before and so outside the window, one
 * firing and acknowledged past the reference time, one firing, one pending) and returns the INSERT that
 * puts the same rows into BigQuery's alert_events.
 */
async function seedAlerts(duckdbPath: string): Promise<string> {
  const rules: Rule[] = parseRules(
    "rules:\n  - { name: ci-red, kind: failure_rate, threshold: 0.2, severity: critical }\n  - { name: stuck-deploy, kind: stuck, threshold: 1h, for: 1h }\n",
    "report-bigquery rules",
  );
  const [ciRed, stuck] = rules as [Rule, Rule];
  const finding = (rule: Rule, repository: string, value: number): Finding => {
    const scope = { repository, workflow: "CI" };
    return { rule: rule.name, kind: rule.kind, severity: rule.severity, scope, fingerprint: fingerprintOf(rule.name, scope), value, threshold: 0.2, unit: "ratio", summary: `${rule.name} ${repository}`, offenders: [] };
  };
  const ref = Date.parse(REPORT_ANCHOR);
  const at = (hours: number) => new Date(ref - hours * 3_600_000);
  const [old, past, firing, acked, pending] = [finding(ciRed, "acme/old", 0.9), finding(ciRed, "acme/lib", 0.5), finding(ciRed, "acme/api", 0.4), finding(ciRed, "acme/web", 0.3), finding(stuck, "acme/deploy", 7200)];
  const w = await openDuckDb(duckdbPath);
  try {
    const runner = duckDbRunner(w.connection);
    const steps: [number, Finding[]][] = [[41 * 24, [old]], [40 * 24, []], [4 * 24, [past]], [3 * 24, []], [2, [firing, acked]], [0.5, [firing, acked, pending]]];
    for (const [hours, findings] of steps) await recordEvaluation(runner, { now: at(hours), rules, findings, channels: new Set(CHANNELS) });
    await acknowledge(runner, acked.fingerprint, at(-4), "bob");
    const columns = ALERT_COLUMNS.alert_events;
    const rows = await runner.all(`SELECT ${columns.map((c) => (c.bigquery === "TIMESTAMP" ? `CAST(${c.name} AS STRING) AS ${c.name}` : c.name)).join(", ")} FROM ${runner.table("alert_events")}`);
    const literal = (value: unknown, type: string) =>
      value === null || value === undefined ? "NULL" : type === "TIMESTAMP" ? `TIMESTAMP '${String(value)}'` : type === "STRING" ? `'${String(value).replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'` : String(value);
    const values = rows.map((r) => `(${columns.map((c) => literal(r[c.name], c.bigquery)).join(", ")})`);
    return `INSERT INTO \`${PROJECT}.${datasets.raw}.alert_events\` (${columns.map((c) => c.name).join(", ")}) VALUES\n${values.join(",\n")}`;
  } finally {
    await w.closeAsync();
  }
}

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
  let alertInsert = "";
  const saved = { ...process.env };
  const cli = (...args: string[]) => main(["node", "actions-warehouse", ...args]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-report-bq-"));
    const built = await buildReportWarehouse(dir);
    alertInsert = await seedAlerts(built.duckdbPath);
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
    // bootstrap created alert_events (empty); the DuckDB warehouse's episodes go in as they are.
    await new BigQuery({ projectId: PROJECT, location: "US" }).query({ query: alertInsert });
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
    // The alerts panel's rows too: firing, acknowledged past the reference time, pending, resolved in the
    // window; the episode resolved 40 days before is not listed.
    expect(duck.data.alerts.map((a) => [a.summary, a.state, a.episode_state]).sort()).toEqual([
      ["ci-red acme/api", "active", "firing"],
      ["ci-red acme/lib", "resolved", "resolved"],
      ["ci-red acme/web", "acknowledged", "firing"],
      ["stuck-deploy acme/deploy", "active", "pending"],
    ]);
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
