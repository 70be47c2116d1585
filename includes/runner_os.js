/**
 * Runner OS from the labels a job requested (runs-on).
 *
 * Rules are tried in order; a job gets the OS of the first rule any of its labels matches
 * (case-insensitive): a label equal to one of `exact` or starting with one of `prefixes`.
 * GitHub-hosted images: ubuntu-*, windows-*, macos-*; self-hosted runners carry the generic OS labels
 * linux / windows / macos. Jobs matching no rule get 'Unknown'.
 */
const RUNNER_OS_RULES = [
  { runner_os: "Linux", exact: ["linux", "ubuntu-latest"], prefixes: ["ubuntu-"] },
  { runner_os: "Windows", exact: ["windows", "windows-latest"], prefixes: ["windows-"] },
  { runner_os: "macOS", exact: ["macos", "macos-latest"], prefixes: ["macos-"] },
];

const UNKNOWN_RUNNER_OS = "Unknown";
const RUNNER_OS_VALUES = RUNNER_OS_RULES.map((r) => r.runner_os).concat([UNKNOWN_RUNNER_OS]);

/** The label every self-hosted runner has. */
const SELF_HOSTED_LABEL = "self-hosted";

function labelMatches(labelsExpr, condition) {
  return `EXISTS (SELECT 1 FROM UNNEST(${labelsExpr}) AS label WHERE ${condition})`;
}

/** CASE expression mapping a labels ARRAY<STRING> expression to the runner OS. */
function runnerOsSql(labelsExpr) {
  const whens = RUNNER_OS_RULES.map((rule) => {
    const parts = [`LOWER(label) IN (${rule.exact.map((e) => `'${e}'`).join(", ")})`].concat(
      rule.prefixes.map((p) => `STARTS_WITH(LOWER(label), '${p}')`),
    );
    return `WHEN ${labelMatches(labelsExpr, parts.join(" OR "))} THEN '${rule.runner_os}'`;
  });
  return `CASE ${whens.join(" ")} ELSE '${UNKNOWN_RUNNER_OS}' END`;
}

/** Boolean expression: the labels contain `self-hosted`. */
function isSelfHostedSql(labelsExpr) {
  return `COALESCE(${labelMatches(labelsExpr, `LOWER(label) = '${SELF_HOSTED_LABEL}'`)}, FALSE)`;
}

module.exports = { RUNNER_OS_RULES, RUNNER_OS_VALUES, UNKNOWN_RUNNER_OS, SELF_HOSTED_LABEL, runnerOsSql, isSelfHostedSql };
