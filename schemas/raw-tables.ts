/**
 * The raw tables: one per GitHub entity, loaded append-only from NDJSON batches.
 *
 * A raw row holds typed columns for every field the models read, the complete API object as `payload`
 * (so nothing GitHub sent is lost and analysts can reach fields the models do not use), and two lineage
 * columns. Rows are never updated in place: a re-extracted entity appears again with a later
 * `_extracted_at`, and the staging models keep the newest version of each key.
 */
import { z } from "zod";
import { col, columnMeta, duckdbType, type ColumnMeta } from "./columns.js";

const lineage = {
  _batch_id: col.string("Identifier of the NDJSON batch file this row was loaded from."),
  _extracted_at: col.timestamp("When the extractor received this record from the GitHub API (UTC)."),
};

export const rawTables = {
  workflows: {
    description: "Workflow definitions of each repository (GET /repos/{owner}/{repo}/actions/workflows).",
    key: ["workflow_id"],
    partitionBy: "_extracted_at",
    clusterBy: ["repository"],
    schema: z.object({
      repository: col.string("Repository full name, owner/name."),
      workflow_id: col.int("Workflow id."),
      name: col.string("Workflow name."),
      path: col.string("Path of the workflow file, e.g. .github/workflows/ci.yml."),
      state: col.string("active, deleted, disabled_fork, disabled_inactivity or disabled_manually."),
      created_at: col.timestamp("When the workflow was created (UTC)."),
      updated_at: col.timestamp("When the workflow was last updated (UTC)."),
      payload: col.json("The workflow object exactly as the API returned it."),
      ...lineage,
    }),
  },
  workflow_runs: {
    description: "Every attempt of every workflow run: the latest from the runs list, earlier ones from /runs/{id}/attempts/{n}.",
    key: ["run_id", "run_attempt"],
    partitionBy: "created_at",
    clusterBy: ["repository"],
    schema: z.object({
      repository: col.string("Repository full name, owner/name."),
      run_id: col.int("Workflow run id; the same for every attempt of a run."),
      run_attempt: col.int("Attempt number, 1 for the first attempt."),
      workflow_id: col.int("Workflow id."),
      workflow_name: col.stringOrNull("Workflow name at the time of the run."),
      workflow_path: col.stringOrNull("Workflow file path."),
      event: col.string("Event that triggered the run, e.g. push, pull_request, schedule."),
      head_branch: col.stringOrNull("Branch the run ran on."),
      head_sha: col.string("Commit SHA the run ran on."),
      actor_login: col.stringOrNull("Login of the user whose action started the run (actor)."),
      status: col.string("queued, in_progress, completed, waiting, requested or pending."),
      conclusion: col.stringOrNull("success, failure, cancelled, skipped, timed_out, action_required, neutral, stale; null until completed."),
      created_at: col.timestamp("When the run was created (UTC); identical for every attempt."),
      run_started_at: col.timestampOrNull("When this attempt started (UTC)."),
      updated_at: col.timestamp("When this attempt was last updated (UTC)."),
      html_url: col.string("Link to the run on GitHub."),
      payload: col.json("The run (or attempt) object exactly as the API returned it."),
      ...lineage,
    }),
  },
  workflow_jobs: {
    description: "Every job of every run attempt (GET /runs/{id}/jobs?filter=all).",
    key: ["job_id"],
    partitionBy: "created_at",
    clusterBy: ["repository"],
    schema: z.object({
      repository: col.string("Repository full name, owner/name."),
      job_id: col.int("Job id, unique across attempts."),
      run_id: col.int("Workflow run id."),
      run_attempt: col.int("Attempt of the run this job belongs to."),
      workflow_name: col.stringOrNull("Workflow name."),
      job_name: col.string("Job name, including the matrix values for matrix jobs."),
      head_branch: col.stringOrNull("Branch the run ran on."),
      status: col.string("queued, in_progress, completed, waiting, requested or pending."),
      conclusion: col.stringOrNull("success, failure, cancelled, skipped, timed_out, neutral, action_required; null until completed."),
      created_at: col.timestamp("When the job was queued (UTC)."),
      started_at: col.timestampOrNull("When a runner picked the job up (UTC); null if it never started."),
      completed_at: col.timestampOrNull("When the job finished (UTC)."),
      runner_name: col.stringOrNull("Name of the runner that ran the job."),
      runner_group_name: col.stringOrNull("Runner group; 'GitHub Actions' for GitHub-hosted runners."),
      labels: col.strings("Labels the job requested (runs-on)."),
      payload: col.json("The job object exactly as the API returned it, steps included."),
      ...lineage,
    }),
  },
  job_steps: {
    description: "Steps of each job, one row per (job_id, step_number), split out of the job object.",
    key: ["job_id", "step_number"],
    partitionBy: "_extracted_at",
    clusterBy: ["repository"],
    schema: z.object({
      repository: col.string("Repository full name, owner/name."),
      job_id: col.int("Job id."),
      run_id: col.int("Workflow run id."),
      run_attempt: col.int("Attempt of the run."),
      step_number: col.int("Position of the step in the job, from 1."),
      step_name: col.string("Step name."),
      status: col.string("queued, in_progress or completed."),
      conclusion: col.stringOrNull("success, failure, cancelled, skipped; null until completed."),
      started_at: col.timestampOrNull("When the step started (UTC)."),
      completed_at: col.timestampOrNull("When the step finished (UTC)."),
      payload: col.json("The step object exactly as the API returned it."),
      ...lineage,
    }),
  },
  packages: {
    description: "Packages of each owner (GET /orgs/{org}/packages, /users/{user}/packages).",
    key: ["package_id"],
    partitionBy: "_extracted_at",
    clusterBy: ["owner"],
    schema: z.object({
      owner: col.string("Login of the organisation or user that owns the package."),
      owner_type: col.string("Organization or User."),
      package_id: col.int("Package id."),
      package_type: col.string("npm, maven, rubygems, docker, nuget or container."),
      package_name: col.string("Package name."),
      visibility: col.string("public, private or internal."),
      repository: col.stringOrNull("Repository the package is linked to, owner/name."),
      version_count: col.intOrNull("Number of versions the API reported."),
      created_at: col.timestamp("When the package was created (UTC)."),
      updated_at: col.timestamp("When the package was last updated (UTC)."),
      payload: col.json("The package object exactly as the API returned it."),
      ...lineage,
    }),
  },
  package_versions: {
    description: "Every version of every package (GET .../packages/{type}/{name}/versions).",
    key: ["version_id"],
    partitionBy: "created_at",
    clusterBy: ["owner"],
    schema: z.object({
      owner: col.string("Login of the organisation or user that owns the package."),
      package_type: col.string("npm, maven, rubygems, docker, nuget or container."),
      package_name: col.string("Package name."),
      version_id: col.int("Package version id."),
      version_name: col.string("Version name: a semver for npm, a digest for containers."),
      tags: col.strings("Container tags of the version; empty for other package types."),
      created_at: col.timestamp("When the version was published (UTC)."),
      updated_at: col.timestamp("When the version was last updated (UTC)."),
      deleted_at: col.timestampOrNull("When the version was deleted (UTC), if it was."),
      payload: col.json("The version object exactly as the API returned it."),
      ...lineage,
    }),
  },
  workflow_artifacts: {
    description: "Artifacts of runs in scope whose name matches --test-artifacts (GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts), with what the extractor did with each.",
    key: ["artifact_id"],
    partitionBy: "created_at",
    clusterBy: ["repository"],
    schema: z.object({
      repository: col.string("Repository full name, owner/name."),
      run_id: col.int("Workflow run id the artifact belongs to."),
      run_attempt: col.intOrNull("Attempt of the run that uploaded the artifact (workflow_run.run_attempt is not in the API object: null when unknown)."),
      artifact_id: col.int("Artifact id."),
      artifact_name: col.string("Artifact name as uploaded (actions/upload-artifact name)."),
      size_in_bytes: col.int("Compressed size of the artifact zip, as the API reports it."),
      expired: col.bool("Whether GitHub had already deleted the artifact's contents (retention) when it was listed."),
      outcome: col.string("What the extractor did: parsed (reports read), expired (counted, not downloaded), no_reports (no JUnit or coverage file inside), quarantined (rejected; the reason is in the quarantine)."),
      test_cases: col.int("Test case executions read from the artifact's JUnit files."),
      coverage_reports: col.int("Coverage files read from the artifact."),
      created_at: col.timestamp("When the artifact was created (UTC)."),
      expires_at: col.timestampOrNull("When GitHub deletes the artifact (UTC)."),
      payload: col.json("The artifact object exactly as the API returned it."),
      ...lineage,
    }),
  },
  test_cases: {
    description: "One row per test case execution in a JUnit XML report found in a run's artifact, keyed by artifact and ordinal.",
    key: ["artifact_id", "ordinal"],
    partitionBy: "created_at",
    clusterBy: ["repository"],
    schema: z.object({
      repository: col.string("Repository full name, owner/name."),
      run_id: col.int("Workflow run id the artifact belongs to."),
      run_attempt: col.intOrNull("Attempt of the run that uploaded the artifact, when known."),
      artifact_id: col.int("Artifact id."),
      artifact_name: col.string("Artifact name."),
      report_path: col.string("Path of the JUnit XML file inside the artifact zip."),
      ordinal: col.int("Position of the test case execution in the artifact (files in zip order, test cases in document order), from 1."),
      suite: col.stringOrNull("Name of the innermost testsuite element, nested suites joined with ' > '."),
      classname: col.stringOrNull("The testcase classname attribute."),
      name: col.string("The testcase name attribute."),
      file: col.stringOrNull("The testcase (or its suite's) file attribute."),
      line: col.intOrNull("The testcase line attribute."),
      status: col.string("passed, failed (a failure element), error (an error element) or skipped."),
      duration_seconds: col.floatOrNull("The testcase time attribute, in seconds."),
      flaky_failures: col.int("Maven Surefire flakyFailure and flakyError elements: failed runs of a test that then passed in the same execution."),
      rerun_failures: col.int("Maven Surefire rerunFailure and rerunError elements: failed re-runs of a test that kept failing."),
      message: col.stringOrNull("The failure, error or skipped message (message attribute, else the element text), truncated to 2,000 characters."),
      system_out: col.stringOrNull("The testcase system-out text, truncated to 2,000 characters."),
      created_at: col.timestamp("When the artifact was created (UTC)."),
      payload: col.json("The testcase's attributes and child element names and attributes (texts truncated), as parsed."),
      ...lineage,
    }),
  },
  coverage_reports: {
    description: "One row per coverage report (Cobertura or JaCoCo XML) found in a run's artifact.",
    key: ["artifact_id", "report_path"],
    partitionBy: "created_at",
    clusterBy: ["repository"],
    schema: z.object({
      repository: col.string("Repository full name, owner/name."),
      run_id: col.int("Workflow run id the artifact belongs to."),
      run_attempt: col.intOrNull("Attempt of the run that uploaded the artifact, when known."),
      artifact_id: col.int("Artifact id."),
      artifact_name: col.string("Artifact name."),
      report_path: col.string("Path of the coverage XML file inside the artifact zip."),
      format: col.string("cobertura or jacoco."),
      lines_covered: col.intOrNull("Lines covered (Cobertura lines-covered; JaCoCo LINE counter covered)."),
      lines_valid: col.intOrNull("Lines measured (Cobertura lines-valid; JaCoCo LINE missed + covered)."),
      branches_covered: col.intOrNull("Branches covered (Cobertura branches-covered; JaCoCo BRANCH counter covered)."),
      branches_valid: col.intOrNull("Branches measured (Cobertura branches-valid; JaCoCo BRANCH missed + covered)."),
      line_rate: col.floatOrNull("Line coverage from 0 to 1 (Cobertura line-rate; JaCoCo covered / (missed + covered))."),
      branch_rate: col.floatOrNull("Branch coverage from 0 to 1 (Cobertura branch-rate; JaCoCo BRANCH covered / (missed + covered))."),
      created_at: col.timestamp("When the artifact was created (UTC)."),
      payload: col.json("The report's root attributes and top-level counters, as parsed."),
      ...lineage,
    }),
  },
} as const;

export type RawTableName = keyof typeof rawTables;
export type RawRow<T extends RawTableName> = z.infer<(typeof rawTables)[T]["schema"]>;
export const rawTableNames = Object.keys(rawTables) as RawTableName[];

export interface ColumnSpec extends ColumnMeta {
  name: string;
  duckdbType: string;
}

export function columnsOf(table: RawTableName): ColumnSpec[] {
  return Object.entries(rawTables[table].schema.shape).map(([name, schema]) => {
    const meta = columnMeta(schema as z.ZodType, `${table}.${name}`);
    return { name, ...meta, duckdbType: duckdbType(meta) };
  });
}

/** Records that failed validation are kept here with the reason, never dropped. */
export const quarantineSchema = z.object({
  resource: z.string(),
  source: z.string(),
  reason: z.string(),
  record: z.unknown(),
  _batch_id: z.string(),
  _extracted_at: z.string(),
});
export type QuarantineRow = z.infer<typeof quarantineSchema>;
