/**
 * The one definition of a flaky job run, shared by the `flaky_rate` alert (alerts/evaluate.ts) and the
 * reporting model of flaky jobs (definitions/reporting/rpt_flaky_jobs.sqlx, issue 15): in a SQLX file,
 *   ${flaky_jobs.flakyJobRunsSql({ jobs: ref("fct_workflow_jobs"), runs: ref("fct_workflow_runs"),
 *      failures: constants.sqlList(constants.FAILURE_CONCLUSIONS) })}
 *
 * One row per (run, job name) among completed jobs: the run is flaky for the job when an attempt of the
 * job failed and a later attempt of the same run passed (success). A re-run attempt keeps the run id and
 * its head_sha, so "the same run" is "the same commit". A job is its name with the matrix values GitHub
 * appends ("test (ubuntu-latest, 3.12)"), so each matrix leg is a job of its own.
 * Columns:
 *   repository, workflow, job_name, run_id
 *   head_sha, run_created_at        the commit and creation time of the run (every attempt shares them)
 *   first_failed_attempt            the earliest attempt in which the job failed (NULL if none)
 *   last_passed_attempt             the latest attempt in which the job passed (NULL if none)
 *   flaky                           1 when first_failed_attempt < last_passed_attempt, else 0
 *   failed_billable_minutes         fct_workflow_jobs.billable_minutes summed over the job's failed attempts
 *                                   in the run (each job already rounded up to the whole minute; 0 if none)
 *   failed_cost_usd                 fct_workflow_jobs.estimated_cost_usd summed over the same jobs (a job
 *                                   without a known rate adds nothing; 0 if none)
 *   last_failed_at                  the latest completed_at of those failed jobs (NULL if none)
 * The failed_* columns count every failed attempt of the job in the run; they are the minutes a flaky run
 * wasted when flaky = 1 (on a commit where the job passes, each failed attempt was a re-run's cause).
 *
 * `where` filters the jobs read, over fct_workflow_jobs `j` and the latest attempt of its run in
 * fct_workflow_runs `r` (e.g. a window on r.created_at); default every job.
 */
function flakyJobRunsSql({ jobs, runs, failures, where }) {
  return `SELECT repository, workflow, job_name, run_id, head_sha, run_created_at, first_failed_attempt, last_passed_attempt,
            CASE WHEN first_failed_attempt < last_passed_attempt THEN 1 ELSE 0 END AS flaky,
            failed_billable_minutes, failed_cost_usd, last_failed_at
       FROM (
         SELECT j.repository, COALESCE(j.workflow_name, '(unknown)') AS workflow, j.job_name, j.run_id,
                r.head_sha, r.created_at AS run_created_at,
                MIN(CASE WHEN j.conclusion IN (${failures}) THEN j.run_attempt END) AS first_failed_attempt,
                MAX(CASE WHEN j.conclusion = 'success' THEN j.run_attempt END) AS last_passed_attempt,
                SUM(CASE WHEN j.conclusion IN (${failures}) THEN j.billable_minutes ELSE 0 END) AS failed_billable_minutes,
                COALESCE(SUM(CASE WHEN j.conclusion IN (${failures}) THEN j.estimated_cost_usd END), 0) AS failed_cost_usd,
                MAX(CASE WHEN j.conclusion IN (${failures}) THEN j.completed_at END) AS last_failed_at
           FROM ${jobs} AS j
           JOIN ${runs} AS r ON r.run_id = j.run_id AND r.is_latest_attempt
          WHERE j.status = 'completed' AND (${where || "TRUE"})
          GROUP BY j.repository, COALESCE(j.workflow_name, '(unknown)'), j.job_name, j.run_id, r.head_sha, r.created_at
       ) AS per_run`;
}

module.exports = { flakyJobRunsSql };
