/**
 * The workflow graph (issue 15): how a job execution (the name the jobs API shows) maps to the YAML job it
 * executes, and how the critical path of a run attempt is measured. One definition, used by
 * fct_workflow_job_mapping (the mapping), rpt_critical_path and rpt_workflow_dag_nodes / _edges
 * (node spans). docs/workflow-graph.md explains the rule with examples.
 *
 * Mapping rule. GitHub names a job execution after the job's display name (its `name:`, else its YAML id):
 *   - a matrix job runs as `<display> (<v1>, <v2>, ...)`, unless the name holds an expression
 *     (`name: test ${{ matrix.os }}`), which GitHub evaluates and then appends nothing;
 *   - a job calling a reusable workflow (`uses:`) runs as `<caller display> / <called job execution>`.
 * An execution name N is compared with every job of the workflow version the run used (its run's
 * (repository, workflow_path, head_sha) -> workflow_definition_refs -> blob_sha). A job with display D scores
 *   3 (exact)       N = D;
 *   2 (matrix)      N = D || ' (' ... ')': N starts with D followed by ' (' and ends with ')';
 *   1 (expression)  D holds `${{`, and N starts with D's literal text before the first `${{` (its prefix,
 *                   possibly empty: a name that is all expression matches any execution, weakly);
 * ranked by score, then by the length of what matched (D, or the prefix). Caller jobs (with `uses:`) are
 * also compared on N's text before the first ' / ' (the caller part); the text after it (the called part)
 * is then mapped the same way against the jobs of the called workflow's version (the run's
 * referenced_workflows sha -> workflow_definition_refs -> blob_sha; a local `./` call without a listed
 * reference reads the run's head_sha). One level of nesting is resolved: a called part that itself holds
 * ' / ' maps to the called workflow's caller job. The best candidate wins; two different jobs tying at
 * the top is ambiguous and maps to nothing, never a guess. Executions that map to nothing are kept, with
 * mapping_status saying why (no definition extracted, invalid file, no match, ambiguous).
 */

/** The opening of a GitHub expression, written here so that SQLX never sees `${` in a string. */
const EXPRESSION_OPEN = "$" + "{{";

/** Separator of a reusable workflow's caller and called job names in an execution name. */
const CALL_SEPARATOR = " / ";

/** Separator of the job ids in a critical path (YAML job ids hold no spaces). */
const PATH_SEPARATOR = " > ";

/** Longest chain the critical path recursion follows (GitHub allows 256 jobs per workflow, chains are far shorter). */
const MAX_PATH_DEPTH = 64;

/** Match kinds, by score. */
const MATCH_KINDS = { 3: "exact", 2: "matrix", 1: "expression" };

/** Values of fct_workflow_job_mapping.mapping_status. */
const MAPPING_STATUSES = [
  "mapped",
  "mapped_caller_only",
  "unmapped_no_definition",
  "unmapped_invalid_definition",
  "unmapped_no_match",
  "unmapped_ambiguous",
];

/** The literal text of a display name before its first expression ('' when it starts with one). */
function literalPrefixSql(display) {
  return `SPLIT(${display}, '${EXPRESSION_OPEN}')[SAFE_OFFSET(0)]`;
}

/** Whether a display name holds an expression. */
function hasExpressionSql(display) {
  return `STRPOS(${display}, '${EXPRESSION_OPEN}') > 0`;
}

/** The caller part of an execution name (before the first ' / '), NULL when it has none. */
function callerPartSql(name) {
  return `CASE WHEN STRPOS(${name}, '${CALL_SEPARATOR}') > 0 THEN SUBSTR(${name}, 1, STRPOS(${name}, '${CALL_SEPARATOR}') - 1) END`;
}

/** The called part of an execution name (after the first ' / '), NULL when it has none. */
function calledPartSql(name) {
  return `CASE WHEN STRPOS(${name}, '${CALL_SEPARATOR}') > 0 THEN SUBSTR(${name}, STRPOS(${name}, '${CALL_SEPARATOR}') + ${CALL_SEPARATOR.length}) END`;
}

/**
 * Score of display name `display` (with literal prefix `prefix`, literalPrefixSql) for execution name
 * `name`: 3 exact, 2 matrix, 1 expression, 0 none. (The prefix is a column, not SPLIT(...)[SAFE_OFFSET(0)]
 * inline: polyglot leaves a subscript inside STARTS_WITH untranslated for DuckDB.)
 */
function matchScoreSql(name, display, prefix) {
  return `CASE
      WHEN ${name} = ${display} THEN 3
      WHEN STARTS_WITH(${name}, ${display} || ' (') AND SUBSTR(${name}, LENGTH(${name})) = ')' THEN 2
      WHEN ${hasExpressionSql(display)} AND STARTS_WITH(${name}, ${prefix}) THEN 1
      ELSE 0
    END`;
}

/** How much of the name the match pinned down: the display name, or its literal prefix for expressions. */
function matchSpecificitySql(name, display, prefix) {
  return `CASE WHEN ${name} = ${display} OR NOT (${hasExpressionSql(display)}) THEN LENGTH(${display}) ELSE LENGTH(${prefix}) END`;
}

/** SQL CASE naming the match kind of a score column. */
function matchKindSql(score) {
  return `CASE ${Object.entries(MATCH_KINDS).map(([s, k]) => `WHEN ${score} = ${s} THEN '${k}'`).join(" ")} END`;
}

/**
 * Candidate rows (one per execution and YAML job that matches) for executions `e` of the CTE `executions`
 * (columns key, name, caller_part (callerPartSql of name), repository, workflow_path, blob_sha) against the
 * jobs of stg_workflow_definition_jobs `d` of the same version: full-name matches against every job,
 * caller-part matches against caller jobs.
 * Columns: key, yaml_job_id, uses, called_repository, called_path, score, specificity, via_caller.
 */
function candidatesSql({ executions, jobs }) {
  const join = `FROM ${executions} AS e
      JOIN ${jobs} AS d ON d.repository = e.repository AND d.workflow_path = e.workflow_path AND d.blob_sha = e.blob_sha`;
  const cols = (name) => `e.key, d.job_id AS yaml_job_id, d.uses, d.called_repository, d.called_path,
        ${matchScoreSql(name, "d.display_name", "d.literal_prefix")} AS score, ${matchSpecificitySql(name, "d.display_name", "d.literal_prefix")} AS specificity`;
  return `SELECT ${cols("e.name")}, FALSE AS via_caller
      ${join}
    UNION ALL
    SELECT ${cols("e.caller_part")}, TRUE AS via_caller
      ${join}
      WHERE d.uses IS NOT NULL AND e.caller_part IS NOT NULL`;
}

/**
 * The best candidate per key from a candidates CTE: rank 1 by score then specificity, with `ties`, the
 * number of different jobs sharing that rank (more than 1: ambiguous).
 */
function bestCandidateSql(candidates) {
  return `SELECT * FROM (
      SELECT
        c.*,
        ROW_NUMBER() OVER (PARTITION BY c.key ORDER BY c.score DESC, c.specificity DESC, c.yaml_job_id) AS candidate_rank,
        COUNT(*) OVER (PARTITION BY c.key, c.score, c.specificity) AS ties
      FROM ${candidates} AS c
      WHERE c.score > 0
    ) AS ranked
    WHERE candidate_rank = 1`;
}

/**
 * A job node's span in one run attempt, over the executions mapped to it (matrix legs, the called jobs of
 * a reusable workflow caller): from the first execution's start to the last one's end, whole seconds.
 * Only executions that ran (has_started, completed with a duration) count. Columns: the group columns,
 * node_started_at, node_completed_at, span_seconds, executions, failures.
 */
function nodeSpansSql({ mapping, groupBy, jobColumn, where, failures }) {
  const keys = groupBy.join(", ");
  return `SELECT ${keys}, ${jobColumn} AS node_job_id,
        MIN(started_at) AS node_started_at,
        MAX(completed_at) AS node_completed_at,
        TIMESTAMP_DIFF(MAX(completed_at), MIN(started_at), SECOND) AS span_seconds,
        COUNT(*) AS executions,
        COUNTIF(conclusion IN (${failures})) AS failures
      FROM ${mapping}
      WHERE ${jobColumn} IS NOT NULL AND has_started AND duration_seconds IS NOT NULL AND (${where || "TRUE"})
      GROUP BY ${keys}, ${jobColumn}`;
}

/** Parses a reusable workflow reference (`owner/repo/path@ref` or `./path`): the called repository. */
function calledRepositorySql(uses, callerRepository) {
  return `CASE
      WHEN STARTS_WITH(${uses}, './') THEN ${callerRepository}
      WHEN ${uses} IS NOT NULL THEN SPLIT(${uses}, '/')[SAFE_OFFSET(0)] || '/' || SPLIT(${uses}, '/')[SAFE_OFFSET(1)]
    END`;
}

/** Parses a reusable workflow reference: the called file's path in its repository, without `@ref`. */
function calledPathSql(uses) {
  const bare = `SPLIT(${uses}, '@')[SAFE_OFFSET(0)]`;
  return `CASE
      WHEN STARTS_WITH(${uses}, './') THEN SUBSTR(${bare}, 3)
      WHEN ${uses} IS NOT NULL THEN SUBSTR(${bare}, LENGTH(SPLIT(${uses}, '/')[SAFE_OFFSET(0)] || '/' || SPLIT(${uses}, '/')[SAFE_OFFSET(1)]) + 2)
    END`;
}

/** Whether `pathExpr` (a critical path text) contains the consecutive pair from > to. */
function pathHasEdgeSql(pathExpr, from, to) {
  return `STRPOS('${PATH_SEPARATOR}' || ${pathExpr} || '${PATH_SEPARATOR}', '${PATH_SEPARATOR}' || ${from} || '${PATH_SEPARATOR}' || ${to} || '${PATH_SEPARATOR}') > 0`;
}

/** Whether `pathExpr` contains the job id `job`. */
function pathHasJobSql(pathExpr, job) {
  return `STRPOS('${PATH_SEPARATOR}' || ${pathExpr} || '${PATH_SEPARATOR}', '${PATH_SEPARATOR}' || ${job} || '${PATH_SEPARATOR}') > 0`;
}

/** node_id of a job node of a workflow version, and of a workflow node. */
function jobNodeIdSql(repository, path, blob, job) {
  return `'job:' || ${repository} || '/' || ${path} || '@' || ${blob} || '#' || ${job}`;
}
function workflowNodeIdSql(repository, path) {
  return `'workflow:' || ${repository} || '/' || ${path}`;
}

/**
 * workflow_run triggers resolved to workflows: one row per (repository, workflow_path, blob_sha) of a
 * version with `on: workflow_run` and per name it lists, with the source workflow's path when a workflow of
 * the same repository has that name (stg_workflows.workflow_name, or the name: of its latest extracted
 * version, or its path: GitHub shows the path of a workflow without a name); source_path NULL when none
 * does. A name two workflows share resolves to both (GitHub triggers on either).
 * Columns: repository, workflow_path, blob_sha, source_name, source_path.
 */
function workflowRunSourcesSql({ definitions, workflows, versions }) {
  return `SELECT DISTINCT s.repository, s.workflow_path, s.blob_sha, s.source_name, k.workflow_path AS source_path
      FROM (
        SELECT d.repository, d.workflow_path, d.blob_sha, source_name
        FROM ${definitions} AS d, UNNEST(d.workflow_run_sources) AS source_name
        WHERE d.valid
      ) AS s
      LEFT JOIN (
        SELECT w.repository, w.workflow_name, w.workflow_path FROM ${workflows} AS w WHERE w.workflow_name IS NOT NULL
        UNION ALL
        SELECT v.repository, v.workflow_name, v.workflow_path FROM ${versions} AS v WHERE v.is_latest_version
        UNION ALL
        SELECT p.repository, p.workflow_path, p.workflow_path FROM ${versions} AS p WHERE p.is_latest_version
      ) AS k ON k.repository = s.repository AND k.workflow_name = s.source_name`;
}

/** node_id of a workflow_run source whose name no workflow of the repository has. */
function unresolvedWorkflowNodeIdSql(repository, name) {
  return `'workflow-name:' || ${repository} || '/' || ${name}`;
}

module.exports = {
  EXPRESSION_OPEN,
  CALL_SEPARATOR,
  PATH_SEPARATOR,
  MAX_PATH_DEPTH,
  MATCH_KINDS,
  MAPPING_STATUSES,
  literalPrefixSql,
  hasExpressionSql,
  callerPartSql,
  calledPartSql,
  matchScoreSql,
  matchSpecificitySql,
  matchKindSql,
  candidatesSql,
  bestCandidateSql,
  nodeSpansSql,
  calledRepositorySql,
  calledPathSql,
  pathHasEdgeSql,
  pathHasJobSql,
  jobNodeIdSql,
  workflowNodeIdSql,
  workflowRunSourcesSql,
  unresolvedWorkflowNodeIdSql,
};
