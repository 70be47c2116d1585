/**
 * Constants shared by the models. Analysts edit these, not the SQLX.
 *
 * Accepted values follow the GitHub REST API docs for workflow runs, jobs and steps.
 */

/** Run/job/step statuses the API documents. */
const RUN_STATUSES = ["queued", "in_progress", "completed", "waiting", "requested", "pending", "action_required"];

/** Conclusions of a completed run, job or step (NULL until completed). */
const CONCLUSIONS = [
  "success", "failure", "cancelled", "skipped", "timed_out",
  "action_required", "neutral", "stale", "startup_failure",
];

/** Conclusions that count as a failure in pass rates and failure counts. */
const FAILURE_CONCLUSIONS = ["failure", "timed_out", "startup_failure"];

/** Statuses of a run or job that has not finished yet (rpt_running_now). */
const NOT_FINISHED_STATUSES = ["queued", "in_progress", "waiting", "requested", "pending"];

/**
 * How far along its lifecycle a run, job or step status is, as a SQL expression: completed 3,
 * in_progress 2, anything else (queued, waiting, requested, pending) 1. Staging models keep the version
 * furthest along, so an out-of-order webhook (in_progress after completed) never undoes a completion.
 */
function lifecycleRankSql(column) {
  return `CASE WHEN LOWER(${column}) = 'completed' THEN 3 WHEN LOWER(${column}) = 'in_progress' THEN 2 ELSE 1 END`;
}

/** Package types the packages API knows. */
const PACKAGE_TYPES = ["npm", "maven", "rubygems", "docker", "nuget", "container"];

/** Renders a JS string list as a SQL IN-list of string literals. */
function sqlList(values) {
  return values.map((v) => `'${String(v).replace(/'/g, "\\'")}'`).join(", ");
}

module.exports = {
  RUN_STATUSES,
  CONCLUSIONS,
  FAILURE_CONCLUSIONS,
  NOT_FINISHED_STATUSES,
  PACKAGE_TYPES,
  sqlList,
  lifecycleRankSql,
};
