/**
 * Every rule kind (alerts/evaluate.ts) on a seeded scenario: raw run and job rows inserted into a DuckDB
 * warehouse and modelled by the real transform, then evaluated through the same ReportSource the report
 * uses. For each kind: it fires (right scope, value equal to the value this test computes from the seeded
 * rows with its own implementation of the definition), stays silent just under the threshold, and
 * resolves when the condition clears (a later `now`, a later successful run, a run that finished).
 * Each kind has its own repository, and each rule is scoped to it, so scenarios cannot leak into each
 * other. A last test type-checks every kind's SQL on ZetaSQL against the compiled models and checks that
 * every function it calls is certified.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DuckDBConnection } from "@duckdb/node-api";
import { bindLiterals, checkAlertQueries } from "../alerts/check.js";
import { evaluateRules, FAILURE_CONCLUSIONS, findingsFromRows, flakyJobRunsSql, ruleQuery } from "../alerts/evaluate.js";
import { loadRules, parseRules } from "../alerts/rules.js";
import { fingerprintOf, RULE_KINDS, type Finding, type Rule } from "../alerts/types.js";
import { checkGraph } from "../check/analyze.js";
import { runCheck } from "../check/run.js";
import { copyProject } from "./check-project.js";
import { tableName } from "../check/catalog.js";
import { referenceRelation } from "../check/relations.js";
import { toValueProto } from "../check/values.js";
import type { TableContent } from "../check/zetasql-types.js";
import { rawTableNames } from "../schemas/raw-tables.js";
import { isCertified } from "../check/certified-functions.js";
import { withZetaSql } from "../check/zetasql.js";
import { datasets } from "../load/datasets.js";
import { createRawTables, openDuckDb } from "../load/duckdb-connection.js";
import { withDuckDbSource } from "../report/build.js";
import { compileProject } from "../transform/compile.js";
import { actionsOf, planActions, runTransform } from "../transform/run.js";
import { landmarks } from "../simulator/dataset.js";
import { buildReportWarehouse, REPORT_ANCHOR } from "./report-fixture.js";

const NOW = Date.parse("2026-06-10T12:00:00Z");
const H = 3_600_000;
const DAY = 24 * H;
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

// ---- the seeded rows (what the test knows; the ground truth is computed from these) ----------------

interface SeedRun {
  repository: string;
  run_id: number;
  run_attempt: number;
  workflow_name: string;
  head_branch: string;
  status: string;
  conclusion: string | null;
  created: number;
  started: number;
  /** updated_at: the end for completed attempts. */
  updated: number;
}
interface SeedJob {
  repository: string;
  job_id: number;
  run_id: number;
  run_attempt: number;
  workflow_name: string;
  job_name: string;
  head_branch: string;
  status: string;
  conclusion: string | null;
  created: number;
  started: number | null;
  completed: number | null;
  labels: string[];
  runner_name: string | null;
}

const runs: SeedRun[] = [];
const jobs: SeedJob[] = [];
let nextRun = 1000;
let nextJob = 500_000;

function run(repository: string, o: Partial<SeedRun> & { created: number }): SeedRun {
  const r: SeedRun = {
    repository,
    run_id: o.run_id ?? nextRun++,
    run_attempt: 1,
    workflow_name: "CI",
    head_branch: "main",
    status: "completed",
    conclusion: "success",
    started: o.created,
    updated: o.created + 300_000,
    ...o,
  };
  runs.push(r);
  return r;
}
function job(r: SeedRun, o: Partial<SeedJob> = {}): SeedJob {
  const j: SeedJob = {
    repository: r.repository,
    job_id: nextJob++,
    run_id: r.run_id,
    run_attempt: r.run_attempt,
    workflow_name: r.workflow_name,
    job_name: "build",
    head_branch: r.head_branch,
    status: "completed",
    conclusion: "success",
    created: r.started,
    started: r.started + 10_000,
    completed: r.started + 70_000,
    labels: ["ubuntu-latest"],
    runner_name: "runner-1",
    ...o,
  };
  jobs.push(j);
  return j;
}

// failure_rate: acme-fr/app, CI. 3 failures among 10 completed latest attempts in the last 24 h (early in
// the window), a re-run that passed, a cancelled run, an in-progress run, and an old failure.
const FR = "acme-fr/app";
{
  const fails = ["failure", "timed_out", "startup_failure"];
  fails.forEach((c, i) => run(FR, { created: NOW - 23 * H + i * H, conclusion: c }));
  run(FR, { created: NOW - 19 * H, conclusion: "cancelled" });
  const rerun = run(FR, { created: NOW - 18 * H, conclusion: "failure" });
  run(FR, { run_id: rerun.run_id, run_attempt: 2, created: rerun.created, started: NOW - 17 * H, updated: NOW - 17 * H + 60_000, conclusion: "success" });
  for (let i = 0; i < 5; i++) run(FR, { created: NOW - 10 * H + i * H });
  run(FR, { created: NOW - H, status: "in_progress", conclusion: null });
  run(FR, { created: NOW - 30 * H, conclusion: "failure" });
  for (let i = 0; i < 10; i++) run(FR, { created: NOW - 20 * H + i * H, workflow_name: "Lint" });
}

// duration_p95_regression: acme-dur/app, Build. 20 runs per day-long window; previous 100..290 s, current 200..580 s.
const DUR = "acme-dur/app";
for (let i = 0; i < 20; i++) {
  const prev = NOW - 2 * DAY + i * H;
  run(DUR, { workflow_name: "Build", created: prev, started: prev + 5000, updated: prev + 5000 + (100 + 10 * i) * 1000 });
  const cur = NOW - DAY + i * H;
  run(DUR, { workflow_name: "Build", created: cur, started: cur + 5000, updated: cur + 5000 + (200 + 20 * ((i * 7) % 20)) * 1000 });
}

// queue_p95: acme-q/app. 20 self-hosted jobs in the last hour queued 10..200 s, and ubuntu jobs queued long
// (outside the rule's runner_labels).
const Q = "acme-q/app";
{
  const r = run(Q, { created: NOW - 50 * 60_000 });
  for (let i = 0; i < 20; i++) {
    const created = NOW - 50 * 60_000 + i * 60_000;
    job(r, { job_name: `shard ${i}`, created, started: created + (10 + 10 * ((i * 3) % 20)) * 1000, completed: created + 400_000, labels: ["self-hosted", "linux"] });
  }
  for (let i = 0; i < 6; i++) job(r, { job_name: `u${i}`, created: NOW - 40 * 60_000, started: NOW - 40 * 60_000 + 900_000, completed: NOW - 40 * 60_000 + 960_000 });
  // A job that never started has no queue time and is not counted.
  job(r, { job_name: "skipped", created: NOW - 30 * 60_000, started: NOW - 30 * 60_000, completed: NOW - 30 * 60_000, conclusion: "skipped", labels: ["self-hosted", "linux"], runner_name: null });
}

// consecutive_failures: acme-cf/app, CI on main: success, failure, failure, cancelled, timed_out (streak 3,
// the cancelled one ignored); feature/x fails 5 times (out of the default branches); a success on main 1 h after NOW.
const CF = "acme-cf/app";
{
  ["success", "failure", "failure", "cancelled", "timed_out"].forEach((c, i) => run(CF, { created: NOW - 10 * H + i * H, conclusion: c }));
  for (let i = 0; i < 5; i++) run(CF, { created: NOW - 10 * H + i * H, head_branch: "feature/x", conclusion: "failure" });
  run(CF, { created: NOW + H, conclusion: "success" });
}

// stuck: acme-st/app. A run in progress for 3 h with a job running for exactly 2 h and a job queued 1 h;
// a re-run attempt of a 5-day-old run that started 10 min ago.
const ST = "acme-st/app";
const stuckRun = run(ST, { created: NOW - 3 * H, status: "in_progress", conclusion: null, updated: NOW - H });
const stuckJob = job(stuckRun, { job_name: "e2e", created: NOW - 3 * H, started: NOW - 2 * H, completed: null, status: "in_progress", conclusion: null });
const queuedJob = job(stuckRun, { job_name: "deploy", created: NOW - H, started: null, completed: null, status: "queued", conclusion: null, runner_name: null });
// A run created 40 days ago still marked in progress: beyond GitHub's 35-day limit, the warehouse missed its end.
run(ST, { created: NOW - 40 * DAY, status: "in_progress", conclusion: null });
{
  const old = run(ST, { created: NOW - 5 * DAY, conclusion: "failure" });
  run(ST, { run_id: old.run_id, run_attempt: 2, created: old.created, started: NOW - 10 * 60_000, updated: NOW - 10 * 60_000, status: "queued", conclusion: null });
}

// cost_spike: acme-cost/app, Linux jobs: 100 billable minutes on each of the 7 days before 2026-06-09, 400 on 2026-06-09.
const COST = "acme-cost/app";
for (let d = 1; d <= 8; d++) {
  const dayStart = Math.floor(NOW / DAY) * DAY - d * DAY;
  const r = run(COST, { created: dayStart + 8 * H, started: dayStart + 8 * H, updated: dayStart + 16 * H });
  const minutes = d === 1 ? [150, 250] : [40, 60];
  minutes.forEach((m, k) => job(r, { job_name: `j${k}`, created: r.started, started: r.started + 1000, completed: r.started + 1000 + (m * 60 - 30) * 1000 }));
}

// flaky_rate: acme-fl/app, CI, job "test": 10 runs in the last day; runs 0 and 1 failed then passed on re-run,
// run 2 failed twice, run 3 failed then was cancelled.
const FL = "acme-fl/app";
for (let i = 0; i < 10; i++) {
  const created = NOW - 20 * H + i * H;
  const attempts = i === 0 || i === 1 ? ["failure", "success"] : i === 2 ? ["failure", "failure"] : i === 3 ? ["failure", "cancelled"] : ["success"];
  const first = run(FL, { created, conclusion: attempts[0] ?? "success" });
  attempts.forEach((c, a) => {
    const r = a === 0 ? first : run(FL, { run_id: first.run_id, run_attempt: a + 1, created, started: created + a * 600_000, updated: created + a * 600_000 + 300_000, conclusion: c });
    job(r, { job_name: "test", conclusion: c });
    job(r, { job_name: "lint" });
  });
}

// ---- the warehouse -----------------------------------------------------------------------------------

type Value = string | number | null | string[];
const lit = (v: Value): string =>
  v === null ? "NULL" : typeof v === "number" ? String(v) : Array.isArray(v) ? `[${v.map(lit).join(", ")}]::VARCHAR[]` : `'${v.replaceAll("'", "''")}'`;
async function insert(c: DuckDBConnection, table: string, row: Record<string, Value>): Promise<void> {
  const full: Record<string, Value> = { payload: "{}", ...row };
  const cols = Object.keys(full);
  await c.run(`INSERT INTO ${datasets.raw}.${table} (${cols.join(", ")}) VALUES (${cols.map((k) => lit(full[k] ?? null)).join(", ")})`);
}
const runRow = (r: SeedRun, extractedAt: string) => ({
  repository: r.repository, run_id: r.run_id, run_attempt: r.run_attempt, workflow_id: 1, workflow_name: r.workflow_name, workflow_path: ".github/workflows/ci.yml",
  event: "push", head_branch: r.head_branch, head_sha: `sha${r.run_id}`, actor_login: "octocat", html_url: `https://github.com/${r.repository}/actions/runs/${r.run_id}`,
  status: r.status, conclusion: r.conclusion, created_at: iso(r.created), run_started_at: iso(r.started), updated_at: iso(r.updated), _batch_id: `b-${extractedAt}`, _extracted_at: extractedAt,
});
const jobRow = (j: SeedJob, extractedAt: string) => ({
  repository: j.repository, job_id: j.job_id, run_id: j.run_id, run_attempt: j.run_attempt, workflow_name: j.workflow_name, job_name: j.job_name, head_branch: j.head_branch,
  status: j.status, conclusion: j.conclusion, created_at: iso(j.created), started_at: j.started === null ? null : iso(j.started), completed_at: j.completed === null ? null : iso(j.completed),
  runner_name: j.runner_name, runner_group_name: j.runner_name ? "GitHub Actions" : null, labels: j.labels, _batch_id: `b-${extractedAt}`, _extracted_at: extractedAt,
});

const dir = mkdtempSync(join(tmpdir(), "aw-alert-kinds-"));
const duckdbPath = join(dir, "w.duckdb");
const EXTRACTED = "2026-06-10T12:00:00Z";

/** A DuckDB warehouse of the seeded rows, modelled by the real transform. */
async function buildWarehouse(path: string): Promise<void> {
  const w = await openDuckDb(path);
  try {
    await createRawTables(w.connection);
    for (const r of runs) await insert(w.connection, "workflow_runs", runRow(r, EXTRACTED));
    for (const j of jobs) await insert(w.connection, "workflow_jobs", jobRow(j, EXTRACTED));
  } finally {
    w.close();
  }
  await runTransform({ duckdbPath: path, tags: ["runs", "jobs"], includeDependencies: true });
}

beforeAll(() => buildWarehouse(duckdbPath), 180_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const evaluate = (rules: Rule[], now: number) => withDuckDbSource(duckdbPath, (source) => evaluateRules(rules, source, new Date(now)));
const rule = (yaml: string): Rule => {
  const [r] = parseRules(`rules:\n  - ${yaml}\n`, "test");
  if (!r) throw new Error("no rule");
  return r;
};
/** What the assertions compare: scope and value (floats to 9 digits). */
const shape = (fs: Pick<Finding, "scope" | "value">[]) => fs.map((f) => ({ scope: f.scope, value: Number(f.value.toFixed(9)) })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

// ---- ground truth: the definitions, implemented again over the seeded rows ----------------------------

const isFailure = (c: string | null) => c !== null && FAILURE_CONCLUSIONS.includes(c);
const latest = (rs: SeedRun[]) => rs.filter((r) => !rs.some((o) => o.run_id === r.run_id && o.run_attempt > r.run_attempt));
const p95 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.ceil(0.95 * values.length) - 1] ?? NaN;
const secs = (ms: number) => Math.trunc(ms / 1000);

function truthFailureRate(repo: string, workflow: string, windowMs: number, now: number) {
  const rs = latest(runs.filter((r) => r.repository === repo && r.workflow_name === workflow)).filter((r) => r.status === "completed" && r.created >= now - windowMs && r.created < now);
  return { runs: rs.length, rate: rs.filter((r) => isFailure(r.conclusion)).length / rs.length };
}
function truthDurationRatio(repo: string, workflow: string, windowMs: number, now: number) {
  const rs = latest(runs.filter((r) => r.repository === repo && r.workflow_name === workflow && r.status === "completed"));
  const cur = rs.filter((r) => r.created >= now - windowMs && r.created < now).map((r) => secs(r.updated - r.started));
  const prev = rs.filter((r) => r.created >= now - 2 * windowMs && r.created < now - windowMs).map((r) => secs(r.updated - r.started));
  return { current: cur.length, previous: prev.length, ratio: p95(cur) / p95(prev) };
}
function truthQueueP95(repo: string, labels: string, windowMs: number, now: number) {
  const qs = jobs
    .filter((j) => j.repository === repo && j.labels.join(",") === labels && j.created >= now - windowMs && j.created < now && j.started !== null && j.conclusion !== "skipped")
    .map((j) => secs((j.started ?? 0) - j.created));
  return { jobs: qs.length, p95: p95(qs) };
}
function truthStreak(repo: string, workflow: string, branch: string, now: number) {
  const rs = latest(runs.filter((r) => r.repository === repo && r.workflow_name === workflow && r.head_branch === branch))
    .filter((r) => r.status === "completed" && r.created < now && r.conclusion !== "cancelled" && r.conclusion !== "skipped")
    .sort((a, b) => b.created - a.created || b.run_id - a.run_id);
  const firstOk = rs.findIndex((r) => !isFailure(r.conclusion));
  return firstOk === -1 ? rs.length : firstOk;
}
function truthCost(repo: string, trailingDays: number, now: number) {
  const day = Math.floor(now / DAY) * DAY - DAY;
  const cost = (j: SeedJob) => Math.ceil(secs((j.completed ?? 0) - (j.started ?? 0)) / 60) * 0.006;
  const inRange = (from: number, to: number) => jobs.filter((j) => j.repository === repo && (j.started ?? j.created) >= from && (j.started ?? j.created) < to).reduce((s, j) => s + cost(j), 0);
  const dayCost = inRange(day, day + DAY);
  const mean = inRange(day - trailingDays * DAY, day) / trailingDays;
  return { dayCost, mean, ratio: dayCost / mean };
}
function truthFlaky(repo: string, jobName: string, windowMs: number, now: number) {
  const inWindow = latest(runs.filter((r) => r.repository === repo)).filter((r) => r.created >= now - windowMs && r.created < now);
  const perRun = inWindow
    .map((r) => jobs.filter((j) => j.run_id === r.run_id && j.job_name === jobName && j.status === "completed"))
    .filter((js) => js.length > 0)
    .map((js) => {
      const failed = js.filter((j) => isFailure(j.conclusion)).map((j) => j.run_attempt);
      const passed = js.filter((j) => j.conclusion === "success").map((j) => j.run_attempt);
      return failed.length > 0 && passed.length > 0 && Math.min(...failed) < Math.max(...passed);
    });
  return { runs: perRun.length, rate: perRun.filter(Boolean).length / perRun.length };
}

// ---- the kinds ------------------------------------------------------------------------------------------

describe("failure_rate", () => {
  const r = (threshold: number, minRuns = 10) => rule(`{ name: fr, kind: failure_rate, threshold: ${threshold}, window: 24h, min_runs: ${minRuns}, scope: { repositories: ["acme-fr/*"] } }`);
  const truth = truthFailureRate(FR, "CI", DAY, NOW);

  it("fires for (repository, workflow) at the rate the seeded rows give, listing the failed runs newest first with links", async () => {
    expect(truth).toEqual({ runs: 10, rate: 0.3 });
    const found = await evaluate([r(truth.rate)], NOW);
    expect(shape(found)).toEqual([{ scope: { repository: FR, workflow: "CI" }, value: truth.rate }]);
    const [f] = found;
    expect(f).toMatchObject({ rule: "fr", kind: "failure_rate", unit: "ratio", threshold: 0.3, severity: "warning", fingerprint: fingerprintOf("fr", { repository: FR, workflow: "CI" }) });
    expect(f?.summary).toBe(`${FR} CI: failure rate 30% over 1d (threshold 30%; 3 of 10 runs failed)`);
    const failed = latest(runs.filter((x) => x.repository === FR && x.workflow_name === "CI"))
      .filter((x) => x.created >= NOW - DAY && isFailure(x.conclusion))
      .sort((a, b) => b.created - a.created);
    expect(f?.offenders.map((o) => o.url)).toEqual(failed.map((x) => `https://github.com/${FR}/actions/runs/${x.run_id}`));
  });

  it("stays silent just under the threshold, and below min_runs", async () => {
    expect(await evaluate([r(truth.rate + 0.001)], NOW)).toEqual([]);
    expect(await evaluate([r(truth.rate, truth.runs + 1)], NOW)).toEqual([]);
  });

  it("resolves when the failures leave the window; disabled rules and out-of-scope workflows never fire", async () => {
    const later = NOW + 4 * H;
    const t = truthFailureRate(FR, "CI", DAY, later);
    expect(t.rate).toBeLessThan(0.3);
    expect(await evaluate([r(0.3, 5)], later)).toEqual([]);
    expect(await evaluate([{ ...r(0.3), enabled: false }], NOW)).toEqual([]);
    expect(await evaluate([rule(`{ name: lint, kind: failure_rate, threshold: 0.01, scope: { repositories: ["acme-fr/*"], workflows: [Lint] } }`)], NOW)).toEqual([]);
  });
});

describe("duration_p95_regression", () => {
  const r = (threshold: number) => rule(`{ name: dur, kind: duration_p95_regression, threshold: ${threshold}, window: 1d, min_runs: 20, scope: { repositories: ["${DUR}"] } }`);
  const truth = truthDurationRatio(DUR, "Build", DAY, NOW);

  it("fires with current p95 / previous p95 (nearest rank) as the seeded durations give, slowest runs first", async () => {
    expect(truth.current).toBe(20);
    expect(truth.previous).toBe(20);
    expect(truth.ratio).toBe(560 / 280);
    const found = await evaluate([r(truth.ratio)], NOW);
    expect(shape(found)).toEqual([{ scope: { repository: DUR, workflow: "Build" }, value: truth.ratio }]);
    expect(found[0]?.offenders.map((o) => o.value)).toEqual([580, 560, 540, 520, 500, 480, 460, 440, 420, 400]);
    expect(found[0]?.offenders[0]?.url).toMatch(new RegExp(`^https://github.com/${DUR}/actions/runs/\\d+$`));
  });

  it("stays silent just under the ratio", async () => {
    expect(await evaluate([r(truth.ratio + 0.001)], NOW)).toEqual([]);
  });

  it("resolves when the current window no longer has min_runs runs", async () => {
    const later = NOW + 6 * H;
    expect(truthDurationRatio(DUR, "Build", DAY, later).current).toBeLessThan(20);
    expect(await evaluate([r(1)], later)).toEqual([]);
  });
});

describe("queue_p95", () => {
  const r = (threshold: number) => rule(`{ name: q, kind: queue_p95, threshold: ${threshold}, window: 1h, min_jobs: 20, runner_labels: ["self-hosted*"], scope: { repositories: ["${Q}"] } }`);
  const truth = truthQueueP95(Q, "self-hosted,linux", H, NOW);

  it("fires per runner label set above the threshold with the seeded p95; other label sets are out of scope", async () => {
    expect(truth).toEqual({ jobs: 20, p95: 190 });
    const found = await evaluate([r(truth.p95 - 1)], NOW);
    expect(shape(found)).toEqual([{ scope: { runner_labels: "self-hosted,linux" }, value: 190 }]);
    expect(found[0]?.offenders.map((o) => o.value)).toEqual([200, 190, 180, 170, 160, 150, 140, 130, 120, 110]);
    expect(found[0]?.offenders[0]?.url).toMatch(new RegExp(`^https://github.com/${Q}/actions/runs/\\d+/job/\\d+$`));
    // Without the label filter the ubuntu jobs (queued 15 min) fire too, but have fewer than min_jobs.
    const all = await evaluate([rule(`{ name: q, kind: queue_p95, threshold: ${truth.p95 - 1}, window: 1h, min_jobs: 6, scope: { repositories: ["${Q}"] } }`)], NOW);
    expect(shape(all)).toEqual([{ scope: { runner_labels: "self-hosted,linux" }, value: 190 }, { scope: { runner_labels: "ubuntu-latest" }, value: truthQueueP95(Q, "ubuntu-latest", H, NOW).p95 }]);
  });

  it("stays silent at the threshold (p95 must exceed it)", async () => {
    expect(await evaluate([r(truth.p95)], NOW)).toEqual([]);
  });

  it("resolves when the slow jobs leave the window", async () => {
    expect(truthQueueP95(Q, "self-hosted,linux", H, NOW + H).jobs).toBe(0);
    expect(await evaluate([r(truth.p95 - 1)], NOW + H)).toEqual([]);
  });
});

describe("consecutive_failures", () => {
  const r = (n: number) => rule(`{ name: red, kind: consecutive_failures, threshold: ${n}, scope: { repositories: ["${CF}"] } }`);
  const streak = truthStreak(CF, "CI", "main", NOW);

  it("fires on the default branch with the streak the seeded runs give (cancelled runs ignored), not on other branches", async () => {
    expect(streak).toBe(3);
    expect(truthStreak(CF, "CI", "feature/x", NOW)).toBe(5);
    const found = await evaluate([r(streak)], NOW);
    expect(shape(found)).toEqual([{ scope: { repository: CF, workflow: "CI", branch: "main" }, value: 3 }]);
    expect(found[0]?.offenders).toHaveLength(3);
    // A branch glob brings feature branches in.
    const feature = await evaluate([{ ...r(streak), scope: { repositories: [CF], workflows: ["*"], branches: ["feature/*"] } }], NOW);
    expect(shape(feature)).toEqual([{ scope: { repository: CF, workflow: "CI", branch: "feature/x" }, value: 5 }]);
  });

  it("stays silent one run short", async () => {
    expect(await evaluate([r(streak + 1)], NOW)).toEqual([]);
  });

  it("resolves after a later successful run", async () => {
    expect(truthStreak(CF, "CI", "main", NOW + 2 * H)).toBe(0);
    expect(await evaluate([r(1)], NOW + 2 * H)).toEqual([]);
  });
});

describe("cost_spike", () => {
  const r = (threshold: number, minUsd = 1) => rule(`{ name: cost, kind: cost_spike, threshold: ${threshold}, trailing_days: 7, min_usd: ${minUsd}, scope: { repositories: ["${COST}"] } }`);
  const truth = truthCost(COST, 7, NOW);

  it("fires per repository with yesterday's cost against the trailing mean, as the seeded jobs give", async () => {
    expect(truth.dayCost).toBeCloseTo(2.4, 9);
    expect(truth.mean).toBeCloseTo(0.6, 9);
    const found = await evaluate([r(3.9)], NOW);
    expect(found.map((f) => f.scope)).toEqual([{ repository: COST }]);
    expect(found[0]?.value).toBeCloseTo(truth.ratio, 9);
    expect(found[0]?.offenders.map((o) => o.value)).toEqual([2.4]);
    expect(found[0]?.summary).toBe(`${COST}: estimated cost $2.40 on 2026-06-09, 4× the 7-day mean $0.60 (threshold 3.9×, at least $1.00)`);
  });

  it("stays silent just under the ratio, and under min_usd", async () => {
    expect(await evaluate([r(truth.ratio + 0.001)], NOW)).toEqual([]);
    expect(await evaluate([r(3.9, truth.dayCost + 0.01)], NOW)).toEqual([]);
  });

  it("resolves the next day", async () => {
    expect(truthCost(COST, 7, NOW + DAY).dayCost).toBe(0);
    expect(await evaluate([r(3.9)], NOW + DAY)).toEqual([]);
  });
});

describe("flaky_rate", () => {
  const r = (threshold: number) => rule(`{ name: flaky, kind: flaky_rate, threshold: ${threshold}, window: 1d, min_runs: 5, scope: { repositories: ["${FL}"] } }`);
  const truth = truthFlaky(FL, "test", DAY, NOW);

  it("fires per (repository, workflow, job) with the share of runs that failed then passed on re-run", async () => {
    expect(truth).toEqual({ runs: 10, rate: 0.2 });
    const found = await evaluate([r(truth.rate)], NOW);
    expect(shape(found)).toEqual([{ scope: { repository: FL, workflow: "CI", job_name: "test" }, value: 0.2 }]);
    expect(found[0]?.offenders.map((o) => o.value)).toEqual([2, 2]);
  });

  it("stays silent just under the threshold", async () => {
    expect(await evaluate([r(truth.rate + 0.001)], NOW)).toEqual([]);
  });

  it("resolves when the flaky runs leave the window", async () => {
    const later = NOW + 6 * H;
    expect(truthFlaky(FL, "test", DAY, later).rate).toBe(0);
    expect(await evaluate([r(0.01)], later)).toEqual([]);
  });
});

describe("stuck", () => {
  const r = (threshold: string) => rule(`{ name: stuck, kind: stuck, threshold: ${threshold}, scope: { repositories: ["${ST}"] } }`);

  it("fires per run and job unfinished longer than the threshold (runs from their attempt's start, running jobs from started_at)", async () => {
    const found = await evaluate([r("2h")], NOW);
    // Ages from the seeded instants: the run started 3 h ago, the e2e job started exactly 2 h ago (fires at
    // the threshold), the deploy job was queued 1 h ago, the re-run attempt of an old run started 10 min ago,
    // the 40-day-old run is past GitHub's 35-day limit.
    expect(shape(found)).toEqual(
      shape([
        { scope: { run_id: String(stuckRun.run_id) }, value: secs(NOW - stuckRun.started) },
        { scope: { job_id: String(stuckJob.job_id) }, value: secs(NOW - (stuckJob.started ?? 0)) },
      ]),
    );
    expect(found.find((f) => f.scope.job_id)?.offenders[0]?.url).toBe(`https://github.com/${ST}/actions/runs/${stuckRun.run_id}/job/${stuckJob.job_id}`);
  });

  it("stays silent one second under the age", async () => {
    expect(shape(await evaluate([r("7201s")], NOW))).toEqual([{ scope: { run_id: String(stuckRun.run_id) }, value: 10_800 }]);
    expect(await evaluate([r("10801s")], NOW)).toEqual([]);
    // The queued job fires once it has waited long enough.
    expect(shape(await evaluate([r("1h")], NOW)).map((f) => f.scope)).toContainEqual({ job_id: String(queuedJob.job_id) });
  });

  it("resolves when the run and its jobs finish (a newer extract, transformed again)", async () => {
    const done = "2026-06-10T12:30:00Z";
    const w = await openDuckDb(duckdbPath);
    try {
      await insert(w.connection, "workflow_runs", runRow({ ...stuckRun, status: "completed", conclusion: "success", updated: NOW + 10 * 60_000 }, done));
      for (const j of [stuckJob, queuedJob]) {
        await insert(w.connection, "workflow_jobs", jobRow({ ...j, status: "completed", conclusion: "success", started: j.started ?? NOW, completed: NOW + 5 * 60_000, runner_name: "runner-1" }, done));
      }
    } finally {
      w.close();
    }
    await runTransform({ duckdbPath, tags: ["runs", "jobs"], includeDependencies: true });
    expect(await evaluate([r("1h")], NOW + 20 * 60_000)).toEqual([]);
  }, 120_000);
});

describe("every kind's SQL on BigQuery", () => {
  it("type-checks on ZetaSQL against the compiled models (as `check` does), calling only certified functions", async () => {
    const graph = await compileProject();
    const badProject = join(dir, "bad-project");
    mkdirSync(badProject, { recursive: true });
    writeFileSync(join(badProject, "alerts.yml"), "rules:\n  - { name: x, kind: stuck }\n");
    await withZetaSql(async (engine) => {
      const checked = await checkGraph(engine, graph);
      const result = await checkAlertQueries(engine, checked.catalog, graph, process.cwd());
      expect(result.errors).toEqual([]);
      // One representative rule per kind, then every enabled rule of the shipped alerts.yml.
      const shipped = loadRules("alerts.yml").filter((r) => r.enabled);
      expect(result.queries.map((q) => q.name)).toEqual([...RULE_KINDS.map((k) => `alerts:${k}`), ...shipped.map((r) => `alerts.yml:${r.name}`)]);
      const uncertified = Object.fromEntries(result.queries.flatMap((q) => {
        const missing = q.functions.filter((f) => !isCertified(f));
        return missing.length ? [[q.name, missing]] : [];
      }));
      expect(uncertified).toEqual({});
      // The glob conditions are there to be checked: LIKE over REPLACE.
      expect(result.queries[0]?.functions).toEqual(expect.arrayContaining(["$like", "replace", "row_number"]));

      // A bad alerts.yml fails check with the rule and field named.
      const bad = await checkAlertQueries(engine, checked.catalog, graph, badProject);
      expect(bad.errors.join("\n")).toMatch(/rule "x", field threshold: is required for kind stuck/);

      // A query against a model without the columns it reads is reported with the rule and kind.
      const r = ruleQuery(rule(`{ name: fr, kind: failure_rate, threshold: 0.5 }`), () => "`nowhere.nothing.none`", new Date(NOW));
      await expect(engine.analyze(bindLiterals(r.sql, r.params), checked.catalog.proto())).rejects.toThrow(/Table not found/);
    });
  }, 180_000);
});

describe("includes/flaky_jobs.js, the one definition of a flaky job run", () => {
  it("compiles in a Dataform model (for rpt_flaky_jobs) to the very SQL the flaky_rate alert reads, and type-checks", async () => {
    const project = copyProject();
    try {
      project.write(
        "definitions/reporting/rpt_flaky_probe.sqlx",
        'config { type: "view" }\n\n${flaky_jobs.flakyJobRunsSql({ jobs: ref("fct_workflow_jobs"), runs: ref("fct_workflow_runs"), failures: constants.sqlList(constants.FAILURE_CONCLUSIONS) })}\n',
      );
      const report = await runCheck({ projectDir: project.dir });
      expect(report.errors).toEqual([]);
      const probe = report.graph?.tables.find((t) => t.target.name === "rpt_flaky_probe");
      const database = report.graph?.projectConfig.defaultDatabase ?? "";
      const table = (name: string) => `\`${database}.${datasets.models}.${name}\``;
      expect(probe?.query.trim()).toBe(flakyJobRunsSql(table, "TRUE").trim());
      // The reporting model itself reads the very same SQL for its flaky job runs.
      expect(report.graph?.tables.find((t) => t.target.name === "rpt_flaky_jobs")?.query).toContain(flakyJobRunsSql(table, "TRUE").trim());
    } finally {
      project.remove();
    }
  }, 180_000);
});

describe("parity: the same findings with BigQuery's meaning (ZetaSQL reference evaluator) as on DuckDB", () => {
  it("every kind, on the same seeded raw rows modelled by each engine", async () => {
    const path = join(dir, "parity.duckdb");
    await buildWarehouse(path);
    const graph = await compileProject();
    const database = graph.projectConfig.defaultDatabase;
    const rules = [
      rule(`{ name: fr, kind: failure_rate, threshold: 0.3, window: 24h, min_runs: 10, scope: { repositories: ["acme-fr/*"] } }`),
      rule(`{ name: fr-all, kind: failure_rate, threshold: 0.01, window: 3d, min_runs: 1 }`),
      rule(`{ name: dur, kind: duration_p95_regression, threshold: 2, window: 1d, min_runs: 20 }`),
      rule(`{ name: q, kind: queue_p95, threshold: 60, window: 1h, min_jobs: 5 }`),
      rule(`{ name: red, kind: consecutive_failures, threshold: 2, scope: { branches: ["*"] } }`),
      rule(`{ name: stuck, kind: stuck, threshold: 1h }`),
      rule(`{ name: cost, kind: cost_spike, threshold: 3.9, trailing_days: 7, min_usd: 1 }`),
      rule(`{ name: flaky, kind: flaky_rate, threshold: 0.1, window: 1d, min_runs: 5, scope: { workflows: ["C?"], branches: ["{main,release/*}"] } }`),
    ];
    const now = new Date(NOW);
    const round = (fs: Finding[]) => fs.map((f) => ({ ...f, value: Number(f.value.toFixed(9)), offenders: f.offenders.map((o) => ({ ...o, value: Number(o.value.toFixed(9)) })) }));
    await withZetaSql(async (engine) => {
      const checked = await checkGraph(engine, graph);
      // The raw rows as table contents, then every model built by the reference evaluator in dependency order.
      const content: Record<string, TableContent> = {};
      const contentOf = (name: string, rows: Record<string, unknown>[]): TableContent => {
        const columns = checked.catalog.get(name)?.column ?? [];
        return { tableData: { row: rows.map((row, i) => ({ cell: columns.map((c) => toValueProto(row[c.name] ?? (c.name === "payload" ? {} : null), c.type, `${name}[${i}].${c.name}`)) })) } };
      };
      const raw: Partial<Record<string, Record<string, unknown>[]>> = { workflow_runs: runs.map((r) => runRow(r, EXTRACTED)), workflow_jobs: jobs.map((j) => jobRow(j, EXTRACTED)) };
      for (const t of rawTableNames) {
        const name = tableName({ database, schema: datasets.raw, name: t });
        content[name] = contentOf(name, raw[t] ?? []);
      }
      for (const action of planActions(actionsOf(graph), ["runs", "jobs"], true).filter((a) => a.type !== "assertion" && a.type !== "operation")) {
        const name = tableName(action.target, database);
        const relation = await referenceRelation(engine, action.table?.query ?? action.queries[0] ?? "SELECT 1", checked.catalog, content);
        content[name] = contentOf(name, relation.rows.map((row) => Object.fromEntries(relation.columns.map((c, i) => [c.name, row[i]]))));
      }
      let fired = 0;
      for (const r of rules) {
        const q = ruleQuery(r, (name) => `\`${database ?? ""}.${datasets.models}.${name}\``, now);
        const reference = await referenceRelation(engine, bindLiterals(q.sql, q.params), checked.catalog, content);
        const rows = reference.rows.map((row) => Object.fromEntries(reference.columns.map((c, i) => [c.name, row[i]])));
        const onBigQuery = findingsFromRows(r, rows, now);
        const onDuckDb = await withDuckDbSource(path, (source) => evaluateRules([r], source, now));
        expect(round(onBigQuery), r.name).toEqual(round(onDuckDb));
        expect(onDuckDb.length, r.name).toBeGreaterThan(0);
        fired += onDuckDb.length;
      }
      expect(fired).toBeGreaterThanOrEqual(rules.length);
    });
  }, 300_000);
});

describe("the shipped alerts.yml on a simulator warehouse (the demo's generator, through the real pipeline)", () => {
  it("fires stuck-runs for the dataset's landmark run stuck in progress, with its age at the anchor", async () => {
    const built = await buildReportWarehouse(join(dir, "demo"));
    const anchor = new Date(REPORT_ANCHOR);
    const found = await withDuckDbSource(built.duckdbPath, (source) => evaluateRules(loadRules("alerts.yml"), source, anchor));
    const stuckId = landmarks(built.dataset).stuckQueuedRunId;
    const stuck = built.dataset.runs.find((r) => r.id === stuckId);
    if (!stuck) throw new Error("no stuck landmark run");
    const run = found.find((f) => f.rule === "stuck-runs" && f.scope.run_id === String(stuckId));
    expect(run, JSON.stringify(found.map((f) => [f.rule, f.scope]))).toBeDefined();
    const attempt = stuck.attempts.at(-1);
    expect(attempt?.status).toBe("in_progress");
    expect(run?.value).toBe(secs(anchor.getTime() - Date.parse(attempt?.run_started_at ?? "")));
    expect(run?.value).toBeGreaterThanOrEqual(2 * 3600);
    // Every finding is of an enabled shipped rule and carries its summary and at most 10 offenders.
    const enabled = new Set(loadRules("alerts.yml").filter((r) => r.enabled).map((r) => r.name));
    for (const f of found) {
      expect(enabled.has(f.rule)).toBe(true);
      expect(f.summary.length).toBeGreaterThan(10);
      expect(f.offenders.length).toBeGreaterThan(0);
      expect(f.offenders.length).toBeLessThanOrEqual(10);
    }
  }, 300_000);
});
