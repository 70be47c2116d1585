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
