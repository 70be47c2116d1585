/**
 * Rule evaluation: one GoogleSQL query per rule kind over the models (fct_workflow_runs,
 * fct_workflow_jobs), run through report/data.ts's `ReportSource`, so the DuckDB file and BigQuery run
 * the very same text and give the same findings.
 *
 * The SQL is the dialect report/data.ts writes, which both engines read the same way: `@name` parameters
 * (instants passed as text and CAST to TIMESTAMP), CASE/COALESCE/NULLIF, COUNT/SUM/MIN/MAX, ROW_NUMBER and
 * COUNT windows, LIKE over REPLACE for the scope globs (alerts/globs.ts), ARRAY_TO_STRING. Nothing
 * engine-specific: no TIMESTAMP_DIFF (DuckDB lacks it), no PERCENTILE_CONT (DuckDB spells it
 * quantile_cont), no APPROX_QUANTILES (approximate on BigQuery). Percentiles are nearest-rank, computed
 * with ROW_NUMBER and COUNT: the p95 of n values is the value at rank ceil(0.95 n) in ascending order,
 * found as the smallest value whose rank r satisfies r * 100 >= 95 * n (integers, so no rounding).
 * Time arithmetic (window bounds, ages) happens here in TypeScript with `now`; ratios and threshold
 * comparisons too, on the integer counts or rounded sums the SQL returns, so a float compared in SQL can
 * never land on different sides of a threshold on the two engines.
 *
 * Every query reads only rows created before `now`, so an evaluation at a past `now` sees that past
 * (as far as the current state of those rows allows). The queries return every candidate group with its
 * measurements and its worst offenders (at most 10, ranked in SQL); `evaluateRules` keeps the groups where
 * the condition holds now. The state machine (alerts/state.ts) handles `for`, repeats and resolution.
 *
 * Kind definitions (also in docs/alerts.md):
 * - failure_rate, per (repository, workflow): latest attempts of completed runs created in
 *   [now - window, now); failures / runs >= threshold, with runs >= min_runs. Failures are the
 *   conclusions of includes/constants.js FAILURE_CONCLUSIONS (failure, timed_out, startup_failure);
 *   cancelled and skipped runs count as runs that did not fail.
 * - duration_p95_regression, per (repository, workflow): nearest-rank p95 of duration_seconds of latest
 *   completed attempts created in [now - window, now) (current) and [now - 2 window, now - window)
 *   (previous); current / previous >= threshold, both windows with >= min_runs runs and previous p95 > 0.
 * - queue_p95, per runner label set (the requested labels joined with ',', as rpt_runner_queue_latency;
 *   '(none)' when empty) matching `runner_labels`: nearest-rank p95 of queue_seconds of jobs (every
 *   attempt) created in [now - window, now) that started; p95 > threshold, with >= min_jobs such jobs.
 * - consecutive_failures, per (repository, workflow, branch) with the branch in scope (default main and
 *   master: runs do not carry the repository's default branch): latest attempts of completed runs created
 *   before now, newest first, cancelled and skipped ones ignored; the run of failures at the head of that
 *   list is >= threshold long.
 * - stuck, per run (`run_id`) or job (`job_id`): status in NOT_FINISHED_STATUSES (queued, in_progress,
 *   waiting, requested, pending) and its age >= threshold at now. A run's age counts from run_started_at
 *   (the start of its latest attempt; a re-run keeps created_at, so created_at would call every re-run of
 *   an old run stuck), or created_at when unset. A job's age counts from started_at while in_progress,
 *   else from created_at (a job id belongs to one attempt). Only rows created in the last 35 days
 *   (STUCK_LOOKBACK_DAYS: GitHub's limit on a run) are read.
 * - cost_spike, per repository: estimated_cost_usd of jobs by UTC day of COALESCE(started_at, created_at)
 *   (as rpt_cost_monthly). The day is the last complete UTC day before now's day; the baseline is the
 *   mean over the `trailing_days` days before it (days without jobs count as 0). Fires when the baseline
 *   is above 0, day / baseline >= threshold and the day's cost >= min_usd.
 * - flaky_rate, per (repository, workflow, job_name): runs created in [now - window, now) in which that
 *   job completed; a run is flaky for the job when an attempt of the job failed (FAILURE_CONCLUSIONS) and
 *   a later attempt of the same run passed (success). A re-run attempt keeps the run id and head_sha, so
 *   "same run" is "same commit". flaky runs / runs >= threshold, with runs >= min_runs.
 *   The definition is includes/flaky_jobs.js, for rpt_flaky_jobs (issue 15) to call too.
 */
import { readFileSync } from "node:fs";
import { Script } from "node:vm";
import { z } from "zod";
import { instant, num, optNum, optStr, str, type ReportParams, type ReportSource } from "../report/data.js";
import { globCondition } from "./globs.js";
import { fingerprintOf, type Finding, type Rule, type RuleKind, type RuleScope } from "./types.js";

/**
 * An includes/ file: CommonJS (Dataform requires it) in an ESM package, evaluated in a wrapper as
 * serve/api.ts does, so the models and the alerts share one definition.
 */
function loadInclude(file: string): Record<string, unknown> {
  const source = readFileSync(new URL(`../includes/${file}`, import.meta.url), "utf8");
  const wrapper: unknown = new Script(`(function (module, exports) {\n${source}\n})`, { filename: `includes/${file}` }).runInThisContext();
  if (typeof wrapper !== "function") throw new Error(`includes/${file}: not loadable`);
  const module: { exports: Record<string, unknown> } = { exports: {} };
  (wrapper as (m: typeof module, e: Record<string, unknown>) => void)(module, module.exports);
  return module.exports;
}

function loadConstants(): { FAILURE_CONCLUSIONS: string[]; NOT_FINISHED_STATUSES: string[] } {
  const exports = loadInclude("constants.js");
  const strings = (v: unknown, key: string): string[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new Error(`includes/constants.js: ${key} is not a list of strings`);
    return v;
  };
  return { FAILURE_CONCLUSIONS: strings(exports.FAILURE_CONCLUSIONS, "FAILURE_CONCLUSIONS"), NOT_FINISHED_STATUSES: strings(exports.NOT_FINISHED_STATUSES, "NOT_FINISHED_STATUSES") };
}

type FlakyJobRunsSql = (options: { jobs: string; runs: string; failures: string; where?: string }) => string;
function loadFlakyJobRunsSql(): FlakyJobRunsSql {
  const fn = loadInclude("flaky_jobs.js").flakyJobRunsSql;
  if (typeof fn !== "function") throw new Error("includes/flaky_jobs.js: flakyJobRunsSql is not a function");
  return (options) => {
    const sql: unknown = fn(options);
    if (typeof sql !== "string") throw new Error("includes/flaky_jobs.js: flakyJobRunsSql did not return SQL text");
    return sql;
  };
}
const flakyJobRunsInclude = loadFlakyJobRunsSql();
const constants = loadConstants();
export const FAILURE_CONCLUSIONS: readonly string[] = constants.FAILURE_CONCLUSIONS;
export const NOT_FINISHED_STATUSES: readonly string[] = constants.NOT_FINISHED_STATUSES;
/** Constant lists (not user input) as SQL string literals. */
const sqlList = (values: readonly string[]) => values.map((v) => `'${v.replaceAll("'", "''")}'`).join(", ");
const FAILED = sqlList(FAILURE_CONCLUSIONS);

export const MAX_OFFENDERS = 10;
/**
 * GitHub cancels a workflow run that reaches 35 days, so nothing created earlier can still be running:
 * `stuck` reads only the last 35 days (which also lets BigQuery prune the created_at partitions). An older
 * row still marked unfinished is a warehouse that missed the run's end, not a stuck run.
 */
export const STUCK_LOOKBACK_DAYS = 35;
const DAY = 86_400_000;

export class AlertEvaluationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AlertEvaluationError";
  }
}

/** An instant as text both engines CAST to the same TIMESTAMP: `2026-11-30 05:00:00.000+00:00`. */
function instantParam(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace("Z", "+00:00");
}

/** The rule's repository, workflow and branch globs over the given columns, as one AND-ed condition. */
function scopeCondition(scope: RuleScope, columns: { repository: string; workflow: string; branch: string }): { sql: string; params: ReportParams } {
  const parts = [globCondition(columns.repository, scope.repositories, "scope_repo"), globCondition(columns.workflow, scope.workflows, "scope_wf"), globCondition(columns.branch, scope.branches, "scope_branch")];
  return { sql: parts.map((p) => p.sql).join(" AND "), params: Object.assign({}, ...parts.map((p) => p.params)) as ReportParams };
}

/** One rule's query: the SQL, its parameters and the schema of its rows. */
export interface AlertQuery {
  rule: string;
  kind: RuleKind;
  sql: string;
  params: ReportParams;
}

type Table = (name: string) => string;

/**
 * Runs that failed a job and passed it on a later attempt, one row per (run, job name): the definition
 * of a flaky job run lives in includes/flaky_jobs.js, shared with the rpt_flaky_jobs model (issue 15).
 * `jobsWhere` filters the completed jobs read (over fct_workflow_jobs `j` and the run's latest attempt
 * `r`). Columns: repository, workflow, job_name, run_id, head_sha, run_created_at, first_failed_attempt,
 * last_passed_attempt, flaky, and the failed attempts' failed_billable_minutes, failed_cost_usd and
 * last_failed_at (which rpt_flaky_jobs sums as wasted minutes; the alert reads only the flaky flag).
 */
export function flakyJobRunsSql(table: Table, jobsWhere: string): string {
  return flakyJobRunsInclude({ jobs: table("fct_workflow_jobs"), runs: table("fct_workflow_runs"), failures: FAILED, where: jobsWhere });
}

/** The query of one rule at `now`. */
export function ruleQuery(rule: Rule, table: Table, now: Date): AlertQuery {
  const nowMs = now.getTime();
  const base = { rule: rule.name, kind: rule.kind };
  const runsScope = scopeCondition(rule.scope, { repository: "repository", workflow: "workflow_name", branch: "head_branch" });
  const jobsScope = scopeCondition(rule.scope, { repository: "j.repository", workflow: "j.workflow_name", branch: "j.head_branch" });
  const runs = table("fct_workflow_runs");
  const jobs = table("fct_workflow_jobs");
  switch (rule.kind) {
    case "failure_rate":
      return {
        ...base,
        params: { ...runsScope.params, now: instantParam(nowMs), window_start: instantParam(nowMs - rule.windowSeconds * 1000), min_runs: rule.minRuns },
        sql: `WITH runs AS (
  SELECT repository, COALESCE(workflow_name, '(unknown)') AS workflow, run_id, conclusion, head_branch, html_url, created_at, duration_seconds,
         CASE WHEN conclusion IN (${FAILED}) THEN 1 ELSE 0 END AS failed
    FROM ${runs}
   WHERE is_latest_attempt AND status = 'completed'
     AND created_at >= CAST(@window_start AS TIMESTAMP) AND created_at < CAST(@now AS TIMESTAMP)
     AND ${runsScope.sql}
),
grouped AS (
  SELECT repository, workflow, COUNT(*) AS runs, SUM(failed) AS failures
    FROM runs GROUP BY repository, workflow
  HAVING COUNT(*) >= @min_runs AND SUM(failed) > 0
),
worst AS (
  SELECT repository, workflow, run_id, conclusion, head_branch, html_url, created_at, duration_seconds,
         ROW_NUMBER() OVER (PARTITION BY repository, workflow ORDER BY created_at DESC, run_id DESC) AS pos
    FROM runs WHERE failed = 1
)
SELECT g.repository, g.workflow, g.runs, g.failures, w.run_id, w.conclusion, w.head_branch, w.html_url, w.created_at, w.duration_seconds, w.pos
  FROM grouped AS g
  JOIN worst AS w ON w.repository = g.repository AND w.workflow = g.workflow AND w.pos <= ${MAX_OFFENDERS}`,
      };
    case "duration_p95_regression":
      return {
        ...base,
        params: {
          ...runsScope.params,
          now: instantParam(nowMs),
          current_start: instantParam(nowMs - rule.windowSeconds * 1000),
          previous_start: instantParam(nowMs - 2 * rule.windowSeconds * 1000),
          min_runs: rule.minRuns,
        },
        sql: `WITH runs AS (
  SELECT repository, COALESCE(workflow_name, '(unknown)') AS workflow, run_id, html_url, duration_seconds,
         CASE WHEN created_at >= CAST(@current_start AS TIMESTAMP) THEN 'current' ELSE 'previous' END AS period
    FROM ${runs}
   WHERE is_latest_attempt AND status = 'completed' AND duration_seconds IS NOT NULL
     AND created_at >= CAST(@previous_start AS TIMESTAMP) AND created_at < CAST(@now AS TIMESTAMP)
     AND ${runsScope.sql}
),
ranked AS (
  SELECT repository, workflow, period, duration_seconds,
         ROW_NUMBER() OVER (PARTITION BY repository, workflow, period ORDER BY duration_seconds, run_id) AS rn,
         COUNT(*) OVER (PARTITION BY repository, workflow, period) AS n
    FROM runs
),
p95 AS (
  SELECT repository, workflow,
         MAX(CASE WHEN period = 'current' THEN n END) AS current_runs,
         MAX(CASE WHEN period = 'previous' THEN n END) AS previous_runs,
         MIN(CASE WHEN period = 'current' AND rn * 100 >= 95 * n THEN duration_seconds END) AS current_p95,
         MIN(CASE WHEN period = 'previous' AND rn * 100 >= 95 * n THEN duration_seconds END) AS previous_p95
    FROM ranked GROUP BY repository, workflow
  HAVING MAX(CASE WHEN period = 'current' THEN n END) >= @min_runs AND MAX(CASE WHEN period = 'previous' THEN n END) >= @min_runs
),
slowest AS (
  SELECT repository, workflow, run_id, html_url, duration_seconds,
         ROW_NUMBER() OVER (PARTITION BY repository, workflow ORDER BY duration_seconds DESC, run_id DESC) AS pos
    FROM runs WHERE period = 'current'
)
SELECT p.repository, p.workflow, p.current_runs, p.previous_runs, p.current_p95, p.previous_p95, s.run_id, s.html_url, s.duration_seconds, s.pos
  FROM p95 AS p
  JOIN slowest AS s ON s.repository = p.repository AND s.workflow = p.workflow AND s.pos <= ${MAX_OFFENDERS}`,
      };
    case "queue_p95": {
      const labels = globCondition("runner_labels", rule.runnerLabels, "labels");
      return {
        ...base,
        params: { ...jobsScope.params, ...labels.params, now: instantParam(nowMs), window_start: instantParam(nowMs - rule.windowSeconds * 1000), min_jobs: rule.minJobs },
        sql: `WITH labelled AS (
  SELECT COALESCE(NULLIF(ARRAY_TO_STRING(j.labels, ','), ''), '(none)') AS runner_labels,
         j.job_id, j.run_id, j.run_attempt, j.repository, j.job_name, j.queue_seconds
    FROM ${jobs} AS j
   WHERE j.queue_seconds IS NOT NULL
     AND j.created_at >= CAST(@window_start AS TIMESTAMP) AND j.created_at < CAST(@now AS TIMESTAMP)
     AND ${jobsScope.sql}
),
queued AS (
  SELECT * FROM labelled WHERE ${labels.sql}
),
ranked AS (
  SELECT runner_labels, queue_seconds,
         ROW_NUMBER() OVER (PARTITION BY runner_labels ORDER BY queue_seconds, job_id) AS rn,
         COUNT(*) OVER (PARTITION BY runner_labels) AS n
    FROM queued
),
p95 AS (
  SELECT runner_labels, MAX(n) AS jobs, MIN(CASE WHEN rn * 100 >= 95 * n THEN queue_seconds END) AS p95
    FROM ranked GROUP BY runner_labels
  HAVING MAX(n) >= @min_jobs
),
worst AS (
  SELECT runner_labels, job_id, run_id, run_attempt, repository, job_name, queue_seconds,
         ROW_NUMBER() OVER (PARTITION BY runner_labels ORDER BY queue_seconds DESC, job_id DESC) AS pos
    FROM queued
)
SELECT p.runner_labels, p.jobs, p.p95, w.job_id, w.run_id, w.repository, w.job_name, w.queue_seconds, w.pos, r.html_url
  FROM p95 AS p
  JOIN worst AS w ON w.runner_labels = p.runner_labels AND w.pos <= ${MAX_OFFENDERS}
  LEFT JOIN ${runs} AS r ON r.run_id = w.run_id AND r.run_attempt = w.run_attempt`,
      };
    }
    case "consecutive_failures":
      return {
        ...base,
        params: { ...runsScope.params, now: instantParam(nowMs), count: rule.count },
        sql: `WITH runs AS (
  SELECT repository, COALESCE(workflow_name, '(unknown)') AS workflow, COALESCE(head_branch, '(none)') AS branch,
         run_id, conclusion, html_url, created_at, duration_seconds,
         CASE WHEN conclusion IN (${FAILED}) THEN 1 ELSE 0 END AS failed
    FROM ${runs}
   WHERE is_latest_attempt AND status = 'completed' AND COALESCE(conclusion, '') NOT IN ('cancelled', 'skipped')
     AND created_at < CAST(@now AS TIMESTAMP)
     AND ${runsScope.sql}
),
ranked AS (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY repository, workflow, branch ORDER BY created_at DESC, run_id DESC) AS rn
    FROM runs
),
streaks AS (
  -- The streak is the number of runs before the newest one that did not fail: first_ok - 1, or every run
  -- when none passed. Written without subtraction: streak >= count <=> first_ok > count (or no first_ok).
  SELECT repository, workflow, branch, MIN(CASE WHEN failed = 0 THEN rn END) AS first_ok, COUNT(*) AS n
    FROM ranked GROUP BY repository, workflow, branch
  HAVING COALESCE(MIN(CASE WHEN failed = 0 THEN rn END), COUNT(*) + 1) > @count
)
SELECT s.repository, s.workflow, s.branch, s.first_ok, s.n, r.run_id, r.conclusion, r.html_url, r.created_at, r.duration_seconds, r.rn AS pos
  FROM streaks AS s
  JOIN ranked AS r ON r.repository = s.repository AND r.workflow = s.workflow AND r.branch = s.branch
   AND r.rn < COALESCE(s.first_ok, s.n + 1) AND r.rn <= ${MAX_OFFENDERS}`,
      };
    case "stuck": {
      const cutoff = instantParam(nowMs - rule.thresholdSeconds * 1000);
      const jobSince = "CASE WHEN j.status = 'in_progress' THEN COALESCE(j.started_at, j.created_at) ELSE j.created_at END";
      return {
        ...base,
        params: { ...runsScope.params, ...jobsScope.params, now: instantParam(nowMs), cutoff, lookback: instantParam(nowMs - STUCK_LOOKBACK_DAYS * DAY) },
        sql: `SELECT 'run' AS entity, run_id, CAST(NULL AS INT64) AS job_id, repository, COALESCE(workflow_name, '(unknown)') AS workflow,
       CAST(NULL AS STRING) AS job_name, head_branch, status, COALESCE(run_started_at, created_at) AS since, html_url
  FROM ${runs}
 WHERE is_latest_attempt AND status IN (${sqlList(NOT_FINISHED_STATUSES)})
   AND created_at >= CAST(@lookback AS TIMESTAMP) AND created_at < CAST(@now AS TIMESTAMP)
   AND COALESCE(run_started_at, created_at) <= CAST(@cutoff AS TIMESTAMP)
   AND ${runsScope.sql}
UNION ALL
SELECT 'job' AS entity, j.run_id, j.job_id, j.repository, COALESCE(j.workflow_name, '(unknown)') AS workflow,
       j.job_name, j.head_branch, j.status, ${jobSince} AS since, r.html_url
  FROM ${jobs} AS j
  LEFT JOIN ${runs} AS r ON r.run_id = j.run_id AND r.run_attempt = j.run_attempt
 WHERE j.status IN (${sqlList(NOT_FINISHED_STATUSES)})
   AND j.created_at >= CAST(@lookback AS TIMESTAMP) AND j.created_at < CAST(@now AS TIMESTAMP)
   AND ${jobSince} <= CAST(@cutoff AS TIMESTAMP)
   AND ${jobsScope.sql}`,
      };
    }
    case "cost_spike": {
      const dayStart = Math.floor(nowMs / DAY) * DAY - DAY;
      const when = "COALESCE(j.started_at, j.created_at)";
      return {
        ...base,
        params: {
          ...jobsScope.params,
          trailing_start: instantParam(dayStart - rule.trailingDays * DAY),
          day_start: instantParam(dayStart),
          day_end: instantParam(dayStart + DAY),
        },
        sql: `WITH costs AS (
  SELECT j.repository, j.run_id, j.run_attempt, COALESCE(j.workflow_name, '(unknown)') AS workflow, j.estimated_cost_usd AS cost,
         CASE WHEN ${when} >= CAST(@day_start AS TIMESTAMP) THEN 1 ELSE 0 END AS on_day
    FROM ${jobs} AS j
   WHERE j.estimated_cost_usd > 0
     AND ${when} >= CAST(@trailing_start AS TIMESTAMP) AND ${when} < CAST(@day_end AS TIMESTAMP)
     AND ${jobsScope.sql}
),
totals AS (
  SELECT repository, SUM(CASE WHEN on_day = 1 THEN cost ELSE 0 END) AS day_cost, SUM(CASE WHEN on_day = 0 THEN cost ELSE 0 END) AS trailing_cost
    FROM costs GROUP BY repository
  HAVING SUM(on_day) > 0
),
per_run AS (
  SELECT repository, run_id, run_attempt, workflow, SUM(cost) AS cost FROM costs WHERE on_day = 1 GROUP BY repository, run_id, run_attempt, workflow
),
worst AS (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY repository ORDER BY cost DESC, run_id DESC, run_attempt DESC) AS pos FROM per_run
)
SELECT t.repository, t.day_cost, t.trailing_cost, w.run_id, w.run_attempt, w.workflow, w.cost, w.pos, r.html_url
  FROM totals AS t
  JOIN worst AS w ON w.repository = t.repository AND w.pos <= ${MAX_OFFENDERS}
  LEFT JOIN ${runs} AS r ON r.run_id = w.run_id AND r.run_attempt = w.run_attempt`,
      };
    }
    case "flaky_rate": {
      const where = `r.created_at >= CAST(@window_start AS TIMESTAMP) AND r.created_at < CAST(@now AS TIMESTAMP) AND ${jobsScope.sql}`;
      return {
        ...base,
        params: { ...jobsScope.params, now: instantParam(nowMs), window_start: instantParam(nowMs - rule.windowSeconds * 1000), min_runs: rule.minRuns },
        sql: `WITH job_runs AS (
  ${flakyJobRunsSql(table, where)}
),
grouped AS (
  SELECT repository, workflow, job_name, COUNT(*) AS runs, SUM(flaky) AS flaky_runs
    FROM job_runs GROUP BY repository, workflow, job_name
  HAVING COUNT(*) >= @min_runs AND SUM(flaky) > 0
),
worst AS (
  SELECT repository, workflow, job_name, run_id, last_passed_attempt,
         ROW_NUMBER() OVER (PARTITION BY repository, workflow, job_name ORDER BY run_id DESC) AS pos
    FROM job_runs WHERE flaky = 1
)
SELECT g.repository, g.workflow, g.job_name, g.runs, g.flaky_runs, w.run_id, w.last_passed_attempt, w.pos, r.html_url
  FROM grouped AS g
  JOIN worst AS w ON w.repository = g.repository AND w.workflow = g.workflow AND w.job_name = g.job_name AND w.pos <= ${MAX_OFFENDERS}
  LEFT JOIN ${runs} AS r ON r.run_id = w.run_id AND r.is_latest_attempt`,
      };
    }
  }
}

// ---- rows → findings -------------------------------------------------------------------------------

// Row column types (num, str, instant, ...) are the report's: both read the same two engines' values.
const rowSchemas = {
  failure_rate: z.object({ repository: str, workflow: str, runs: num, failures: num, run_id: num, conclusion: optStr, head_branch: optStr, html_url: optStr, created_at: instant, duration_seconds: optNum, pos: num }),
  duration_p95_regression: z.object({ repository: str, workflow: str, current_runs: num, previous_runs: num, current_p95: num, previous_p95: num, run_id: num, html_url: optStr, duration_seconds: num, pos: num }),
  queue_p95: z.object({ runner_labels: str, jobs: num, p95: num, job_id: num, run_id: num, repository: str, job_name: optStr, queue_seconds: num, pos: num, html_url: optStr }),
  consecutive_failures: z.object({ repository: str, workflow: str, branch: str, first_ok: optNum, n: num, run_id: num, conclusion: optStr, html_url: optStr, created_at: instant, duration_seconds: optNum, pos: num }),
  stuck: z.object({ entity: z.enum(["run", "job"]), run_id: num, job_id: optNum, repository: str, workflow: str, job_name: optStr, head_branch: optStr, status: str, since: instant, html_url: optStr }),
  cost_spike: z.object({ repository: str, day_cost: num, trailing_cost: num, run_id: num, run_attempt: num, workflow: str, cost: num, pos: num, html_url: optStr }),
  flaky_rate: z.object({ repository: str, workflow: str, job_name: optStr, runs: num, flaky_runs: num, run_id: num, last_passed_attempt: optNum, pos: num, html_url: optStr }),
} satisfies Record<RuleKind, z.ZodType>;

function parseRows<T extends z.ZodType>(rule: Rule, schema: T, rows: Record<string, unknown>[]): z.infer<T>[] {
  return rows.map((row, i) => {
    const parsed = schema.safeParse(row);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new AlertEvaluationError(`alert rule ${rule.name} (${rule.kind}): row ${i + 1}: column ${issue?.path.join(".") ?? "?"}: ${issue?.message ?? "invalid"} (row ${JSON.stringify(row)})`);
    }
    return parsed.data;
  });
}

/** Groups rows by a key, keeping first-seen order; offenders are sorted by `pos` later. */
function groupBy<T>(rows: T[], key: (row: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    const list = groups.get(k);
    if (list) list.push(row);
    else groups.set(k, [row]);
  }
  return [...groups.values()];
}

const byPos = <T extends { pos: number }>(rows: T[]) => [...rows].sort((a, b) => a.pos - b.pos).slice(0, MAX_OFFENDERS);
const pct = (x: number) => `${(Math.round(x * 1000) / 10).toString()}%`;
const times = (x: number) => `${(Math.round(x * 100) / 100).toString()}×`;
const usd = (x: number) => `$${x.toFixed(2)}`;
/** Rounds a sum of 6-decimal costs to 6 decimals, so float summation order cannot show. */
const cents6 = (x: number) => Math.round(x * 1e6) / 1e6;

/** `3725` → `1h 2m 5s`; `86400` → `1d`. */
export function formatSeconds(total: number): string {
  const units: [number, string][] = [
    [86_400, "d"],
    [3600, "h"],
    [60, "m"],
    [1, "s"],
  ];
  let rest = Math.round(total);
  const parts: string[] = [];
  for (const [size, name] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${name}`);
      rest %= size;
    }
  }
  return parts.length ? parts.join(" ") : "0s";
}

function finding(rule: Rule, scope: Record<string, string>, f: Pick<Finding, "value" | "threshold" | "unit" | "summary" | "offenders">): Finding {
  return { rule: rule.name, kind: rule.kind, severity: rule.severity, scope, fingerprint: fingerprintOf(rule.name, scope), ...f };
}

const url = (u: string | null | undefined): { url?: string } => (u ? { url: u } : {});

/**
 * The findings of one rule from the rows of its query (JSON-like values: numbers or decimal text,
 * instants as text), sorted by fingerprint. Exported for the parity test, which feeds it the ZetaSQL
 * reference evaluator's rows.
 */
export function findingsFromRows(rule: Rule, rows: Record<string, unknown>[], now: Date): Finding[] {
  const out: Finding[] = [];
  switch (rule.kind) {
    case "failure_rate":
      for (const g of groupBy(parseRows(rule, rowSchemas.failure_rate, rows), (r) => JSON.stringify([r.repository, r.workflow]))) {
        const head = g[0];
        if (!head) continue;
        const rate = head.failures / head.runs;
        if (rate < rule.threshold) continue;
        out.push(
          finding(rule, { repository: head.repository, workflow: head.workflow }, {
            value: rate,
            threshold: rule.threshold,
            unit: "ratio",
            summary: `${head.repository} ${head.workflow}: failure rate ${pct(rate)} over ${formatSeconds(rule.windowSeconds)} (threshold ${pct(rule.threshold)}; ${head.failures} of ${head.runs} runs failed)`,
            offenders: byPos(g).map((r) => ({ label: `run ${r.run_id} ${r.conclusion ?? "?"} on ${r.head_branch ?? "(no branch)"} at ${r.created_at}`, value: r.duration_seconds ?? 0, ...url(r.html_url) })),
          }),
        );
      }
      break;
    case "duration_p95_regression":
      for (const g of groupBy(parseRows(rule, rowSchemas.duration_p95_regression, rows), (r) => JSON.stringify([r.repository, r.workflow]))) {
        const head = g[0];
        if (!head || head.previous_p95 <= 0) continue;
        const ratio = head.current_p95 / head.previous_p95;
        if (ratio < rule.ratio) continue;
        const w = formatSeconds(rule.windowSeconds);
        out.push(
          finding(rule, { repository: head.repository, workflow: head.workflow }, {
            value: ratio,
            threshold: rule.ratio,
            unit: "ratio",
            summary: `${head.repository} ${head.workflow}: p95 duration ${formatSeconds(head.current_p95)} over the last ${w}, ${times(ratio)} the previous ${w}'s ${formatSeconds(head.previous_p95)} (threshold ${times(rule.ratio)}; ${head.current_runs} and ${head.previous_runs} runs)`,
            offenders: byPos(g).map((r) => ({ label: `run ${r.run_id} took ${formatSeconds(r.duration_seconds)}`, value: r.duration_seconds, ...url(r.html_url) })),
          }),
        );
      }
      break;
    case "queue_p95":
      for (const g of groupBy(parseRows(rule, rowSchemas.queue_p95, rows), (r) => r.runner_labels)) {
        const head = g[0];
        if (!head || head.p95 <= rule.thresholdSeconds) continue;
        out.push(
          finding(rule, { runner_labels: head.runner_labels }, {
            value: head.p95,
            threshold: rule.thresholdSeconds,
            unit: "seconds",
            summary: `runners ${head.runner_labels}: p95 queue time ${formatSeconds(head.p95)} over the last ${formatSeconds(rule.windowSeconds)} (threshold ${formatSeconds(rule.thresholdSeconds)}; ${head.jobs} jobs)`,
            offenders: byPos(g).map((r) => ({ label: `${r.repository} job ${r.job_name ?? r.job_id} queued ${formatSeconds(r.queue_seconds)}`, value: r.queue_seconds, ...url(r.html_url ? `${r.html_url}/job/${r.job_id}` : null) })),
          }),
        );
      }
      break;
    case "consecutive_failures":
      for (const g of groupBy(parseRows(rule, rowSchemas.consecutive_failures, rows), (r) => JSON.stringify([r.repository, r.workflow, r.branch]))) {
        const head = g[0];
        if (!head) continue;
        const streak = head.first_ok === null ? head.n : head.first_ok - 1;
        if (streak < rule.count) continue;
        out.push(
          finding(rule, { repository: head.repository, workflow: head.workflow, branch: head.branch }, {
            value: streak,
            threshold: rule.count,
            unit: "count",
            summary: `${head.repository} ${head.workflow} on ${head.branch}: the last ${streak} runs failed (threshold ${rule.count} in a row)`,
            offenders: byPos(g).map((r) => ({ label: `run ${r.run_id} ${r.conclusion ?? "?"} at ${r.created_at}`, value: r.duration_seconds ?? 0, ...url(r.html_url) })),
          }),
        );
      }
      break;
    case "stuck":
      for (const r of parseRows(rule, rowSchemas.stuck, rows)) {
        const age = Math.floor((now.getTime() - Date.parse(r.since)) / 1000);
        if (age < rule.thresholdSeconds) continue;
        const what = r.entity === "run" ? `run ${r.run_id} of ${r.repository} ${r.workflow}` : `job ${r.job_name ?? r.job_id} (${r.job_id}) of ${r.repository} ${r.workflow} run ${r.run_id}`;
        const link = r.entity === "job" && r.html_url ? `${r.html_url}/job/${r.job_id ?? ""}` : r.html_url;
        const scope: Record<string, string> = r.entity === "run" ? { run_id: String(r.run_id) } : { job_id: String(r.job_id) };
        out.push(
          finding(rule, scope, {
            value: age,
            threshold: rule.thresholdSeconds,
            unit: "seconds",
            summary: `${what} on ${r.head_branch ?? "(no branch)"}: ${r.status} for ${formatSeconds(age)} (threshold ${formatSeconds(rule.thresholdSeconds)})`,
            offenders: [{ label: `${what} ${r.status} since ${r.since}`, value: age, ...url(link) }],
          }),
        );
      }
      break;
    case "cost_spike": {
      const day = new Date(Math.floor(now.getTime() / DAY) * DAY - DAY).toISOString().slice(0, 10);
      for (const g of groupBy(parseRows(rule, rowSchemas.cost_spike, rows), (r) => r.repository)) {
        const head = g[0];
        if (!head) continue;
        const dayCost = cents6(head.day_cost);
        const mean = cents6(head.trailing_cost) / rule.trailingDays;
        if (mean <= 0 || dayCost < rule.minUsd) continue;
        const ratio = dayCost / mean;
        if (ratio < rule.ratio) continue;
        out.push(
          finding(rule, { repository: head.repository }, {
            value: ratio,
            threshold: rule.ratio,
            unit: "ratio",
            summary: `${head.repository}: estimated cost ${usd(dayCost)} on ${day}, ${times(ratio)} the ${rule.trailingDays}-day mean ${usd(mean)} (threshold ${times(rule.ratio)}, at least ${usd(rule.minUsd)})`,
            offenders: byPos(g).map((r) => ({ label: `${r.workflow} run ${r.run_id} attempt ${r.run_attempt}: ${usd(r.cost)}`, value: cents6(r.cost), ...url(r.html_url) })),
          }),
        );
      }
      break;
    }
    case "flaky_rate":
      for (const g of groupBy(parseRows(rule, rowSchemas.flaky_rate, rows), (r) => JSON.stringify([r.repository, r.workflow, r.job_name]))) {
        const head = g[0];
        if (!head) continue;
        const rate = head.flaky_runs / head.runs;
        if (rate < rule.threshold) continue;
        const job = head.job_name ?? "(unnamed job)";
        out.push(
          finding(rule, { repository: head.repository, workflow: head.workflow, job_name: job }, {
            value: rate,
            threshold: rule.threshold,
            unit: "ratio",
            summary: `${head.repository} ${head.workflow} / ${job}: flaky in ${pct(rate)} of runs over ${formatSeconds(rule.windowSeconds)} (threshold ${pct(rule.threshold)}; ${head.flaky_runs} of ${head.runs} runs failed then passed on re-run)`,
            offenders: byPos(g).map((r) => ({ label: `run ${r.run_id}: passed on attempt ${r.last_passed_attempt ?? "?"}`, value: r.last_passed_attempt ?? 0, ...url(r.html_url) })),
          }),
        );
      }
      break;
  }
  return out.sort((a, b) => (a.fingerprint < b.fingerprint ? -1 : a.fingerprint > b.fingerprint ? 1 : 0));
}

/** The queries of every enabled rule at `now` (for `check`-style type-checking and dry runs). */
export function alertQueries(rules: readonly Rule[], table: Table, now: Date): AlertQuery[] {
  return rules.filter((r) => r.enabled).map((r) => ruleQuery(r, table, now));
}

/**
 * Evaluates every enabled rule at `now` against the models behind `source`: the findings (scopes whose
 * condition holds now), ordered by rule then fingerprint. A query failure names the rule and says to run
 * transform first.
 */
export async function evaluateRules(rules: readonly Rule[], source: ReportSource, now: Date): Promise<Finding[]> {
  if (Number.isNaN(now.getTime())) throw new AlertEvaluationError("evaluateRules: `now` is not a valid date: pass the evaluation time as a Date");
  const findings: Finding[] = [];
  for (const rule of rules) {
    if (!rule.enabled) continue;
    const q = ruleQuery(rule, source.table, now);
    let rows: Record<string, unknown>[];
    try {
      rows = await source.query(q.sql, q.params);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new AlertEvaluationError(
        `alert rule ${rule.name} (${rule.kind}): cannot read the models: ${message.split("\n")[0]} (${source.where("fct_workflow_runs")}; run transform first: ${source.transformCommand})`,
      );
    }
    findings.push(...findingsFromRows(rule, rows, now));
  }
  return findings;
}

