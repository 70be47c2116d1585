/**
 * The one definition of a flaky job run, shared by the `flaky_rate` alert (alerts/evaluate.ts) and the
 * reporting model of flaky jobs (rpt_flaky_jobs, issue 15): in a SQLX file,
 *   ${flaky_jobs.flakyJobRunsSql({ jobs: ref("fct_workflow_jobs"), runs: ref("fct_workflow_runs"),
 *      failures: constants.sqlList(constants.FAILURE_CONCLUSIONS) })}
 *
 * One row per (run, job name) among completed jobs: the run is flaky for the job when an attempt of the
 * job failed and a later attempt of the same run passed (success). A re-run attempt keeps the run id and
 * its head_sha, so "the same run" is "the same commit".
 * Columns: repository, workflow, job_name, run_id, first_failed_attempt, last_passed_attempt, flaky (1/0).
 *
 * `where` filters the jobs read, over fct_workflow_jobs `j` and the latest attempt of its run in
 * fct_workflow_runs `r` (e.g. a window on r.created_at); default every job.
 */
function flakyJobRunsSql({ jobs, runs, failures, where }) {
  return `SELECT repository, workflow, job_name, run_id, first_failed_attempt, last_passed_attempt,
            CASE WHEN first_failed_attempt < last_passed_attempt THEN 1 ELSE 0 END AS flaky
       FROM (
         SELECT j.repository, COALESCE(j.workflow_name, '(unknown)') AS workflow, j.job_name, j.run_id,
                MIN(CASE WHEN j.conclusion IN (${failures}) THEN j.run_attempt END) AS first_failed_attempt,
                MAX(CASE WHEN j.conclusion = 'success' THEN j.run_attempt END) AS last_passed_attempt
           FROM ${jobs} AS j
           JOIN ${runs} AS r ON r.run_id = j.run_id AND r.is_latest_attempt
          WHERE j.status = 'completed' AND (${where || "TRUE"})
          GROUP BY j.repository, COALESCE(j.workflow_name, '(unknown)'), j.job_name, j.run_id
       ) AS per_run`;
}

module.exports = { flakyJobRunsSql };
