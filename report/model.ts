/**
 * The data a dashboard is drawn from: rows of the rpt_* views (plus a daily KPI trend), as plain JSON
 * embedded in the HTML. Shared by the server side (report/data.ts fills it) and the browser bundle
 * (report/client/), so this file imports nothing.
 *
 * Dates are `YYYY-MM-DD` strings and instants ISO-8601 UTC strings, so the page never depends on the
 * viewer's time zone; counts and seconds are plain numbers.
 */

export interface KpiRow {
  period: string;
  period_hours: number;
  reference_time: string;
  current_start: string;
  previous_start: string;
  runs_current: number;
  runs_previous: number;
  successes_current: number;
  successes_previous: number;
  failures_current: number;
  failures_previous: number;
  success_rate_current: number | null;
  success_rate_previous: number | null;
  avg_duration_seconds_current: number | null;
  avg_duration_seconds_previous: number | null;
}

/** Mean duration of completed latest attempts per UTC day, every repository: the duration sparkline. */
export interface KpiDailyRow {
  date: string;
  runs: number;
  avg_duration_seconds: number | null;
}

export interface HealthRow {
  date: string;
  repository: string;
  workflow: string;
  runs: number;
  successes: number;
  failures: number;
  p50: number | null;
  p95: number | null;
}

/** rpt_failures_by_branch rows with at least one failure (the panel shows failures only). */
export interface BranchFailureRow {
  date: string;
  repository: string;
  workflow: string;
  branch: string;
  runs: number;
  failures: number;
}

export interface RunnerRow {
  date: string;
  labels: string;
  runner_os: string;
  self_hosted: boolean;
  jobs: number;
  started_jobs: number;
  avg_queue_seconds: number | null;
  p95_queue_seconds: number | null;
  avg_duration_seconds: number | null;
  p95_duration_seconds: number | null;
}

export interface RunningRow {
  entity_type: string;
  run_id: number;
  job_id: number | null;
  repository: string;
  workflow: string;
  job_name: string | null;
  branch: string | null;
  status: string;
  created_at: string;
  age_seconds: number | null;
}

export interface CostRow {
  month: string;
  repository: string;
  workflow: string;
  runner_os: string;
  jobs: number;
  billable_minutes: number;
  cost_usd: number;
}

export interface PackageRow {
  week: string;
  owner: string;
  package_type: string;
  package_name: string;
  published: number;
  deleted: number;
}

export interface TopologyNode {
  id: string;
  type: string;
  label: string;
  repository: string;
  workflow: string | null;
  job: string | null;
  runs: number;
  failures: number;
  runtime_seconds: number;
}

export interface TopologyEdge {
  source: string;
  target: string;
  type: string;
  repository: string;
  workflow: string;
  runs: number;
  failures: number;
  runtime_seconds: number;
}

/**
 * rpt_workflow_dag_nodes rows of the latest workflow versions (issue 15): YAML jobs (id job:...) and workflow
 * files (workflow:... or workflow-name:... for an unresolved workflow_run source), weighted by the executions
 * mapped to them.
 */
export interface DagNodeRow {
  id: string;
  type: string;
  label: string;
  repository: string;
  workflow_path: string | null;
  blob_sha: string | null;
  workflow: string | null;
  job_id: string | null;
  executions: number;
  failures: number;
  runtime_seconds: number;
  avg_span_seconds: number | null;
  critical_path_runs: number;
}

/** rpt_workflow_dag_edges rows of the latest versions: needs, calls and workflow_run. */
export interface DagEdgeRow {
  source: string;
  target: string;
  type: string;
  repository: string;
  workflow_path: string | null;
  executions: number;
  failures: number;
  runtime_seconds: number;
  critical_path_runs: number;
}

/** rpt_critical_path_workflows rows: p50 critical path, the job most often on it, the usual path of the latest version. */
export interface CriticalPathRow {
  repository: string;
  workflow_path: string;
  workflow: string | null;
  run_attempts: number;
  p50_critical_path_seconds: number;
  p50_share_of_wall_time: number | null;
  top_job_id: string;
  top_job_rate: number;
  latest_blob_sha: string | null;
  usual_critical_path: string | null;
  usual_critical_path_runs: number | null;
}

/**
 * rpt_alerts rows: alert episodes open at some time in the 30 days before the view's reference time.
 * `state` is the dashboard's: active (pending, or firing and not acknowledged), acknowledged (firing,
 * acknowledgement still holding) or resolved; `episode_state` the stored pending/firing/resolved.
 */
export interface AlertRow {
  fingerprint: string;
  episode: number;
  rule: string;
  kind: string;
  severity: string;
  repository: string | null;
  workflow: string | null;
  branch: string | null;
  /** The whole scope as JSON text (some kinds' scopes have other keys, e.g. runner_labels). */
  scope: string;
  state: "active" | "acknowledged" | "resolved";
  episode_state: string;
  value: number;
  threshold: number;
  unit: string;
  summary: string;
  first_seen_at: string;
  fired_at: string | null;
  resolved_at: string | null;
  last_notified_at: string | null;
  acknowledged_by: string | null;
  acknowledged_until: string | null;
  duration_seconds: number;
}

/** A test's identity in rpt_flaky_tests and rpt_slowest_tests, and its executions. */
export interface TestIdentity {
  repository: string;
  workflow: string;
  leg: string;
  suite: string | null;
  classname: string | null;
  name: string;
  executions: number;
}

/**
 * rpt_flaky_tests rows (issue 14): tests that both failed and passed on one commit, or had Surefire flaky
 * failures. Identity: repository, workflow, leg (the artifact name its reports came in: one per matrix leg),
 * suite, classname, name.
 */
export interface FlakyTestRow extends TestIdentity {
  commits: number;
  flaky_commits: number;
  flake_rate: number | null;
  flaky_failures: number;
  runs_affected: number;
  first_flaky_at: string;
  last_flaky_at: string;
  rerun_minutes: number;
}

/** rpt_slowest_tests rows: durations per test over the 30 days before the view's reference time. */
export interface SlowTestRow extends TestIdentity {
  avg_duration_seconds: number;
  p95_duration_seconds: number;
  max_duration_seconds: number;
  total_duration_seconds: number;
  last_run_at: string;
}

/** rpt_test_health_daily rows: test executions per UTC day, repository and workflow. */
export interface TestHealthRow {
  date: string;
  repository: string;
  workflow: string;
  executions: number;
  passed: number;
  failed: number;
  errors: number;
  skipped: number;
  p95: number | null;
}

/** rpt_coverage_daily rows: the day's latest run's coverage per repository and branch. */
export interface CoverageRow {
  date: string;
  repository: string;
  branch: string;
  runs: number;
  latest_run_id: number;
  line_rate: number | null;
  branch_rate: number | null;
  avg_line_rate: number | null;
}

/**
 * rpt_flaky_jobs rows (issue 15): jobs (name with matrix values: one per leg) that failed and passed on a
 * later attempt of one run, with the billable minutes and cost of those failed attempts.
 */
export interface FlakyJobRow {
  repository: string;
  workflow: string;
  job_name: string;
  runs: number;
  flaky_runs: number;
  flake_rate: number;
  wasted_billable_minutes: number;
  wasted_cost_usd: number;
  last_flaky_at: string;
}

export interface ReportData {
  title: string;
  generatedAt: string;
  /** The KPI reference time ("now" of rpt_kpi_summary and rpt_running_now); null when the warehouse is empty. */
  referenceTime: string | null;
  kpis: KpiRow[];
  kpiDaily: KpiDailyRow[];
  health: HealthRow[];
  branchFailures: BranchFailureRow[];
  runners: RunnerRow[];
  running: RunningRow[];
  /** Rows of rpt_running_now before the report's cap on `running`. */
  runningTotal: number;
  cost: CostRow[];
  packages: PackageRow[];
  nodes: TopologyNode[];
  edges: TopologyEdge[];
  /** The workflow DAG (issue 15): latest versions' nodes and edges, and critical paths per workflow; empty until workflow files are extracted. */
  dagNodes: DagNodeRow[];
  dagEdges: DagEdgeRow[];
  criticalPaths: CriticalPathRow[];
  /** rpt_alerts (the alerts panel); empty until `alerts evaluate` has recorded an episode. */
  alerts: AlertRow[];
  /** The tests page (issue 14): empty until --test-artifacts has loaded JUnit or coverage reports. */
  flakyTests: FlakyTestRow[];
  slowestTests: SlowTestRow[];
  testHealth: TestHealthRow[];
  coverage: CoverageRow[];
  /** rpt_flaky_jobs (issue 15): the flaky jobs that wasted most, capped at FLAKY_JOBS_LIMIT. */
  flakyJobs: FlakyJobRow[];
}

/** The panels every report has, in page order; the browser test checks each renders with data. */
export const PANELS = [
  { id: "kpis", title: "Headline KPIs" },
  { id: "pass-rate", title: "Pass rate by workflow" },
  { id: "duration", title: "Run duration p50 / p95" },
  { id: "branch-failures", title: "Failures by branch" },
  { id: "runners", title: "Queue latency and job duration by runner label" },
  { id: "running", title: "Running and queued now" },
  { id: "cost-month", title: "Estimated cost by month and runner" },
  { id: "cost-repo", title: "Estimated cost by repository" },
  { id: "packages", title: "Package publish frequency" },
  { id: "topology", title: "Workflow topology" },
] as const;

export type PanelId = (typeof PANELS)[number]["id"];
