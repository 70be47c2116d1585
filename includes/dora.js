/**
 * DORA settings (issue 15; definitions in docs/metrics.md). Analysts edit these, not the SQLX; after an
 * edit, rebuild fct_deployments (a table) and the DORA views follow.
 */

/**
 * Workflow-based deployments, for repositories with no deployment in the Deployments API (as Apache
 * DevLake's `deploymentPattern`): a completed job whose name matches this RE2 regex (REGEXP_CONTAINS, a
 * substring match; `(?i)` makes it case-insensitive) is a deployment. Matched against the job name, not
 * the workflow name: a "Deploy" workflow's build job is not a deployment, its "deploy" job is.
 */
const DEPLOY_JOB_REGEX = "(?i)deploy";

/**
 * Which workflow-based deployments go to production (DevLake's `productionPattern`), matched against
 * "<workflow name> / <job name>". Empty: every workflow-based deployment is a production one, which is
 * what DevLake does when no production pattern is configured.
 */
const PRODUCTION_REGEX = "";

/**
 * Change failure window: a successful production deployment counts as a change failure when the next
 * deployment of the same environment is a rollback (it redeploys an earlier SHA) or a hotfix (its ref,
 * or for workflow deployments its branch, matches HOTFIX_REF_REGEX) created within this many hours of
 * its finish.
 */
const FAILURE_WINDOW_HOURS = 24;

/** Refs (branches) of hotfix deployments. */
const HOTFIX_REF_REGEX = "(?i)hotfix";

/** Final states of a finished deployment: success, or a failure (failure, error) in change failure rate. */
const FINISHED_STATES = ["success", "failure", "error"];
const FAILED_STATES = ["failure", "error"];

/** Deployment status states the API documents (docs.github.com/en/rest/deployments/statuses). */
const STATUS_STATES = ["error", "failure", "inactive", "in_progress", "queued", "pending", "success"];

/** A SQL string literal for a regex (RE2 syntax, single quotes and backslashes escaped). */
function regexLiteral(re) {
  return `'${String(re).replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/**
 * The DORA figures of production deployments per period and repository, shared by rpt_dora_weekly and
 * rpt_dora_monthly. `period(col)` turns a TIMESTAMP column into the period's first day (a DATE).
 *
 * Rows: every period, between a repository's first and last period with a finished production
 * deployment, in which the repository shows any activity the warehouse sees (a deployment to any
 * environment, or a workflow run): a quiet period is a row with zero deployments, so medians over weeks
 * count it. A period with no activity at all has no row (SQL has no calendar here).
 * Figures are attributed to the period of the instant they happened: deployments and failures by
 * finished_at, changes by deployed_at (their deployment's finished_at).
 */
function periodMetricsSql({ deployments, leadTimes, runs, period }) {
  return `WITH prod AS (
  SELECT * FROM ${deployments} WHERE is_production AND finished_at IS NOT NULL
),
bounds AS (
  SELECT repository, MIN(${period("finished_at")}) AS first_period, MAX(${period("finished_at")}) AS last_period
  FROM prod
  GROUP BY repository
),
every_deployment AS (
  SELECT created_at, repository FROM ${deployments}
),
every_run AS (
  SELECT created_at, repository FROM ${runs}
),
activity AS (
  SELECT ${period("created_at")} AS period_start, repository FROM every_deployment
  UNION ALL
  SELECT ${period("finished_at")} AS period_start, repository FROM prod
  UNION ALL
  SELECT ${period("created_at")} AS period_start, repository FROM every_run
),
spine AS (
  SELECT DISTINCT a.period_start, a.repository
  FROM activity a
  JOIN bounds b ON b.repository = a.repository
  WHERE a.period_start >= b.first_period AND a.period_start <= b.last_period
),
deploys AS (
  SELECT
    ${period("finished_at")} AS period_start,
    repository,
    COUNT(*) AS deployments,
    COUNTIF(final_state = 'success') AS successful_deployments,
    COUNT(DISTINCT CASE WHEN final_state = 'success' THEN DATE(finished_at) END) AS deploy_days,
    COUNTIF(is_change_failure) AS change_failures
  FROM prod
  GROUP BY period_start, repository
),
leads AS (
  SELECT period_start, repository, COUNT(*) AS changes_deployed, ANY_VALUE(p50) AS median_lead_time_seconds
  FROM (
    SELECT
      ${period("deployed_at")} AS period_start,
      repository,
      PERCENTILE_CONT(lead_time_seconds, 0.5) OVER (PARTITION BY ${period("deployed_at")}, repository) AS p50
    FROM ${leadTimes}
    WHERE is_production
  )
  GROUP BY period_start, repository
),
restores AS (
  SELECT period_start, repository, COUNT(*) AS failures_started, COUNTIF(ttr IS NOT NULL) AS failures_restored, ANY_VALUE(p50) AS median_time_to_restore_seconds
  FROM (
    SELECT
      ${period("finished_at")} AS period_start,
      repository,
      time_to_restore_seconds AS ttr,
      PERCENTILE_CONT(time_to_restore_seconds, 0.5) OVER (PARTITION BY ${period("finished_at")}, repository) AS p50
    FROM prod
    WHERE starts_failure
  )
  GROUP BY period_start, repository
)
SELECT
  s.period_start,
  s.repository,
  COALESCE(d.deployments, 0) AS deployments,
  COALESCE(d.successful_deployments, 0) AS successful_deployments,
  COALESCE(d.deploy_days, 0) AS deploy_days,
  COALESCE(d.change_failures, 0) AS change_failures,
  d.change_failures / NULLIF(d.deployments, 0) AS change_failure_rate,
  COALESCE(l.changes_deployed, 0) AS changes_deployed,
  l.median_lead_time_seconds,
  COALESCE(r.failures_started, 0) AS failures_started,
  COALESCE(r.failures_restored, 0) AS failures_restored,
  r.median_time_to_restore_seconds
FROM spine s
LEFT JOIN deploys d ON d.period_start = s.period_start AND d.repository = s.repository
LEFT JOIN leads l ON l.period_start = s.period_start AND l.repository = s.repository
LEFT JOIN restores r ON r.period_start = s.period_start AND r.repository = s.repository`;
}

module.exports = {
  periodMetricsSql,
  DEPLOY_JOB_REGEX,
  PRODUCTION_REGEX,
  FAILURE_WINDOW_HOURS,
  HOTFIX_REF_REGEX,
  FINISHED_STATES,
  FAILED_STATES,
  STATUS_STATES,
  regexLiteral,
};
