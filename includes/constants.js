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
};
