/**
 * Test analytics models (issue 14) on a seeded warehouse: raw workflow_runs, workflow_jobs, test_cases and
 * coverage_reports rows inserted into DuckDB and modelled by the real transform. The ground truth is
 * computed here, from the seeded rows, with this file's own implementation of each definition:
 * - every seeded test case execution is in fct_test_cases exactly once (some rows are loaded twice, as a
 *   retried batch would), with the job that uploaded its report when the artifact name follows a mappable
 *   convention and NULL when it does not, also for runs loaded after a first transform (the incremental
 *   build fills in their commit and job);
 * - the flaky tests found equal the seeded ones: a failure on attempt 1 that passed on attempt 2 of the
 *   same SHA, two runs of the same SHA, a Surefire flakyFailure, and a matrix job whose legs share test
 *   names (a leg failing where another passes on the same SHA is not flaky; the leg re-run that passed is),
 *   legs named by matrix values (`junit-ubuntu-latest-3.11`) or by OS alone (`junit-windows`);
 * - coverage per run and per day equals the seeded values; test health (pass rate, nearest-rank p95) too;
 * - the report's tests page lists them, and shows its empty state on a warehouse without test data.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DuckDBConnection } from "@duckdb/node-api";
import { datasets } from "../load/datasets.js";
import { createRawTables, openDuckDb } from "../load/duckdb-connection.js";
import { withDuckDbSource } from "../report/build.js";
import { readReportData } from "../report/data.js";
import { renderPage } from "../report/html.js";
import { runTransform } from "../transform/run.js";

const REPO = "acme-t/app";
const NOW = Date.parse("2026-06-10T12:00:00Z");
const H = 3_600_000;
const DAY = 24 * H;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

// ---- the seeded rows ------------------------------------------------------------------------------------

interface SeedRun { run_id: number; run_attempt: number; head_sha: string; head_branch: string; created: number; conclusion: string }
interface SeedJob { job_id: number; run_id: number; run_attempt: number; job_name: string; conclusion: string; started: number; minutes: number }
interface SeedCase {
  artifact_id: number;
  artifact_name: string;
  report_path: string;
  ordinal: number;
  run_id: number;
  run_attempt: number;
  /** The job that uploaded the report, as the workflow knows it; expected in fct_test_cases.job when `mappable`. */
  uploader: string;
  mappable: boolean;
  suite: string;
  classname: string | null;
  name: string;
  status: "passed" | "failed" | "error" | "skipped";
  duration: number;
  flaky_failures: number;
  created: number;
}
interface SeedCoverage { artifact_id: number; run_id: number; run_attempt: number; report_path: string; covered: number; valid: number; bcovered: number; bvalid: number; created: number }

const runs: SeedRun[] = [];
const jobs: SeedJob[] = [];
const cases: SeedCase[] = [];
const coverage: SeedCoverage[] = [];
let nextJob = 90_000;
let nextArtifact = 70_000;

function run(run_id: number, run_attempt: number, head_sha: string, created: number, conclusion = "success", head_branch = "main"): SeedRun {
  const r = { run_id, run_attempt, head_sha, head_branch, created, conclusion };
  runs.push(r);
  return r;
}
function job(r: SeedRun, job_name: string, conclusion: string, minutes: number): SeedJob {
  // A job of `minutes` billable minutes runs (minutes - 1) minutes and 30 s: GitHub rounds up.
  const j = { job_id: nextJob++, run_id: r.run_id, run_attempt: r.run_attempt, job_name, conclusion, started: r.created + (r.run_attempt - 1) * H + 60_000, minutes };
  jobs.push(j);
  return j;
}
type CaseSpec = [suite: string, classname: string | null, name: string, status: SeedCase["status"], duration: number, flaky?: number];
function artifact(r: SeedRun, uploader: string, artifact_name: string, mappable: boolean, specs: CaseSpec[], report_path = "report.xml"): number {
  const artifact_id = nextArtifact++;
  const created = r.created + (r.run_attempt - 1) * H + 10 * 60_000;
  specs.forEach(([suite, classname, name, status, duration, flaky], i) =>
    cases.push({ artifact_id, artifact_name, report_path, ordinal: i + 1, run_id: r.run_id, run_attempt: r.run_attempt, uploader, mappable, suite, classname, name, status, duration, flaky_failures: flaky ?? 0, created }),
  );
  return artifact_id;
}
function cov(r: SeedRun, report_path: string, covered: number, valid: number, bcovered: number, bvalid: number, offsetMs = 20 * 60_000): void {
  coverage.push({ artifact_id: nextArtifact++, run_id: r.run_id, run_attempt: r.run_attempt, report_path, covered, valid, bcovered, bvalid, created: r.created + (r.run_attempt - 1) * H + offsetMs });
}

const stable = (n: number, prefix: string): CaseSpec[] => Array.from({ length: n }, (_, i) => ["pytest", "tests.test_stable", `${prefix}_${i}`, "passed", 0.1 * (i + 1)] as CaseSpec);

// 1. Attempt 1 fails test_login, attempt 2 (same run, same SHA) passes it: flaky, on job "test".
const d1 = NOW - 3 * DAY;
{
  const a1 = run(1001, 1, "sha-retry", d1, "failure");
  job(a1, "test", "failure", 5);
  job(a1, "lint", "success", 1);
  artifact(a1, "test", "junit-test", true, [["pytest", "tests.test_app", "test_login", "failed", 2.5], ["pytest", "tests.test_app", "test_home", "passed", 1.0], ["pytest", "tests.test_app", "test_todo", "skipped", 0], ...stable(6, "a")]);
  cov(a1, "coverage.xml", 700, 1000, 40, 100);
  const a2 = run(1001, 2, "sha-retry", d1);
  job(a2, "test", "success", 4);
  artifact(a2, "test", "junit-test", true, [["pytest", "tests.test_app", "test_login", "passed", 2.0], ["pytest", "tests.test_app", "test_home", "passed", 1.2], ["pytest", "tests.test_app", "test_todo", "skipped", 0], ...stable(6, "a")]);
  cov(a2, "coverage.xml", 800, 1000, 50, 100);
}
// 2. Two runs of the same SHA: test_cache fails in the first, passes in the second (a push and a manual
//    re-trigger). The artifact "unit-results" maps to job "unit".
{
  const r1 = run(1002, 1, "sha-cross", d1 + 2 * H, "failure", "feature/x");
  job(r1, "unit", "failure", 3);
  job(r1, "docs", "failure", 2);
  artifact(r1, "unit", "unit-results", true, [["jest", "cache", "test_cache", "failed", 0.3], ["jest", "cache", "test_evict", "passed", 0.2]]);
  cov(r1, "cobertura.xml", 450, 900, 0, 0);
  const r2 = run(1003, 1, "sha-cross", d1 + 3 * H, "success", "feature/x");
  job(r2, "unit", "success", 3);
  artifact(r2, "unit", "unit-results", true, [["jest", "cache", "test_cache", "passed", 0.4], ["jest", "cache", "test_evict", "passed", 0.2]]);
  cov(r2, "cobertura.xml", 540, 900, 0, 0);
}
// 3. Surefire: a test that failed once and passed on Maven's own retry, in a passing job. The artifact name
//    follows no convention: no job, the leg is the artifact name.
const d2 = NOW - 2 * DAY;
{
  const r = run(1004, 1, "sha-maven", d2);
  job(r, "build", "success", 7);
  artifact(r, "build", "surefire-reports", false, [["com.acme.PaymentTest", "com.acme.PaymentTest", "retriesCharge", "passed", 3.0, 1], ["com.acme.PaymentTest", "com.acme.PaymentTest", "refunds", "passed", 1.5]], "TEST-com.acme.PaymentTest.xml");
}
// 4. A matrix job whose legs share test names. Attempt 1: test_unicode fails on 3.11 and passes on 3.12
//    (a platform difference on one SHA, not a flake); test_path fails on both legs. Attempt 2 re-runs the
//    failed legs: test_unicode passes on 3.11 (flaky on that leg only), test_path still fails (broken).
{
  const a1 = run(1005, 1, "sha-matrix", d2 + 4 * H, "failure");
  job(a1, "test (ubuntu-latest, 3.11)", "failure", 6);
  job(a1, "test (ubuntu-latest, 3.12)", "failure", 6);
  artifact(a1, "test (ubuntu-latest, 3.11)", "junit-ubuntu-latest-3.11", true, [["pytest", "tests.test_io", "test_unicode", "failed", 0.5], ["pytest", "tests.test_io", "test_path", "error", 0.1], ...stable(3, "m")]);
  artifact(a1, "test (ubuntu-latest, 3.12)", "junit-ubuntu-latest-3.12", true, [["pytest", "tests.test_io", "test_unicode", "passed", 0.6], ["pytest", "tests.test_io", "test_path", "failed", 0.1], ...stable(3, "m")]);
  cov(a1, "py3.11/coverage.xml", 600, 1000, 10, 20);
  cov(a1, "py3.12/coverage.xml", 700, 1000, 15, 20, 25 * 60_000);
  const a2 = run(1005, 2, "sha-matrix", d2 + 4 * H, "failure");
  job(a2, "test (ubuntu-latest, 3.11)", "success", 5);
  job(a2, "test (ubuntu-latest, 3.12)", "failure", 6);
  artifact(a2, "test (ubuntu-latest, 3.11)", "junit-ubuntu-latest-3.11", true, [["pytest", "tests.test_io", "test_unicode", "passed", 0.7], ["pytest", "tests.test_io", "test_path", "failed", 0.1], ...stable(3, "m")]);
  artifact(a2, "test (ubuntu-latest, 3.12)", "junit-ubuntu-latest-3.12", true, [["pytest", "tests.test_io", "test_unicode", "passed", 0.6], ["pytest", "tests.test_io", "test_path", "failed", 0.1], ...stable(3, "m")]);
}
// 6. The simulator's convention: legs named by OS only (junit-ubuntu, junit-windows), same test names;
//    test_fs fails on Windows and passes on Ubuntu of one SHA: a platform difference, not a flake.
{
  const r = run(1007, 1, "sha-os", d2 + 6 * H, "failure");
  job(r, "test (ubuntu-latest, 3.12)", "success", 3);
  job(r, "test (windows-latest, 3.12)", "failure", 4);
  artifact(r, "test (ubuntu-latest, 3.12)", "junit-ubuntu", true, [["pytest", "tests.test_os", "test_fs", "passed", 0.2]], "reports/junit.xml");
  artifact(r, "test (windows-latest, 3.12)", "junit-windows", true, [["pytest", "tests.test_os", "test_fs", "failed", 0.3]], "reports/junit.xml");
}
// 5. A later, clean run on main the next day: more stable tests and the day's coverage.
{
  const r = run(1006, 1, "sha-clean", NOW - DAY);
  job(r, "test", "success", 4);
  artifact(r, "test", "junit-test", true, [["pytest", "tests.test_app", "test_login", "passed", 2.2], ["pytest", "tests.test_app", "test_home", "passed", 0.9], ["pytest", "tests.test_app", "test_todo", "skipped", 0], ...stable(6, "a")]);
  cov(r, "coverage.xml", 820, 1000, 55, 100);
}

// ---- ground truth: the definitions, implemented again over the seeds ---------------------------------------

const FAIL = new Set(["failed", "error"]);
const runOf = (c: { run_id: number }) => runs.find((r) => r.run_id === c.run_id && runs.every((o) => o.run_id !== r.run_id || o.run_attempt <= r.run_attempt));
// The leg is the artifact name (one per matrix leg, the same run after run), whether or not it maps to a job.
const legOf = (c: SeedCase) => c.artifact_name;
const identity = (c: SeedCase) => JSON.stringify(["CI", legOf(c), c.suite, c.classname, c.name]);

interface TruthFlaky { identity: string; flaky_commits: number; commits: number; runs_affected: number; flaky_failures: number; rerun_minutes: number }
function truthFlaky(): TruthFlaky[] {
  const byId = new Map<string, SeedCase[]>();
  for (const c of cases.filter((x) => x.status !== "skipped")) byId.set(identity(c), [...(byId.get(identity(c)) ?? []), c]);
  const out: TruthFlaky[] = [];
  for (const [id, list] of byId) {
    const sha = (c: SeedCase) => runOf(c)?.head_sha ?? "";
    const flakyShas = new Set([...new Set(list.map(sha))].filter((s) => list.some((c) => sha(c) === s && FAIL.has(c.status)) && list.some((c) => sha(c) === s && c.status === "passed")));
    const flakyFailures = list.filter((c) => flakyShas.has(sha(c)) && FAIL.has(c.status));
    const events = list.filter((c) => flakyFailures.includes(c) || c.flaky_failures > 0);
    if (events.length === 0) continue;
    const charged = new Set(flakyFailures.map((c) => JSON.stringify([c.run_id, c.run_attempt])));
    const minutes = [...charged].reduce((sum, key) => {
      const [runId, attempt] = JSON.parse(key) as [number, number];
      const c = flakyFailures.find((x) => x.run_id === runId && x.run_attempt === attempt);
      const js = jobs.filter((j) => j.run_id === runId && j.run_attempt === attempt && (c?.mappable ? j.job_name === c.uploader : j.conclusion === "failure"));
      return sum + js.reduce((s, j) => s + j.minutes, 0);
    }, 0);
    out.push({
      identity: id,
      flaky_commits: new Set(events.map(sha)).size,
      commits: new Set(list.map(sha)).size,
      runs_affected: new Set(events.map((c) => c.run_id)).size,
      flaky_failures: flakyFailures.length + list.reduce((s, c) => s + c.flaky_failures, 0),
      rerun_minutes: minutes,
    });
  }
  return out.sort((a, b) => a.identity.localeCompare(b.identity));
}

const dayOf = (ms: number) => iso(ms).slice(0, 10);
function truthCoverageDaily() {
  const perRun = new Map<string, { run: SeedRun; created: number; covered: number; valid: number; bcovered: number; bvalid: number }>();
  for (const c of coverage) {
    const key = JSON.stringify([c.run_id, c.run_attempt]);
    const r = runOf(c);
    if (!r) throw new Error("coverage without a run");
    const acc = perRun.get(key) ?? { run: r, created: 0, covered: 0, valid: 0, bcovered: 0, bvalid: 0 };
    perRun.set(key, { ...acc, created: Math.max(acc.created, c.created), covered: acc.covered + c.covered, valid: acc.valid + c.valid, bcovered: acc.bcovered + c.bcovered, bvalid: acc.bvalid + c.bvalid });
  }
  const days = new Map<string, { date: string; branch: string; runs: { line: number; branch: number | null; created: number; run_id: number }[] }>();
  for (const [key, v] of perRun) {
    const [runId] = JSON.parse(key) as [number];
    const k = JSON.stringify([dayOf(v.created), v.run.head_branch]);
    const d = days.get(k) ?? { date: dayOf(v.created), branch: v.run.head_branch, runs: [] };
    d.runs.push({ line: v.covered / v.valid, branch: v.bvalid > 0 ? v.bcovered / v.bvalid : null, created: v.created, run_id: runId });
    days.set(k, d);
  }
  return [...days.values()]
    .map((d) => {
      const latest = [...d.runs].sort((a, b) => b.created - a.created)[0];
      return { date: d.date, branch: d.branch, runs: d.runs.length, latest_run_id: latest?.run_id, line_rate: latest?.line, avg_line_rate: d.runs.reduce((s, r) => s + r.line, 0) / d.runs.length };
    })
    .sort((a, b) => `${a.date}${a.branch}`.localeCompare(`${b.date}${b.branch}`));
}

// ---- the warehouse ----------------------------------------------------------------------------------------

type Value = string | number | null | string[];
const lit = (v: Value): string =>
  v === null ? "NULL" : typeof v === "number" ? String(v) : Array.isArray(v) ? `[${v.map(lit).join(", ")}]::VARCHAR[]` : `'${v.replaceAll("'", "''")}'`;
async function insert(c: DuckDBConnection, table: string, row: Record<string, Value>, extractedAt: string, batch = "b1"): Promise<void> {
  const full: Record<string, Value> = { payload: "{}", _batch_id: batch, _extracted_at: extractedAt, ...row };
  const cols = Object.keys(full);
  await c.run(`INSERT INTO ${datasets.raw}.${table} (${cols.join(", ")}) VALUES (${cols.map((k) => lit(full[k] ?? null)).join(", ")})`);
}
const EXTRACTED = iso(NOW);

/**
 * Loads the seeds and runs the transform. `lateRuns`: runs (and their jobs) loaded only after a first
 * transform, as when the artifacts were extracted before the run's webhooks or poll landed; the second,
 * incremental build of fct_test_cases must fill in their commit, branch and job.
 */
async function buildWarehouse(path: string, withTests: boolean, lateRuns: ReadonlySet<number> = new Set()): Promise<void> {
  await load(path, withTests, (r) => !lateRuns.has(r.run_id));
  if (lateRuns.size > 0) await load(path, false, (r) => lateRuns.has(r.run_id), false);
}

async function load(path: string, withTests: boolean, runFilter: (r: { run_id: number }) => boolean, create = true): Promise<void> {
  const w = await openDuckDb(path);
  try {
    const c = w.connection;
    if (create) await createRawTables(c);
    for (const r of runs.filter(runFilter)) {
      await insert(c, "workflow_runs", {
        repository: REPO, run_id: r.run_id, run_attempt: r.run_attempt, workflow_id: 1, workflow_name: "CI", workflow_path: ".github/workflows/ci.yml", event: "push",
        head_branch: r.head_branch, head_sha: r.head_sha, actor_login: "octocat", html_url: `https://github.com/${REPO}/actions/runs/${r.run_id}`, status: "completed",
        conclusion: r.conclusion, created_at: iso(r.created), run_started_at: iso(r.created + (r.run_attempt - 1) * H), updated_at: iso(r.created + (r.run_attempt - 1) * H + 30 * 60_000),
      }, EXTRACTED);
    }
    for (const j of jobs.filter(runFilter)) {
      await insert(c, "workflow_jobs", {
        repository: REPO, job_id: j.job_id, run_id: j.run_id, run_attempt: j.run_attempt, workflow_name: "CI", job_name: j.job_name, head_branch: "main", status: "completed",
        conclusion: j.conclusion, created_at: iso(j.started - 5000), started_at: iso(j.started), completed_at: iso(j.started + (j.minutes - 1) * 60_000 + 30_000),
        runner_name: "GitHub Actions 1", runner_group_name: "GitHub Actions", labels: ["ubuntu-latest"],
      }, EXTRACTED);
    }
    for (const t of withTests ? cases : []) {
      const row = {
        repository: REPO, run_id: t.run_id, run_attempt: t.run_attempt, artifact_id: t.artifact_id, artifact_name: t.artifact_name, report_path: t.report_path, ordinal: t.ordinal,
        suite: t.suite, classname: t.classname, name: t.name, file: null, line: null, status: t.status, duration_seconds: t.duration, flaky_failures: t.flaky_failures, rerun_failures: 0,
        message: FAIL.has(t.status) ? `AssertionError in ${t.name}` : null, system_out: null, created_at: iso(t.created),
      };
      await insert(c, "test_cases", row, EXTRACTED);
      // Every third row is loaded again by a later batch (a retried extract): still one execution.
      if (t.ordinal % 3 === 0) await insert(c, "test_cases", row, iso(NOW + 60_000), "b2");
    }
    for (const v of withTests ? coverage : []) {
      const row = {
        repository: REPO, run_id: v.run_id, run_attempt: v.run_attempt, artifact_id: v.artifact_id, artifact_name: "coverage", report_path: v.report_path, format: "cobertura",
        lines_covered: v.covered, lines_valid: v.valid, branches_covered: v.bcovered, branches_valid: v.bvalid, line_rate: v.covered / v.valid,
        branch_rate: v.bvalid > 0 ? v.bcovered / v.bvalid : 0, created_at: iso(v.created),
      };
      await insert(c, "coverage_reports", row, EXTRACTED);
      await insert(c, "coverage_reports", row, iso(NOW + 60_000), "b2");
    }
  } finally {
    w.close();
  }
  // Every model: the report reads the other pages' views too.
  const result = await runTransform({ duckdbPath: path, vars: { kpi_reference_time: iso(NOW) } });
  const failed = result.actions.filter((a) => a.status !== "done");
  if (failed.length > 0) throw new Error(`transform failed: ${failed.map((a) => `${a.name}: ${a.error ?? a.status}`).join("; ")}`);
}

const dir = mkdtempSync(join(tmpdir(), "aw-test-models-"));
const seeded = join(dir, "seeded.duckdb");
const empty = join(dir, "empty.duckdb");
// The OS-legs run (1007) and the clean run (1006) land after their artifacts: the incremental build fills them in.
const LATE_RUNS = new Set([1006, 1007]);
beforeAll(async () => {
  await buildWarehouse(seeded, true, LATE_RUNS);
  await buildWarehouse(empty, false);
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Row = Record<string, unknown>;
const query = (path: string, sql: string): Promise<Row[]> => withDuckDbSource(path, (source) => source.query(sql, {}));
const M = datasets.models;

describe("fct_test_cases", () => {
  it("holds every seeded test case execution exactly once, re-loaded rows included, with commit and job filled in for runs that landed after their artifacts", async () => {
    const rows = await query(seeded, `SELECT artifact_id, ordinal, status, job, head_sha, head_branch, workflow_name, run_attempt FROM ${M}.fct_test_cases`);
    expect(rows).toHaveLength(cases.length);
    const keys = rows.map((r) => `${Number(r.artifact_id)}/${Number(r.ordinal)}`);
    expect(new Set(keys).size).toBe(cases.length);
    expect(new Set(keys)).toEqual(new Set(cases.map((c) => `${c.artifact_id}/${c.ordinal}`)));
    for (const c of cases) {
      const r = rows.find((x) => Number(x.artifact_id) === c.artifact_id && Number(x.ordinal) === c.ordinal);
      const runRow = runOf(c);
      expect(r, `${c.artifact_id}/${c.ordinal}`).toMatchObject({ status: c.status, job: c.mappable ? c.uploader : null, head_sha: runRow?.head_sha, head_branch: runRow?.head_branch, workflow_name: "CI" });
      expect(Number(r?.run_attempt)).toBe(c.run_attempt);
    }
  });

  it("maps each matrix leg's report to its own leg, though the legs share test names", async () => {
    const rows = await query(seeded, `SELECT DISTINCT artifact_name, job FROM ${M}.fct_test_cases WHERE run_id = 1005 ORDER BY artifact_name`);
    expect(rows).toEqual([
      { artifact_name: "junit-ubuntu-latest-3.11", job: "test (ubuntu-latest, 3.11)" },
      { artifact_name: "junit-ubuntu-latest-3.12", job: "test (ubuntu-latest, 3.12)" },
    ]);
  });
});

describe("rpt_flaky_tests", () => {
  it("finds exactly the seeded flaky tests: retry, two runs of one SHA, Surefire, and the matrix leg that passed on re-run", async () => {
    const rows = await query(seeded, `SELECT workflow_name, leg, suite, classname, name, flaky_commits, commits, runs_affected, flaky_failures, rerun_minutes FROM ${M}.rpt_flaky_tests`);
    const found = rows
      .map((r) => ({
        identity: JSON.stringify([r.workflow_name, r.leg, r.suite, r.classname, r.name]),
        flaky_commits: Number(r.flaky_commits),
        commits: Number(r.commits),
        runs_affected: Number(r.runs_affected),
        flaky_failures: Number(r.flaky_failures),
        rerun_minutes: Number(r.rerun_minutes),
      }))
      .sort((a, b) => a.identity.localeCompare(b.identity));
    const truth = truthFlaky();
    expect(found).toEqual(truth);
    // The seeded flakes, by name: the ground truth is not itself empty or overbroad.
    expect(truth.map((t) => (JSON.parse(t.identity) as string[]).slice(1, 2).concat((JSON.parse(t.identity) as string[])[4] ?? "").join(" / ")).sort()).toEqual([
      "junit-test / test_login",
      "junit-ubuntu-latest-3.11 / test_unicode",
      "surefire-reports / retriesCharge",
      "unit-results / test_cache",
    ]);
    // The 3.12 leg never flaked (test_unicode passed there; its failure on 3.11 was another leg), and
    // test_path failed on every execution of its leg: neither is listed.
    expect(rows.some((r) => r.leg === "junit-ubuntu-latest-3.12")).toBe(false);
    expect(rows.some((r) => r.name === "test_path")).toBe(false);
    expect(rows.some((r) => r.name === "test_fs")).toBe(false);
  });
});

describe("rpt_coverage_daily and rpt_test_health_daily", () => {
  it("coverage per day and branch is the seeded coverage of the day's latest run, with the day's mean", async () => {
    const rows = await query(seeded, `SELECT CAST(coverage_date AS VARCHAR) AS date, head_branch AS branch, runs, latest_run_id, line_rate, avg_line_rate FROM ${M}.rpt_coverage_daily ORDER BY 1, 2`);
    const truth = truthCoverageDaily();
    expect(rows).toHaveLength(truth.length);
    rows.forEach((r, i) => {
      const t = truth[i];
      expect({ date: r.date, branch: r.branch, runs: Number(r.runs), latest_run_id: Number(r.latest_run_id) }).toEqual({ date: t?.date, branch: t?.branch, runs: t?.runs, latest_run_id: t?.latest_run_id });
      expect(Number(r.line_rate)).toBeCloseTo(t?.line_rate ?? NaN, 9);
      expect(Number(r.avg_line_rate)).toBeCloseTo(t?.avg_line_rate ?? NaN, 9);
    });
    // The matrix run's two reports are summed (1300 / 2000), not averaged per report or taken from one leg.
    expect(truth.some((t) => t.latest_run_id === 1005 && t.line_rate === 0.65)).toBe(true);
  });

  it("daily pass rate and nearest-rank p95 equal the seeded executions'", async () => {
    const rows = await query(seeded, `SELECT CAST(test_date AS VARCHAR) AS date, executions, passed, skipped, pass_rate, p95_duration_seconds FROM ${M}.rpt_test_health_daily ORDER BY 1`);
    const days = [...new Set(cases.map((c) => dayOf(c.created)))].sort();
    expect(rows.map((r) => r.date)).toEqual(days);
    for (const r of rows) {
      const day = cases.filter((c) => dayOf(c.created) === r.date);
      const counted = day.filter((c) => c.status !== "skipped");
      const durations = counted.map((c) => c.duration).sort((a, b) => a - b);
      expect(Number(r.executions)).toBe(day.length);
      expect(Number(r.skipped)).toBe(day.length - counted.length);
      expect(Number(r.pass_rate)).toBeCloseTo(counted.filter((c) => c.status === "passed").length / counted.length, 9);
      expect(Number(r.p95_duration_seconds)).toBeCloseTo(durations[Math.ceil(0.95 * durations.length) - 1] ?? NaN, 9);
    }
  });
});

describe("report tests page", () => {
  it("lists the flaky and slowest tests and draws the pass-rate and coverage trends", async () => {
    const data = await withDuckDbSource(seeded, (source) => readReportData(source, { now: new Date(NOW) }));
    expect(data.flakyTests.map((f) => f.name).sort()).toEqual(["retriesCharge", "test_cache", "test_login", "test_unicode"]);
    expect(data.slowestTests[0]).toMatchObject({ name: "retriesCharge", p95_duration_seconds: 3 });
    expect(data.testHealth.length).toBeGreaterThan(0);
    expect(data.coverage.length).toBe(truthCoverageDaily().length);
    const page = renderPage(data, "void 0");
    const panel = page.slice(page.indexOf('id="panel-tests"'), page.indexOf("</section>", page.indexOf('id="panel-tests"')));
    expect(panel).not.toContain('id="tests-empty"');
    for (const name of ["test_login", "test_cache", "retriesCharge", "test_unicode"]) expect(panel).toContain(name);
    expect(panel).toContain("junit-ubuntu-latest-3.11");
    expect(panel).toContain('id="tests-pass-rate-trend"');
    expect(panel).toContain('id="tests-coverage-trend"');
  });

  it("shows the empty state on a warehouse without test data", async () => {
    const data = await withDuckDbSource(empty, (source) => readReportData(source, { now: new Date(NOW) }));
    expect([data.flakyTests, data.slowestTests, data.testHealth, data.coverage].map((l) => l.length)).toEqual([0, 0, 0, 0]);
    const page = renderPage(data, "void 0");
    expect(page).toContain('id="tests-empty"');
    expect(page).not.toContain('id="tests-flaky"');
  });
});
