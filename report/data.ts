/**
 * Reads the reporting views of a warehouse into `ReportData`. Every row is checked with zod so a view
 * whose shape drifted stops the report with the view, row and column named instead of drawing a wrong
 * chart.
 *
 * One set of queries for every warehouse: plain SELECTs over `<models dataset>.rpt_*` written in the SQL
 * both engines read the same way (GoogleSQL that DuckDB also accepts: `CAST(x AS STRING)`, `@name`
 * parameters, every ORDER BY column with its NULLS placement spelled out so ties and NULLs sort alike).
 * Only the row source differs (`ReportSource`: DuckDB in report/build.ts, BigQuery in
 * report/bigquery-source.ts); it quotes the table names and turns its values into JSON-like ones, and the
 * zod schemas below make the result identical.
 */
import { z } from "zod";
import { datasets } from "../load/datasets.js";
import { quoteIdent } from "../load/duckdb-connection.js";
import type { ReportData } from "./model.js";
import { FLAKY_LIMIT } from "./tests-panel.js";
import { FLAKY_JOBS_LIMIT } from "./flaky-jobs-panel.js";

/** Named query parameters, written `@name` in the SQL. Dates are passed as text and CAST in the SQL. */
export type ReportParams = Record<string, string | number>;

/** Runs a SELECT and returns rows as JSON values (numbers may arrive as strings, instants as text). */
export type QueryRows = (sql: string, params: ReportParams) => Promise<Record<string, unknown>[]>;

/** Where the report reads its rows from. */
export interface ReportSource {
  /** The name of a table or view of the models dataset, quoted for the engine (`"ds"."v"`, `` `p.ds.v` ``). */
  table(name: string): string;
  query: QueryRows;
  /** Bytes a query would scan (a BigQuery dry run); absent where reading costs nothing. */
  dryRun?: (sql: string, params: ReportParams) => Promise<number>;
  /** Where a view lives, for error messages. */
  where(view: string): string;
  /** The command that builds the views on this warehouse, for error messages. */
  transformCommand: string;
}

/** The DuckDB naming, for a bare `QueryRows` (tests) and the DuckDB file. */
export function duckDbNames(): Pick<ReportSource, "table" | "where" | "transformCommand"> {
  return {
    table: (name) => `${quoteIdent(datasets.models)}.${quoteIdent(name)}`,
    where: (view) => `${datasets.models}.${view} in the DuckDB file`,
    transformCommand: "actions-warehouse transform",
  };
}

export class ReportDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReportDataError";
  }
}

/** `2026-11-22 08:00:00+00` (DuckDB), `2026-11-22T08:00:00.000Z` (BigQuery JSON) → ISO-8601 UTC. */
export function toIsoInstant(text: string): string {
  const normalised = text.trim().replace(" ", "T").replace(/([+-]\d{2})$/, "$1:00");
  const ms = Date.parse(/[zZ]|[+-]\d{2}:\d{2}$/.test(normalised) ? normalised : `${normalised}Z`);
  if (Number.isNaN(ms)) throw new Error(`not a timestamp: ${text}`);
  return new Date(ms).toISOString();
}

/**
 * Column types of rows read from either engine (numbers may arrive as strings, instants as text in either
 * engine's format): shared by the report and the alert evaluation (alerts/evaluate.ts).
 */
export const num = z.coerce.number().refine(Number.isFinite, "not a finite number");
export const optNum = z.union([z.null(), num]);
export const str = z.string();
export const optStr = z.union([z.null(), z.string()]);
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "expected YYYY-MM-DD");
export const instant = z.string().transform((s, ctx) => {
  try {
    return toIsoInstant(s);
  } catch {
    ctx.addIssue({ code: "custom", message: `not a timestamp: ${s}` });
    return z.NEVER;
  }
});
const bool = z.union([z.boolean(), z.enum(["true", "false"]).transform((s) => s === "true")]);

const kpiRow = z.object({
  period: str,
  period_hours: num,
  reference_time: instant,
  current_start: instant,
  previous_start: instant,
  runs_current: num,
  runs_previous: num,
  successes_current: num,
  successes_previous: num,
  failures_current: num,
  failures_previous: num,
  success_rate_current: optNum,
  success_rate_previous: optNum,
  avg_duration_seconds_current: optNum,
  avg_duration_seconds_previous: optNum,
});
const kpiDailyRow = z.object({ date: day, runs: num, avg_duration_seconds: optNum });
const healthRow = z.object({ date: day, repository: str, workflow: str, runs: num, successes: num, failures: num, p50: optNum, p95: optNum });
const branchRow = z.object({ date: day, repository: str, workflow: str, branch: str, runs: num, failures: num });
const runnerRow = z.object({
  date: day,
  labels: str,
  runner_os: str,
  self_hosted: bool,
  jobs: num,
  started_jobs: num,
  avg_queue_seconds: optNum,
  p95_queue_seconds: optNum,
  avg_duration_seconds: optNum,
  p95_duration_seconds: optNum,
});
const runningRow = z.object({
  entity_type: str,
  run_id: num,
  job_id: optNum,
  repository: str,
  workflow: str,
  job_name: optStr,
  branch: optStr,
  status: str,
  created_at: instant,
  age_seconds: optNum,
});
const costRow = z.object({ month: day, repository: str, workflow: str, runner_os: str, jobs: num, billable_minutes: num, cost_usd: num });
const packageRow = z.object({ week: day, owner: str, package_type: str, package_name: str, published: num, deleted: num });
const nodeRow = z.object({ id: str, type: str, label: str, repository: str, workflow: optStr, job: optStr, runs: num, failures: num, runtime_seconds: num });
const edgeRow = z.object({ source: str, target: str, type: str, repository: str, workflow: str, runs: num, failures: num, runtime_seconds: num });

const dagNodeRow = z.object({
  id: str,
  type: str,
  label: str,
  repository: str,
  workflow_path: optStr,
  blob_sha: optStr,
  workflow: optStr,
  job_id: optStr,
  executions: num,
  failures: num,
  runtime_seconds: num,
  avg_span_seconds: optNum,
  critical_path_runs: num,
});
const dagEdgeRow = z.object({ source: str, target: str, type: str, repository: str, workflow_path: optStr, executions: num, failures: num, runtime_seconds: num, critical_path_runs: num });
const criticalPathRow = z.object({
  repository: str,
  workflow_path: str,
  workflow: optStr,
  run_attempts: num,
  p50_critical_path_seconds: num,
  p50_share_of_wall_time: optNum,
  top_job_id: str,
  top_job_rate: num,
  latest_blob_sha: optStr,
  usual_critical_path: optStr,
  usual_critical_path_runs: optNum,
});

const alertRow = z.object({
  fingerprint: str,
  episode: num,
  rule: str,
  kind: str,
  severity: str,
  repository: optStr,
  workflow: optStr,
  branch: optStr,
  scope: str,
  state: z.enum(["active", "acknowledged", "resolved"]),
  episode_state: str,
  value: num,
  threshold: num,
  unit: str,
  summary: str,
  first_seen_at: instant,
  fired_at: z.union([z.null(), instant]),
  resolved_at: z.union([z.null(), instant]),
  last_notified_at: z.union([z.null(), instant]),
  acknowledged_by: optStr,
  acknowledged_until: z.union([z.null(), instant]),
  duration_seconds: num,
});

/** A test's identity in rpt_flaky_tests and rpt_slowest_tests, and its executions. */
const testIdentity = {
  repository: str,
  workflow: str,
  leg: str,
  suite: optStr,
  classname: optStr,
  name: str,
  executions: num,
};

const flakyTestRow = z.object({
  ...testIdentity,
  commits: num,
  flaky_commits: num,
  flake_rate: optNum,
  flaky_failures: num,
  runs_affected: num,
  first_flaky_at: instant,
  last_flaky_at: instant,
  rerun_minutes: num,
});
const slowTestRow = z.object({
  ...testIdentity,
  avg_duration_seconds: num,
  p95_duration_seconds: num,
  max_duration_seconds: num,
  total_duration_seconds: num,
  last_run_at: instant,
});
const testHealthRow = z.object({ date: day, repository: str, workflow: str, executions: num, passed: num, failed: num, errors: num, skipped: num, p95: optNum });
const coverageRow = z.object({ date: day, repository: str, branch: str, runs: num, latest_run_id: num, line_rate: optNum, branch_rate: optNum, avg_line_rate: optNum });

const flakyJobRow = z.object({
  repository: str,
  workflow: str,
  job_name: str,
  runs: num,
  flaky_runs: num,
  flake_rate: num,
  wasted_billable_minutes: num,
  wasted_cost_usd: num,
  last_flaky_at: instant,
});

function parseRows<T extends z.ZodType>(view: string, schema: T, rows: Record<string, unknown>[]): z.infer<T>[] {
  return rows.map((row, i) => {
    const parsed = schema.safeParse(row);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ReportDataError(`${view} row ${i + 1}: column ${issue?.path.join(".") ?? "?"}: ${issue?.message ?? "invalid"} (row ${JSON.stringify(row)})`);
    }
    return parsed.data;
  });
}

export interface ReadReportOptions {
  title?: string;
  /** Keep only rows on or after this UTC day (YYYY-MM-DD); default everything. */
  since?: string;
  /** At most this many rows of rpt_running_now, oldest first (default 500). */
  runningLimit?: number;
  /** The time the report is generated (default now); only shown on the page. */
  now?: Date;
}

/** Validates a YYYY-MM-DD day and returns its UTC midnight in milliseconds. */
function utcDay(value: string, field: string): number {
  const ms = Date.parse(`${value}T00:00:00Z`);
  // The round trip rejects days JavaScript would silently roll over (2026-02-30 → 2026-03-02).
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value) throw new ReportDataError(`${field} must be YYYY-MM-DD, got ${JSON.stringify(value)}`);
  return ms;
}

/** One query of the report: the view it reads (for messages and the bytes estimate), its SQL and its row schema. */
export interface ReportQuery<T extends z.ZodType = z.ZodType> {
  view: string;
  schema: T;
  sql: string;
  params: ReportParams;
}

const spec = <T extends z.ZodType>(view: string, schema: T, sql: string, params: ReportParams = {}): ReportQuery<T> => ({ view, schema, sql, params });

/**
 * `ORDER BY` the given keys, then every output column as a tie-breaker, each with NULLS FIRST: BigQuery
 * sorts NULLs first and DuckDB last by default, and rows that tie on the keys must not come out in an
 * engine's own order, or the two warehouses would embed different pages for the same data.
 */
function orderBy(columns: number, ...keys: (string | number)[]): string {
  const all = [...keys, ...Array.from({ length: columns }, (_, i) => i + 1)];
  return `ORDER BY ${all.map((k) => `${k} NULLS FIRST`).join(", ")}`;
}

/** The report's queries, in the order they run. The SQL is the same for every warehouse; `table` quotes the names. */
export function reportQueries(table: (name: string) => string, options: ReadReportOptions = {}) {
  const sinceMs = options.since ? utcDay(options.since, "since") : null;
  const runningLimit = options.runningLimit ?? 500;
  if (!Number.isInteger(runningLimit) || runningLimit < 1) throw new ReportDataError("runningLimit must be a positive whole number");
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  // Bounds derived from --since are computed here, not with each engine's date functions.
  const since: ReportParams = sinceMs === null ? {} : { since: day(sinceMs) };
  const sinceMonth: ReportParams = sinceMs === null ? {} : { since_month: `${day(sinceMs).slice(0, 7)}-01` };
  const sinceWeek: ReportParams = sinceMs === null ? {} : { since_week: day(sinceMs - 6 * 86_400_000) };
  const where = (column: string, param = "since") => (sinceMs === null ? "" : `WHERE ${column} >= CAST(@${param} AS DATE)`);
  const and = (column: string) => (sinceMs === null ? "" : `AND ${column} >= CAST(@since AS DATE)`);

  return {
    kpis: spec(
      "rpt_kpi_summary",
      kpiRow,
      `SELECT period, period_hours, reference_time, current_start, previous_start, runs_current, runs_previous,
              successes_current, successes_previous, failures_current, failures_previous,
              success_rate_current, success_rate_previous, avg_duration_seconds_current, avg_duration_seconds_previous
         FROM ${table("rpt_kpi_summary")} ${orderBy(15, "period_hours")}`,
    ),
    // No rpt_* view has a daily mean duration; the KPI's own definition (latest completed attempts by
    // created day) over the fact table gives the average-duration sparkline. Counts come from the views.
    kpiDaily: spec(
      "fct_workflow_runs",
      kpiDailyRow,
      `SELECT CAST(CAST(created_at AS DATE) AS STRING) AS date, COUNT(*) AS runs, AVG(duration_seconds) AS avg_duration_seconds
         FROM ${table("fct_workflow_runs")}
        WHERE is_latest_attempt AND status = 'completed' ${and("CAST(created_at AS DATE)")}
        GROUP BY 1 ${orderBy(1)}`,
      since,
    ),
    health: spec(
      "rpt_pipeline_health_daily",
      healthRow,
      `SELECT CAST(run_date AS STRING) AS date, repository, COALESCE(workflow_name, '(unknown)') AS workflow, runs, successes, failures,
              p50_duration_seconds AS p50, p95_duration_seconds AS p95
         FROM ${table("rpt_pipeline_health_daily")} ${where("run_date")} ${orderBy(8)}`,
      since,
    ),
    branchFailures: spec(
      "rpt_failures_by_branch",
      branchRow,
      `SELECT CAST(run_date AS STRING) AS date, repository, COALESCE(workflow_name, '(unknown)') AS workflow, COALESCE(head_branch, '(none)') AS branch, runs, failures
         FROM ${table("rpt_failures_by_branch")} WHERE failures > 0 ${and("run_date")} ${orderBy(6)}`,
      since,
    ),
    runners: spec(
      "rpt_runner_queue_latency",
      runnerRow,
      `SELECT CAST(job_date AS STRING) AS date, COALESCE(NULLIF(runner_labels, ''), '(none)') AS labels, runner_os, COALESCE(is_self_hosted, FALSE) AS self_hosted,
              jobs, started_jobs, avg_queue_seconds, p95_queue_seconds, avg_duration_seconds, p95_duration_seconds
         FROM ${table("rpt_runner_queue_latency")} ${where("job_date")} ${orderBy(10)}`,
      since,
    ),
    runningCount: spec("rpt_running_now", z.object({ n: num }), `SELECT COUNT(*) AS n FROM ${table("rpt_running_now")}`),
    running: spec(
      "rpt_running_now",
      runningRow,
      `SELECT entity_type, run_id, job_id, repository, COALESCE(workflow_name, '(unknown)') AS workflow, job_name, head_branch AS branch, status, created_at, age_seconds
         FROM ${table("rpt_running_now")} ${orderBy(10, "created_at", "run_id", "job_id")} LIMIT @running_limit`,
      { running_limit: runningLimit },
    ),
    cost: spec(
      "rpt_cost_monthly",
      costRow,
      `SELECT CAST(month AS STRING) AS month, repository, COALESCE(workflow_name, '(unknown)') AS workflow, runner_os, jobs,
              COALESCE(billable_minutes, 0) AS billable_minutes, COALESCE(estimated_cost_usd, 0) AS cost_usd
         FROM ${table("rpt_cost_monthly")} ${where("month", "since_month")} ${orderBy(7)}`,
      sinceMonth,
    ),
    packages: spec(
      "rpt_package_publish_frequency",
      packageRow,
      `SELECT CAST(week_start AS STRING) AS week, owner, package_type, package_name, versions_published AS published, versions_deleted AS deleted
         FROM ${table("rpt_package_publish_frequency")} ${where("week_start", "since_week")} ${orderBy(6)}`,
      sinceWeek,
    ),
    nodes: spec(
      "rpt_workflow_topology_nodes",
      nodeRow,
      `SELECT node_id AS id, node_type AS type, label, repository, workflow_name AS workflow, job_name AS job, runs, failures, total_runtime_seconds AS runtime_seconds
         FROM ${table("rpt_workflow_topology_nodes")} ${orderBy(9)}`,
    ),
    edges: spec(
      "rpt_workflow_topology_edges",
      edgeRow,
      `SELECT source_id AS source, target_id AS target, edge_type AS type, repository, workflow_name AS workflow, runs, failures, total_runtime_seconds AS runtime_seconds
         FROM ${table("rpt_workflow_topology_edges")} ${orderBy(8)}`,
    ),
    // The workflow DAG (issue 15): the latest version of each workflow file, all time (the views aggregate
    // every run of a version, so --since does not narrow them).
    dagNodes: spec(
      "rpt_workflow_dag_nodes",
      dagNodeRow,
      `SELECT node_id AS id, node_type AS type, label, repository, workflow_path, blob_sha, workflow_name AS workflow, job_id,
              executions, failures, total_runtime_seconds AS runtime_seconds, avg_span_seconds, critical_path_runs
         FROM ${table("rpt_workflow_dag_nodes")} WHERE is_latest_version ${orderBy(13)}`,
    ),
    dagEdges: spec(
      "rpt_workflow_dag_edges",
      dagEdgeRow,
      `SELECT source_id AS source, target_id AS target, edge_type AS type, repository, workflow_path, executions, failures,
              total_runtime_seconds AS runtime_seconds, critical_path_runs
         FROM ${table("rpt_workflow_dag_edges")} WHERE is_latest_version ${orderBy(9)}`,
    ),
    criticalPaths: spec(
      "rpt_critical_path_workflows",
      criticalPathRow,
      `SELECT repository, workflow_path, workflow_name AS workflow, run_attempts, p50_critical_path_seconds, p50_share_of_wall_time,
              top_job_id, top_job_rate, latest_blob_sha, usual_critical_path, usual_critical_path_runs
         FROM ${table("rpt_critical_path_workflows")} ${orderBy(11)}`,
    ),
    // The view is the panel's window already (30 days before its reference time), so --since does not
    // narrow it: an alert still firing must show however old the report's range. Open ones first, then
    // the most recent; the fingerprint and episode make the order total.
    alerts: spec(
      "rpt_alerts",
      alertRow,
      `SELECT fingerprint, episode, rule, kind, severity, repository, workflow, branch, scope, state, episode_state, value, threshold, unit, summary,
              first_seen_at, fired_at, resolved_at, last_notified_at, acknowledged_by, acknowledged_until, duration_seconds
         FROM ${table("rpt_alerts")}
        ORDER BY CASE WHEN state = 'resolved' THEN 1 ELSE 0 END, first_seen_at DESC, fingerprint, episode`,
    ),
    // The tests page (issue 14). Flaky and slowest tests are lists to act on: the worst first, capped, like
    // rpt_running_now; --since keeps tests that flaked (or ran) on or after it.
    flakyTests: spec(
      "rpt_flaky_tests",
      flakyTestRow,
      `SELECT repository, workflow_name AS workflow, leg, suite, classname, name, executions, commits, flaky_commits, flake_rate,
              flaky_failures, runs_affected, first_flaky_at, last_flaky_at, rerun_minutes
         FROM ${table("rpt_flaky_tests")} ${where("CAST(last_flaky_at AS DATE)")} ${orderBy(15, "flaky_commits DESC", "rerun_minutes DESC", "last_flaky_at DESC")} LIMIT ${FLAKY_LIMIT}`,
      since,
    ),
    slowestTests: spec(
      "rpt_slowest_tests",
      slowTestRow,
      `SELECT repository, workflow_name AS workflow, leg, suite, classname, name, executions, avg_duration_seconds, p95_duration_seconds,
              max_duration_seconds, total_duration_seconds, last_run_at
         FROM ${table("rpt_slowest_tests")} ${where("CAST(last_run_at AS DATE)")} ${orderBy(12, "p95_duration_seconds DESC", "total_duration_seconds DESC")} LIMIT 25`,
      since,
    ),
    testHealth: spec(
      "rpt_test_health_daily",
      testHealthRow,
      `SELECT CAST(test_date AS STRING) AS date, repository, workflow_name AS workflow, executions, passed, failed, errors, skipped, p95_duration_seconds AS p95
         FROM ${table("rpt_test_health_daily")} ${where("test_date")} ${orderBy(9)}`,
      since,
    ),
    coverage: spec(
      "rpt_coverage_daily",
      coverageRow,
      `SELECT CAST(coverage_date AS STRING) AS date, repository, head_branch AS branch, runs, latest_run_id, line_rate, branch_rate, avg_line_rate
         FROM ${table("rpt_coverage_daily")} ${where("coverage_date")} ${orderBy(8)}`,
      since,
    ),
    // Flaky jobs (issue 15): the ones that wasted most first, capped; --since keeps jobs that flaked on or after it.
    flakyJobs: spec(
      "rpt_flaky_jobs",
      flakyJobRow,
      `SELECT repository, workflow_name AS workflow, job_name, runs, flaky_runs, flake_rate, wasted_billable_minutes, wasted_cost_usd, last_flaky_at
         FROM ${table("rpt_flaky_jobs")} ${where("CAST(last_flaky_at AS DATE)")} ${orderBy(9, "wasted_cost_usd DESC", "wasted_billable_minutes DESC", "flaky_runs DESC")} LIMIT ${FLAKY_JOBS_LIMIT}`,
      since,
    ),
  };
}

function sourceOf(source: ReportSource | QueryRows): ReportSource {
  return typeof source === "function" ? { ...duckDbNames(), query: source } : source;
}

/** Runs one step against the warehouse; a failure names the view, where it should be and how to build it. */
async function guarded<T>(source: ReportSource, view: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ReportDataError(`cannot read ${view}: ${message.split("\n")[0]} (${source.where(view)}; run transform first: ${source.transformCommand})`);
  }
}

export interface ScanEstimate {
  totalBytes: number;
  /** Bytes per view or table read, summed over its queries. */
  byView: Record<string, number>;
}

/** Dry-runs every report query (BigQuery): what reading the views will scan, before anything is billed. */
export async function estimateReportBytes(source: ReportSource, options: ReadReportOptions = {}): Promise<ScanEstimate | undefined> {
  const dryRun = source.dryRun;
  if (!dryRun) return undefined;
  const byView: Record<string, number> = {};
  let totalBytes = 0;
  for (const q of Object.values(reportQueries(source.table, options))) {
    const bytes = await guarded(source, q.view, () => dryRun(q.sql, q.params));
    byView[q.view] = (byView[q.view] ?? 0) + bytes;
    totalBytes += bytes;
  }
  return { totalBytes, byView };
}

export async function readReportData(rows: ReportSource | QueryRows, options: ReadReportOptions = {}): Promise<ReportData> {
  const source = sourceOf(rows);
  const q = reportQueries(source.table, options);
  const read = async <T extends z.ZodType>(s: ReportQuery<T>): Promise<z.infer<T>[]> => parseRows(s.view, s.schema, await guarded(source, s.view, () => source.query(s.sql, s.params)));

  const kpis = await read(q.kpis);
  const kpiDaily = await read(q.kpiDaily);
  const health = await read(q.health);
  const branchFailures = await read(q.branchFailures);
  const runners = await read(q.runners);
  const [runningCount] = await read(q.runningCount);
  const running = await read(q.running);
  const cost = await read(q.cost);
  const packages = await read(q.packages);
  const nodes = await read(q.nodes);
  const edges = await read(q.edges);
  const dagNodes = await read(q.dagNodes);
  const dagEdges = await read(q.dagEdges);
  const criticalPaths = await read(q.criticalPaths);
  const alerts = await read(q.alerts);
  const flakyTests = await read(q.flakyTests);
  const slowestTests = await read(q.slowestTests);
  const testHealth = await read(q.testHealth);
  const coverage = await read(q.coverage);
  const flakyJobs = await read(q.flakyJobs);

  return {
    title: options.title ?? "GitHub Actions warehouse",
    generatedAt: (options.now ?? new Date()).toISOString(),
    referenceTime: kpis[0]?.reference_time ?? null,
    kpis,
    kpiDaily,
    health,
    branchFailures,
    runners,
    running,
    runningTotal: runningCount?.n ?? running.length,
    cost,
    packages,
    nodes,
    edges,
    dagNodes,
    dagEdges,
    criticalPaths,
    alerts,
    flakyTests,
    slowestTests,
    testHealth,
    coverage,
    flakyJobs,
  };
}
