/**
 * Parity: every model on the same raw fixture (test/fixtures/parity/raw.json: re-runs, in-progress runs,
 * cancelled/skipped/never-started jobs, midnight, week and month boundaries) on ZetaSQL and on DuckDB.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkGraph, type CheckResult } from "../check/analyze.js";
import { formatParity, runParity, type RawFixture } from "../check/parity.js";
import { ZetaSql } from "../check/zetasql.js";
import { compileProject, type CompiledGraph } from "../transform/compile.js";
import { copyProject, type ProjectCopy } from "./check-project.js";

const vars = { kpi_reference_time: "2026-01-02T00:00:00Z" };
const raw = JSON.parse(readFileSync(new URL("./fixtures/parity/raw.json", import.meta.url), "utf8")) as RawFixture;

let engine: ZetaSql;
let graph: CompiledGraph;
let check: CheckResult;
beforeAll(async () => {
  engine = await ZetaSql.start();
  graph = await compileProject({ vars });
  check = await checkGraph(engine, graph);
});
afterAll(() => engine?.stop());

describe("parity of the project's models", () => {
  it("every model and both incremental branches give identical rows and types on ZetaSQL and DuckDB", async () => {
    const result = await runParity(engine, graph, check, raw);
    const failures = result.models.filter((m) => m.error || m.difference).map(formatParity);
    expect(failures).toEqual([]);
    const models = result.models.filter((m) => !m.name.startsWith("actions_assertions."));
    // 9 staging + 7 marts + 14 reporting, plus the incremental branch of the three incremental facts
    // (fct_workflow_runs, fct_workflow_jobs, fct_test_cases).
    // rpt_alerts reads github_raw.alert_events, and the test analytics models (stg_test_cases,
    // stg_coverage_reports, stg_workflow_artifacts, fct_test_cases, rpt_flaky_tests, rpt_slowest_tests,
    // rpt_test_health_daily, rpt_coverage_daily) read test_cases, coverage_reports and workflow_artifacts,
    // empty here: their rows are compared by their model tests and test/test-models.test.ts.
    // Issue 15 added 19: the workflow graph (stg_workflow_definitions, stg_workflow_definition_refs,
    // stg_workflow_definition_jobs, stg_workflow_definition_edges, stg_referenced_workflows, fct_workflow_job_mapping,
    // dim_workflow_versions, rpt_workflow_dag_nodes, rpt_workflow_dag_edges, rpt_critical_path,
    // rpt_critical_path_workflows), DORA and flaky jobs.
    expect(models.filter((m) => m.part === "query")).toHaveLength(49);
    expect(models.filter((m) => m.part === "incremental")).toHaveLength(3);
    // The fixture is not trivially empty where it matters.
    const rows = Object.fromEntries(models.filter((m) => m.part === "query").map((m) => [m.name.split(".")[1], m.referenceRows]));
    expect(rows).toMatchObject({ fct_workflow_runs: 9, fct_workflow_jobs: 11, rpt_running_now: 4, rpt_kpi_summary: 2 });
    // The workflow graph from the fixture's workflow files (JSON jobs and edges parsed on both engines).
    expect(rows).toMatchObject({ fct_workflow_job_mapping: 11, rpt_critical_path: 5, rpt_workflow_dag_nodes: 13, rpt_workflow_dag_edges: 6 });
  });

  it("empty inputs: every model is empty (or constant) on both engines", async () => {
    const result = await runParity(engine, graph, check, {});
    expect(result.models.filter((m) => m.error || m.difference).map(formatParity)).toEqual([]);
  });

  it("without the TIMESTAMP_DIFF fix, parity catches DuckDB's boundary counting (run 600: 23:59:59.999 -> 00:30:00)", async () => {
    const result = await runParity(engine, graph, check, raw, { translateOptions: { disable: ["timestampDiff"] }, only: ["actions_warehouse.fct_workflow_runs"] });
    const runs = result.models.find((m) => m.name === "actions_warehouse.fct_workflow_runs" && m.part === "query");
    expect(runs?.difference?.message).toMatch(/only in ZetaSQL:\n.*run_id: "600".*duration_seconds: "1800"/);
    expect(runs?.difference?.message).toMatch(/only in DuckDB:\n.*run_id: "600".*duration_seconds: "1801"/);
  });
});

describe("a model using a function polyglot mistranslates", () => {
  let project: ProjectCopy;
  let copyGraph: CompiledGraph;
  let copyCheck: CheckResult;
  beforeAll(async () => {
    project = copyProject();
    // Release-branch runs: REGEXP_CONTAINS matches a substring in BigQuery; polyglot emits a full match.
    project.write(
      "definitions/reporting/rpt_release_runs.sqlx",
      `config { type: "view", description: "Runs on release branches." }
SELECT run_id, run_attempt, head_branch, CONCAT(head_branch, '@', actor_login) AS branch_actor
FROM \${ref("fct_workflow_runs")}
WHERE REGEXP_CONTAINS(head_branch, r'^rel')
`,
    );
    copyGraph = await compileProject({ projectDir: project.dir, vars });
    copyCheck = await checkGraph(engine, copyGraph, { projectDir: project.dir });
  });
  afterAll(() => project?.remove());

  it("passes check, and the parity run catches the mismatch when the translation fixes are off", async () => {
    expect(copyCheck.issues).toEqual([]);
    expect(copyCheck.actions.find((a) => a.name === "actions_warehouse.rpt_release_runs")?.functions).toEqual(expect.arrayContaining(["regexp_contains", "concat"]));
    const broken = await runParity(engine, copyGraph, copyCheck, raw, { translateOptions: { disable: ["regexpContains", "concat"] }, only: ["actions_warehouse.rpt_release_runs"] });
    const model = broken.models.find((m) => m.name === "actions_warehouse.rpt_release_runs");
    // BigQuery: run 300 on 'release' matches. polyglot's full match finds nothing.
    expect(model).toMatchObject({ referenceRows: 1, duckdbRows: 0 });
    expect(model?.difference?.kind).toBe("rows");
  });

  it("is identical once fixed in transform/translate.ts", async () => {
    const fixed = await runParity(engine, copyGraph, copyCheck, raw, { only: ["actions_warehouse.rpt_release_runs"] });
    expect(fixed.models.map(formatParity)).toEqual(["actions_warehouse.rpt_release_runs: 1 rows identical"]);
  });

  it("CONCAT with a NULL argument is NULL on both engines only with the fix", async () => {
    project.write(
      "definitions/reporting/rpt_release_runs.sqlx",
      `config { type: "view" }
SELECT run_id, CONCAT(head_branch, actor_login) AS branch_actor FROM \${ref("fct_workflow_runs")} WHERE run_id = 400
`,
    );
    const g = await compileProject({ projectDir: project.dir, vars });
    const c = await checkGraph(engine, g, { projectDir: project.dir });
    const only = ["actions_warehouse.rpt_release_runs"];
    const off = await runParity(engine, g, c, raw, { translateOptions: { disable: ["concat"] }, only });
    // Run 400 has no actor: BigQuery's CONCAT is NULL, DuckDB's skips the NULL.
    expect(off.models.map(formatParity).join("\n")).toMatch(/only in DuckDB:\n.*branch_actor: "feature"/);
    const on = await runParity(engine, g, c, raw, { only });
    expect(on.ok).toBe(true);
  });
});
