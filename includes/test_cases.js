/**
 * Test analytics (issue 14): the statuses of a test case execution and the rule that maps a JUnit report
 * to the job of its run that produced it. One definition, called by fct_test_cases (and by anything else
 * that needs the same mapping), like includes/flaky_jobs.js for flaky job runs.
 *
 * Job mapping. An artifact is uploaded by a job, but the artifact API does not say which one; the name
 * (and the report's path inside the zip) is all there is. Matrix legs must upload distinct artifact
 * names (upload-artifact v4 rejects duplicates in a run), so teams put the matrix values in the name
 * (`junit-${{ matrix.os }}-${{ matrix.python }}`, `junit-ubuntu`) or the job name (`junit-unit-tests`).
 * Among the jobs of the same run attempt, a job scores, case-insensitively and with spaces and
 * underscores read as '-' on both sides, in `artifact_name || '/' || report_path`:
 *   - for each of its matrix values (`base (v1, v2, ...)`, the first MATRIX_VALUES of them, a runner
 *     label's `-latest` dropped: `ubuntu-latest` is matched as `ubuntu`) found as a substring, its length;
 *   - plus the length of its name without the matrix suffix when that is a substring.
 * The job with the highest score above 0 wins; a tie between different job names, no match, or an
 * unknown run_attempt maps to no job (NULL), never a guess. Longer matches win, so `3.11` beats `3.1`
 * and the leg whose values all appear beats one that shares only some.
 */

/** Statuses of a test case execution (the raw test_cases.status values). */
const TEST_STATUSES = ["passed", "failed", "error", "skipped"];

/** Statuses that count as the test failing (pass rates, flaky detection). */
const TEST_FAILURE_STATUSES = ["failed", "error"];

/** How many matrix values of a job name the mapping compares (a job's further values are ignored). */
const MATRIX_VALUES = 8;

/** The normalised form both sides are compared in: lower case, spaces and underscores as '-'. */
function normalizeSql(expr) {
  return `REPLACE(REPLACE(LOWER(${expr}), ' ', '-'), '_', '-')`;
}

/** The job name without its matrix suffix, normalised: `Unit tests (ubuntu-latest, 3.11)` -> `unit-tests`. */
function jobBaseSql(jobName) {
  return normalizeSql(`SPLIT(${jobName}, ' (')[SAFE_OFFSET(0)]`);
}

/** The matrix values of a job name as text, `ubuntu-latest, 3.11`; NULL for a job without a matrix suffix. */
function jobMatrixSql(jobName) {
  return `REPLACE(SPLIT(${jobName}, ' (')[SAFE_OFFSET(1)], ')', '')`;
}

/** Columns matrix_value_0 .. matrix_value_{MATRIX_VALUES-1}: each normalised value of `matrix`, NULL past the last. */
function matrixValueColumnsSql(matrix) {
  return Array.from({ length: MATRIX_VALUES }, (_, i) => `REPLACE(${normalizeSql(`SPLIT(${matrix}, ', ')[SAFE_OFFSET(${i})]`)}, '-latest', '') AS matrix_value_${i}`).join(",\n    ");
}

/**
 * The match score of a job for a report (0 when the job does not match), over the columns `base` and
 * matrix_value_i (from jobBaseSql and matrixValueColumnsSql) and `haystack` (normalised
 * artifact_name || '/' || report_path).
 */
function jobMatchScoreSql(haystack) {
  const values = Array.from({ length: MATRIX_VALUES }, (_, i) => `matrix_value_${i}`);
  const matched = values.map((v) => `CASE WHEN ${v} IS NOT NULL AND ${v} != '' AND STRPOS(${haystack}, ${v}) > 0 THEN LENGTH(${v}) ELSE 0 END`).join("\n      + ");
  return `CASE WHEN base != '' AND STRPOS(${haystack}, base) > 0 THEN LENGTH(base) ELSE 0 END
      + ${matched}`;
}

module.exports = {
  TEST_STATUSES,
  TEST_FAILURE_STATUSES,
  MATRIX_VALUES,
  normalizeSql,
  jobBaseSql,
  jobMatrixSql,
  matrixValueColumnsSql,
  jobMatchScoreSql,
};
