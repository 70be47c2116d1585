/**
 * `check` on the real project (clean) and on temporary copies with deliberately broken models: each
 * failure names the model, its SQLX file and the position.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runCheck } from "../check/run.js";
import { ZetaSql } from "../check/zetasql.js";
import { certifiedFunctions } from "../check/certified-functions.js";
import { copyProject, type ProjectCopy } from "./check-project.js";

let engine: ZetaSql;
beforeAll(async () => {
  engine = await ZetaSql.start();
});
afterAll(() => engine?.stop());

describe("check on the project", () => {
  it("type-checks every action, both incremental branches, and every function used is certified", async () => {
    const report = await runCheck({ engine });
    expect(report.errors).toEqual([]);
    const actions = report.result?.actions ?? [];
    const incremental = actions.filter((a) => a.type === "incremental");
    // fct_test_cases, fct_workflow_jobs, fct_workflow_runs.
    expect(incremental.map((a) => Object.keys(a.queries).sort())).toEqual([["incremental", "query"], ["incremental", "query"], ["incremental", "query"]]);
    // 22 before test analytics (issue 14) added 3 staging views, fct_test_cases and 4 reporting views.
    // Issue 15 added 19: the workflow graph (5 staging views, fct_workflow_job_mapping, dim_workflow_versions and
    // 4 reporting models), DORA and flaky jobs.
    expect(actions.filter((a) => a.type !== "assertion")).toHaveLength(49);
    expect(actions.find((a) => a.name === "actions_warehouse.fct_test_cases")?.functions).toEqual(expect.arrayContaining(["strpos", "length", "substr", "split"]));
    expect(actions.find((a) => a.name === "actions_warehouse.fct_workflow_jobs")?.functions).toEqual(expect.arrayContaining(["timestamp_diff", "ceil", "starts_with", "$divide"]));
    // Columns come from ZetaSQL's resolution: BigQuery types, including INT64 / 60 being FLOAT64.
    const runs = actions.find((a) => a.name === "actions_warehouse.fct_workflow_runs");
    expect(runs?.columns.find((c) => c.name === "duration_seconds")?.type.typeKind).toBe("TYPE_INT64");
    expect(runs?.columns.find((c) => c.name === "is_latest_attempt")?.type.typeKind).toBe("TYPE_BOOL");
  });
});

describe("deliberately broken models fail check with model, file and position", () => {
  let project: ProjectCopy;
  beforeAll(() => {
    project = copyProject();
  });
  afterAll(() => project?.remove());
  const file = "definitions/reporting/rpt_broken.sqlx";
  afterEach(() => project.write(file, `config { type: "view" }\nSELECT 1 AS ok\n`));

  async function check(sql: string) {
    project.write(file, `config {\n  type: "view",\n}\n\n${sql}`);
    const report = await runCheck({ projectDir: project.dir, engine });
    expect(report.ok).toBe(false);
    return report.errors;
  }

  it("unknown column", async () => {
    const errors = await check(`SELECT\n  run_id,\n  run_durration\nFROM \${ref("fct_workflow_runs")}\n`);
    expect(errors).toEqual([`${file}:7:3: actions_warehouse.rpt_broken (compiled query 5:3): Unrecognized name: run_durration`]);
  });

  it("type mismatch", async () => {
    const errors = await check(`SELECT\n  run_id,\n  duration_seconds + head_branch AS bad\nFROM \${ref("fct_workflow_runs")}\n`);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^${file}:7:3: actions_warehouse.rpt_broken \\(compiled query \\d+:3\\): No matching signature for operator \\+ for argument types: INT64, STRING`));
  });

  it("type mismatch in a comparison", async () => {
    const errors = await check(`SELECT run_id\nFROM \${ref("fct_workflow_runs")}\nWHERE run_attempt = 'first'\n`);
    expect(errors[0]).toMatch(new RegExp(`^${file}:7:\\d+: actions_warehouse.rpt_broken .*No matching signature for operator =.*INT64, STRING`));
  });

  it("unknown function", async () => {
    const errors = await check(`SELECT\n  TIMESTAMP_DIFFERENCE(updated_at, created_at, SECOND) AS d\nFROM \${ref("fct_workflow_runs")}\n`);
    expect(errors).toEqual([expect.stringMatching(new RegExp(`^${file}:6:3: actions_warehouse.rpt_broken \\(compiled query \\d+:3\\): Function not found: TIMESTAMP_DIFFERENCE`))]);
  });

  it("wrong ref (no such model): Dataform's error located in the SQLX", async () => {
    const errors = await check(`SELECT run_id\nFROM \${ref("fct_workflow_run")}\n`);
    expect(errors).toEqual([expect.stringMatching(new RegExp(`^${file}:6:8: ref\\("fct_workflow_run"\\): no such model or source`))]);
  });

  it("wrong table name written by hand: Table not found at its position", async () => {
    const errors = await check("SELECT run_id\nFROM `actions-warehouse.actions_warehouse.fct_workflow_run`\n");
    expect(errors).toEqual([expect.stringMatching(new RegExp(`^${file}:6:6: actions_warehouse.rpt_broken \\(compiled query \\d+:6\\): Table not found: \`actions-warehouse.actions_warehouse.fct_workflow_run\``))]);
  });

  it("an error in the incremental branch of an incremental model", async () => {
    project.write(file, `config { type: "view" }\nSELECT 1 AS ok\n`);
    const inc = "definitions/marts/fct_broken_incremental.sqlx";
    project.write(inc, `config {\n  type: "incremental",\n  uniqueKey: ["run_id"],\n}\n\nSELECT run_id, _extracted_at\nFROM \${ref("stg_workflow_runs")}\n\${when(incremental(), \`WHERE _extracted_at > (SELECT MAX(extracted) FROM \${self()})\`)}\n`);
    try {
      const report = await runCheck({ projectDir: project.dir, engine });
      expect(report.errors).toEqual([expect.stringMatching(new RegExp(`^${inc}:8:\\d+: actions_warehouse.fct_broken_incremental \\(compiled incremental \\d+:\\d+\\): Unrecognized name: extracted`))]);
    } finally {
      project.write(inc, `config { type: "view" }\nSELECT 1 AS ok\n`);
    }
  });

  it("a function with no parity test fails with instructions", async () => {
    const errors = await check(`SELECT REVERSE(head_sha) AS r\nFROM \${ref("fct_workflow_runs")}\n`);
    expect(certifiedFunctions.reverse).toBeUndefined();
    expect(errors).toEqual([
      "function reverse (used by actions_warehouse.rpt_broken) has no parity test: add \"reverse\" to check/certified-functions.ts with cases whose expected values quote the BigQuery function reference, then run npx vitest run test/functions.test.ts (fix transform/translate.ts if DuckDB disagrees)",
    ]);
  });

  it("downstream models of a broken model are reported as not checked", async () => {
    project.write("definitions/reporting/rpt_downstream.sqlx", `config { type: "view" }\nSELECT * FROM \${ref("rpt_broken")}\n`);
    try {
      const errors = await check(`SELECT nope FROM \${ref("fct_workflow_runs")}\n`);
      expect(errors).toHaveLength(2);
      expect(errors[1]).toMatch(/rpt_downstream.*not checked: upstream actions_warehouse.rpt_broken has errors/);
    } finally {
      project.write("definitions/reporting/rpt_downstream.sqlx", `config { type: "view" }\nSELECT 1 AS ok\n`);
    }
  });
});
