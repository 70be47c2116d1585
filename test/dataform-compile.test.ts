import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRawTables, openDuckDb } from "../load/duckdb-connection.js";
import { compileProject, projectRoot, type CompiledGraph } from "../transform/compile.js";
import { runTransform } from "../transform/run.js";
import { sourceFiles } from "../transform/sources.js";
import { alertEventsDeclaration } from "../alerts/tables.js";

const dir = mkdtempSync(join(tmpdir(), "dataform-compile-"));
const db = join(dir, "w.duckdb");
let graph: CompiledGraph;

beforeAll(async () => {
  graph = await compileProject({ noCache: true });
  const w = await openDuckDb(db);
  await createRawTables(w.connection);
  w.close();
  await runTransform({ duckdbPath: db });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the Dataform project", () => {
  it("compiles with the real CLI and no errors", () => {
    expect(graph.graphErrors?.compilationErrors ?? []).toEqual([]);
    const names = graph.tables.map((t) => t.target.name);
    for (const n of ["fct_workflow_runs", "fct_workflow_jobs", "fct_job_steps", "fct_package_versions", "rpt_pipeline_health_daily", "rpt_kpi_summary"]) {
      expect(names).toContain(n);
    }
    expect(graph.tables.find((t) => t.target.name === "fct_workflow_runs")).toMatchObject({ enumType: "INCREMENTAL", uniqueKey: ["run_id", "run_attempt"] });
    expect(graph.declarations.map((d) => d.target.name).sort()).toEqual(["alert_events", "coverage_reports", "deployment_commits", "deployment_statuses", "deployments", "job_steps", "package_versions", "packages", "test_cases", "workflow_artifacts", "workflow_definition_refs", "workflow_definitions", "workflow_jobs", "workflow_runs", "workflows"]);
  });

  it("source declarations are generated from the raw schemas", () => {
    for (const [path, text] of Object.entries(sourceFiles())) expect(readFileSync(join(projectRoot, path), "utf8")).toBe(text);
    // alert_events is declared from the alert state's own column list (alerts/tables.ts), not a raw schema.
    expect(readFileSync(join(projectRoot, "definitions/sources/alert_events.sqlx"), "utf8")).toBe(alertEventsDeclaration());
  });

  it("every column of every staging, mart and reporting model is described", async () => {
    const w = await openDuckDb(db);
    try {
      for (const table of graph.tables) {
        const described = (table.actionDescriptor?.columns ?? []).filter((c) => (c.description ?? "") !== "").map((c) => c.path.join("."));
        const reader = await w.connection.runAndReadAll(
          `SELECT column_name FROM information_schema.columns WHERE table_schema = '${table.target.schema}' AND table_name = '${table.target.name}' ORDER BY ordinal_position`,
        );
        const actual = reader.getRowObjectsJson().map((r) => String(r.column_name));
        expect(actual.length, table.target.name).toBeGreaterThan(0);
        expect([...described].sort(), table.target.name).toEqual([...actual].sort());
      }
    } finally {
      w.close();
    }
  });
});
