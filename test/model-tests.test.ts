/**
 * Model tests on the ZetaSQL reference engine: Dataform test blocks (definitions/tests/) and JSON fixtures
 * for incremental models (test/fixtures/model-tests/), plus a wrong expectation that must fail.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runModelTests, type ModelTestReport } from "../check/model-tests.js";
import { ZetaSql } from "../check/zetasql.js";
import { projectRoot } from "../transform/compile.js";
import { copyProject, type ProjectCopy } from "./check-project.js";

let engine: ZetaSql;
let report: ModelTestReport;
beforeAll(async () => {
  engine = await ZetaSql.start();
  report = await runModelTests({ engine, parityFixture: false });
});
afterAll(() => engine?.stop());

describe("model tests of the project", () => {
  it("every Dataform test block and incremental fixture passes on ZetaSQL (and the test queries on DuckDB)", () => {
    expect(report.errors).toEqual([]);
    expect(report.tests.filter((t) => t.kind === "dataform").length).toBeGreaterThanOrEqual(20);
    expect(report.tests.filter((t) => t.kind === "fixture").map((t) => t.name)).toEqual([
      "fct_test_cases_full",
      "fct_test_cases_incremental",
      "fct_test_cases_job_mapping",
      "fct_workflow_jobs_full",
      "fct_workflow_jobs_incremental",
      "fct_workflow_jobs_rates",
      "fct_workflow_runs_full",
      "fct_workflow_runs_incremental",
    ]);
  });

  it("every staging, mart and reporting model has at least one passing model test", () => {
    const models = ["staging", "marts", "reporting"].flatMap((folder) =>
      readdirSync(join(projectRoot, "definitions", folder))
        .filter((f) => f.endsWith(".sqlx") && !/type:\s*"assertion"/.test(readFileSync(join(projectRoot, "definitions", folder, f), "utf8")))
        .map((f) => f.replace(/\.sqlx$/, "")),
    );
    expect(models.length).toBeGreaterThanOrEqual(21);
    const tested = new Set(report.tests.filter((t) => t.ok && t.model).map((t) => (t.model ?? "").split(".").pop()));
    expect(models.filter((m) => !tested.has(m))).toEqual([]);
  });
});

describe("a wrong expectation fails", () => {
  let project: ProjectCopy;
  beforeAll(() => {
    project = copyProject();
  });
  afterAll(() => project?.remove());

  it("reports the differing rows of a Dataform test", async () => {
    // BigQuery truncates 1.9 s to 1; an analyst who expects rounding (2) must see the test fail.
    project.write(
      "definitions/tests/wrong.sqlx",
      `config { type: "test", dataset: "fct_job_steps" }
input "stg_job_steps" {
  SELECT 1 AS job_id, 1 AS step_number, 1 AS run_id, 1 AS run_attempt, 'r' AS repository, 's' AS step_name, 'completed' AS status,
    'success' AS conclusion, TIMESTAMP '2026-01-01 00:00:00+00' AS started_at, TIMESTAMP '2026-01-01 00:00:01.9+00' AS completed_at
}
SELECT 1 AS job_id, 1 AS step_number, 1 AS run_id, 1 AS run_attempt, 'r' AS repository, 's' AS step_name, 'completed' AS status,
  'success' AS conclusion, TIMESTAMP '2026-01-01 00:00:00+00' AS started_at, TIMESTAMP '2026-01-01 00:00:01.9+00' AS completed_at, 2 AS duration_seconds
`,
    );
    const r = await runModelTests({ engine, projectDir: project.dir, parityFixture: false, fixturesDir: `${project.dir}/none` });
    const wrong = r.tests.find((t) => t.name === "wrong");
    expect(wrong?.ok).toBe(false);
    expect(wrong?.message).toMatch(/only in expected:\n.*duration_seconds: "2"/);
    expect(wrong?.message).toMatch(/only in ZetaSQL:\n.*duration_seconds: "1"/);
    expect(r.ok).toBe(false);
  });
});
