/**
 * Reads the reporting views of a warehouse into `ReportData`. Every row is checked with zod so a view
 * whose shape drifted stops the report with the view, row and column named instead of drawing a wrong
 * chart. The queries are plain SELECTs over `<models dataset>.rpt_*` so another warehouse only needs its
 * own `QueryRows`.
 */
import { z } from "zod";
import { datasets } from "../load/datasets.js";
import { quoteIdent } from "../load/duckdb-connection.js";
import type { ReportData } from "./model.js";

/** Runs a SELECT and returns rows as JSON values (numbers may arrive as strings, instants as text). */
export type QueryRows = (sql: string) => Promise<Record<string, unknown>[]>;

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

const num = z.coerce.number().refine(Number.isFinite, "not a finite number");
const optNum = z.union([z.null(), num]);
const str = z.string();
const optStr = z.union([z.null(), z.string()]);
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "expected YYYY-MM-DD");
const instant = z.string().transform((s, ctx) => {
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

function sqlDate(value: string, field: string): string {
  const ms = Date.parse(`${value}T00:00:00Z`);
  // The round trip rejects days JavaScript would silently roll over (2026-02-30 → 2026-03-02).
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value) throw new ReportDataError(`${field} must be YYYY-MM-DD, got ${JSON.stringify(value)}`);
  return `DATE '${value}'`;
}

export async function readReportData(query: QueryRows, options: ReadReportOptions = {}): Promise<ReportData> {
  const m = quoteIdent(datasets.models);
  const since = options.since ? sqlDate(options.since, "since") : null;
  const from = (column: string) => (since ? `WHERE ${column} >= ${since}` : "");
  const and = (column: string) => (since ? `AND ${column} >= ${since}` : "");
  const runningLimit = options.runningLimit ?? 500;
  if (!Number.isInteger(runningLimit) || runningLimit < 1) throw new ReportDataError("runningLimit must be a positive whole number");

  const read = async <T extends z.ZodType>(view: string, schema: T, sql: string) => {
    let rows: Record<string, unknown>[];
    try {
      rows = await query(sql);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new ReportDataError(`cannot read ${view}: ${message.split("\n")[0]} (build the models first: actions-warehouse transform)`);
    }
    return parseRows(view, schema, rows);
  };

  const kpis = await read(
    "rpt_kpi_summary",
    kpiRow,
    `SELECT period, period_hours, reference_time, current_start, previous_start, runs_current, runs_previous,
            successes_current, successes_previous, failures_current, failures_previous,
            success_rate_current, success_rate_previous, avg_duration_seconds_current, avg_duration_seconds_previous
       FROM ${m}.rpt_kpi_summary ORDER BY period_hours`,
  );
  // No rpt_* view has a daily mean duration; the KPI's own definition (latest completed attempts by
  // created day) over the fact table gives the average-duration sparkline. Counts come from the views.
  const kpiDaily = await read(
    "fct_workflow_runs",
    kpiDailyRow,
    `SELECT CAST(CAST(created_at AS DATE) AS VARCHAR) AS date, COUNT(*) AS runs, AVG(duration_seconds) AS avg_duration_seconds
       FROM ${m}.fct_workflow_runs
      WHERE is_latest_attempt AND status = 'completed' ${and("CAST(created_at AS DATE)")}
      GROUP BY 1 ORDER BY 1`,
  );
  const health = await read(
    "rpt_pipeline_health_daily",
    healthRow,
    `SELECT CAST(run_date AS VARCHAR) AS date, repository, COALESCE(workflow_name, '(unknown)') AS workflow, runs, successes, failures,
            p50_duration_seconds AS p50, p95_duration_seconds AS p95
       FROM ${m}.rpt_pipeline_health_daily ${from("run_date")} ORDER BY 1, 2, 3`,
  );
  const branchFailures = await read(
    "rpt_failures_by_branch",
    branchRow,
    `SELECT CAST(run_date AS VARCHAR) AS date, repository, COALESCE(workflow_name, '(unknown)') AS workflow, COALESCE(head_branch, '(none)') AS branch, runs, failures
       FROM ${m}.rpt_failures_by_branch WHERE failures > 0 ${and("run_date")} ORDER BY 1, 2, 3, 4`,
  );
  const runners = await read(
    "rpt_runner_queue_latency",
    runnerRow,
    `SELECT CAST(job_date AS VARCHAR) AS date, COALESCE(NULLIF(runner_labels, ''), '(none)') AS labels, runner_os, COALESCE(is_self_hosted, FALSE) AS self_hosted,
            jobs, started_jobs, avg_queue_seconds, p95_queue_seconds, avg_duration_seconds, p95_duration_seconds
       FROM ${m}.rpt_runner_queue_latency ${from("job_date")} ORDER BY 1, 2, 3, 4`,
  );
  const [runningCount] = await read("rpt_running_now", z.object({ n: num }), `SELECT COUNT(*) AS n FROM ${m}.rpt_running_now`);
  const running = await read(
    "rpt_running_now",
    runningRow,
    `SELECT entity_type, run_id, job_id, repository, COALESCE(workflow_name, '(unknown)') AS workflow, job_name, head_branch AS branch, status, created_at, age_seconds
       FROM ${m}.rpt_running_now ORDER BY created_at, run_id, job_id NULLS FIRST LIMIT ${runningLimit}`,
  );
  const cost = await read(
    "rpt_cost_monthly",
    costRow,
    `SELECT CAST(month AS VARCHAR) AS month, repository, COALESCE(workflow_name, '(unknown)') AS workflow, runner_os, jobs,
            COALESCE(billable_minutes, 0) AS billable_minutes, COALESCE(estimated_cost_usd, 0) AS cost_usd
       FROM ${m}.rpt_cost_monthly ${since ? `WHERE month >= DATE_TRUNC('month', ${since})` : ""} ORDER BY 1, 2, 3, 4`,
  );
  const packages = await read(
    "rpt_package_publish_frequency",
    packageRow,
    `SELECT CAST(week_start AS VARCHAR) AS week, owner, package_type, package_name, versions_published AS published, versions_deleted AS deleted
       FROM ${m}.rpt_package_publish_frequency ${since ? `WHERE week_start >= ${since} - INTERVAL 6 DAY` : ""} ORDER BY 1, 2, 3, 4`,
  );
  const nodes = await read(
    "rpt_workflow_topology_nodes",
    nodeRow,
    `SELECT node_id AS id, node_type AS type, label, repository, workflow_name AS workflow, job_name AS job, runs, failures, total_runtime_seconds AS runtime_seconds
       FROM ${m}.rpt_workflow_topology_nodes ORDER BY 1`,
  );
  const edges = await read(
    "rpt_workflow_topology_edges",
    edgeRow,
    `SELECT source_id AS source, target_id AS target, edge_type AS type, repository, workflow_name AS workflow, runs, failures, total_runtime_seconds AS runtime_seconds
       FROM ${m}.rpt_workflow_topology_edges ORDER BY 1, 2`,
  );

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
  };
}
