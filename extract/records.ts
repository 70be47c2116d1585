/**
 * Maps GitHub API objects to raw rows. Typed columns are picked defensively (optional chaining, explicit
 * nulls) because the API object may be malformed; the raw-table schema then validates the row and a
 * failing row is quarantined by the batch writer with the column that failed.
 */
import type { RestEndpointMethodTypes } from "@octokit/rest";
import type { RawRow } from "../schemas/raw-tables.js";
import type { JUnitCase } from "./junit.js";
import type { CoverageTotals } from "./coverage.js";
import type { ParsedWorkflow } from "./workflow-parse.js";

type Api = RestEndpointMethodTypes;
export type ApiRun = Api["actions"]["listWorkflowRunsForRepo"]["response"]["data"]["workflow_runs"][number];
export type ApiJob = Api["actions"]["listJobsForWorkflowRun"]["response"]["data"]["jobs"][number];
export type ApiStep = NonNullable<ApiJob["steps"]>[number];
export type ApiWorkflow = Api["actions"]["listRepoWorkflows"]["response"]["data"]["workflows"][number];
export type ApiPackage = Api["packages"]["listPackagesForOrganization"]["response"]["data"][number];
export type ApiPackageVersion = Api["packages"]["getAllPackageVersionsForPackageOwnedByOrg"]["response"]["data"][number];

/** A row before the batch writer adds `_batch_id`. */
export type Unbatched<T> = Omit<T, "_batch_id">;

/** An API object kept whole as a raw row's `payload`. */
export const asPayload = (value: unknown) => value as Record<string, unknown>;

export function workflowRow(repository: string, w: ApiWorkflow, extractedAt: string): Unbatched<RawRow<"workflows">> {
  return {
    repository,
    workflow_id: w.id,
    name: w.name,
    path: w.path,
    state: w.state,
    created_at: w.created_at,
    updated_at: w.updated_at,
    payload: asPayload(w),
    _extracted_at: extractedAt,
  };
}

export function runRow(repository: string, r: ApiRun, extractedAt: string): Unbatched<RawRow<"workflow_runs">> {
  return {
    repository: r.repository?.full_name ?? repository,
    run_id: r.id,
    run_attempt: r.run_attempt ?? 1,
    workflow_id: r.workflow_id,
    workflow_name: r.name ?? null,
    workflow_path: r.path ?? null,
    event: r.event,
    head_branch: r.head_branch ?? null,
    head_sha: r.head_sha,
    actor_login: r.actor?.login ?? null,
    status: r.status as string,
    conclusion: r.conclusion ?? null,
    created_at: r.created_at,
    run_started_at: r.run_started_at ?? null,
    updated_at: r.updated_at,
    html_url: r.html_url,
    payload: asPayload(r),
    _extracted_at: extractedAt,
  };
}

export function jobRow(repository: string, j: ApiJob, extractedAt: string): Unbatched<RawRow<"workflow_jobs">> {
  return {
    repository,
    job_id: j.id,
    run_id: j.run_id,
    run_attempt: j.run_attempt ?? 1,
    workflow_name: j.workflow_name ?? null,
    job_name: j.name,
    head_branch: j.head_branch ?? null,
    status: j.status,
    conclusion: j.conclusion ?? null,
    created_at: j.created_at,
    started_at: j.started_at ?? null,
    completed_at: j.completed_at ?? null,
    runner_name: j.runner_name ?? null,
    runner_group_name: j.runner_group_name ?? null,
    labels: j.labels,
    payload: asPayload(j),
    _extracted_at: extractedAt,
  };
}

export function stepRow(repository: string, j: ApiJob, s: ApiStep, extractedAt: string): Unbatched<RawRow<"job_steps">> {
  return {
    repository,
    job_id: j.id,
    run_id: j.run_id,
    run_attempt: j.run_attempt ?? 1,
    step_number: s.number,
    step_name: s.name,
    status: s.status,
    conclusion: s.conclusion ?? null,
    started_at: s.started_at ?? null,
    completed_at: s.completed_at ?? null,
    payload: asPayload(s),
    _extracted_at: extractedAt,
  };
}

export function packageRow(owner: string, ownerType: string, p: ApiPackage, extractedAt: string): Unbatched<RawRow<"packages">> {
  return {
    owner: p.owner?.login ?? owner,
    owner_type: ownerType,
    package_id: p.id,
    package_type: p.package_type,
    package_name: p.name,
    visibility: p.visibility,
    repository: p.repository?.full_name ?? null,
    version_count: p.version_count ?? null,
    created_at: p.created_at,
    updated_at: p.updated_at,
    payload: asPayload(p),
    _extracted_at: extractedAt,
  };
}

export function packageVersionRow(
  owner: string,
  pkg: { package_type: string; name: string },
  v: ApiPackageVersion,
  extractedAt: string,
): Unbatched<RawRow<"package_versions">> {
  return {
    owner,
    package_type: pkg.package_type,
    package_name: pkg.name,
    version_id: v.id,
    version_name: v.name,
    tags: v.metadata?.container?.tags ?? [],
    created_at: v.created_at,
    updated_at: v.updated_at,
    deleted_at: v.deleted_at ?? null,
    payload: asPayload(v),
    _extracted_at: extractedAt,
  };
}

export type ApiArtifact = Api["actions"]["listWorkflowRunArtifacts"]["response"]["data"]["artifacts"][number];

/** Where an artifact's rows come from: the run, the attempt it is attributed to, and the artifact. */
export interface ArtifactContext {
  repository: string;
  runId: number;
  runAttempt: number | null;
  artifact: ApiArtifact;
}

export function artifactRow(
  c: ArtifactContext,
  outcome: "parsed" | "expired" | "no_reports" | "quarantined",
  counts: { testCases: number; coverageReports: number },
  extractedAt: string,
): Unbatched<RawRow<"workflow_artifacts">> {
  const a = c.artifact;
  return {
    repository: c.repository,
    run_id: c.runId,
    run_attempt: c.runAttempt,
    artifact_id: a.id,
    artifact_name: a.name,
    size_in_bytes: a.size_in_bytes,
    expired: a.expired,
    outcome,
    test_cases: counts.testCases,
    coverage_reports: counts.coverageReports,
    created_at: a.created_at as string,
    expires_at: a.expires_at ?? null,
    payload: asPayload(a),
    _extracted_at: extractedAt,
  };
}

/** The columns every row read out of one report file of an artifact starts with. */
function reportColumns(c: ArtifactContext, reportPath: string) {
  return {
    repository: c.repository,
    run_id: c.runId,
    run_attempt: c.runAttempt,
    artifact_id: c.artifact.id,
    artifact_name: c.artifact.name,
    report_path: reportPath,
  };
}

export function testCaseRow(c: ArtifactContext, reportPath: string, ordinal: number, t: JUnitCase, extractedAt: string): Unbatched<RawRow<"test_cases">> {
  return {
    ...reportColumns(c, reportPath),
    ordinal,
    suite: t.suite,
    classname: t.classname,
    // A testcase without a name fails the schema here and is quarantined with "name: ..." as its reason.
    name: t.name as string,
    file: t.file,
    line: t.line,
    status: t.status,
    duration_seconds: t.duration_seconds,
    flaky_failures: t.flaky_failures,
    rerun_failures: t.rerun_failures,
    message: t.message,
    system_out: t.system_out,
    created_at: c.artifact.created_at as string,
    payload: asPayload(t.payload),
    _extracted_at: extractedAt,
  };
}

export function coverageRow(c: ArtifactContext, reportPath: string, t: CoverageTotals, extractedAt: string): Unbatched<RawRow<"coverage_reports">> {
  return {
    ...reportColumns(c, reportPath),
    format: t.format,
    lines_covered: t.lines_covered,
    lines_valid: t.lines_valid,
    branches_covered: t.branches_covered,
    branches_valid: t.branches_valid,
    line_rate: t.line_rate,
    branch_rate: t.branch_rate,
    created_at: c.artifact.created_at as string,
    payload: asPayload(t.payload),
    _extracted_at: extractedAt,
  };
}

/** What the contents API gave for one workflow file (extract/workflow-definitions.ts). */
export interface WorkflowFileContent {
  blobSha: string;
  size: number;
  /** The text, or "" when left out of the row for its size. */
  content: string;
  /** The contents object without its content. */
  payload: Record<string, unknown>;
}

export function workflowDefinitionRow(
  file: { repository: string; path: string },
  f: WorkflowFileContent,
  p: ParsedWorkflow,
  extractedAt: string,
): Unbatched<RawRow<"workflow_definitions">> {
  return {
    repository: file.repository,
    path: file.path,
    blob_sha: f.blobSha,
    size_bytes: f.size,
    workflow_name: p.workflowName,
    valid: p.valid,
    errors: p.errors,
    triggers: p.triggers,
    workflow_run_sources: p.workflowRunSources,
    jobs: { jobs: p.jobs },
    edges: { edges: p.edges },
    content: f.content,
    payload: f.payload,
    _extracted_at: extractedAt,
  };
}

export function workflowDefinitionRefRow(
  file: { repository: string; path: string; commitSha: string },
  blobSha: string | null,
  payload: Record<string, unknown>,
  extractedAt: string,
): Unbatched<RawRow<"workflow_definition_refs">> {
  return { repository: file.repository, path: file.path, commit_sha: file.commitSha, blob_sha: blobSha, payload, _extracted_at: extractedAt };
}
