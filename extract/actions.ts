/**
 * GitHub Actions extractors: workflows, runs (every attempt), jobs (every attempt) and their steps.
 */
import type { GitHubClient } from "./client.js";
import type { BatchWriter } from "./batch-writer.js";
import type { Logger } from "../log/logger.js";
import { jobRow, runRow, stepRow, workflowRow, type ApiJob, type ApiRun, type ApiWorkflow } from "./records.js";
import { conditionalPages, countedBody, arrayBody, type HttpCache } from "./pages.js";
import { apiCall, apiBaseUrl, toApiFailure, type ApiStage } from "./api-errors.js";
import { createdQualifier, SEARCH_RESULT_CAP, splitWindow, windowSeconds, type Window } from "./windows.js";

export interface RepoRef {
  owner: string;
  repo: string;
  fullName: string;
}

export function repoRef(fullName: string): RepoRef {
  const [owner, repo] = fullName.split("/") as [string, string];
  return { owner, repo, fullName };
}

const now = () => new Date().toISOString();
const on = (r: RepoRef, stage: string): ApiStage => ({ stage, resource: { kind: "repository", fullName: r.fullName } });

export async function extractWorkflows(octokit: GitHubClient, cache: HttpCache, writer: BatchWriter, r: RepoRef): Promise<number> {
  let n = 0;
  const pages = conditionalPages(octokit, cache, on(r, "listing workflows"), "GET /repos/{owner}/{repo}/actions/workflows", { owner: r.owner, repo: r.repo, per_page: 100 }, countedBody<ApiWorkflow>("workflows"));
  for await (const page of pages) {
    if (page.notModified) continue;
    const at = now();
    for (const w of page.items) {
      await writer.write("workflows", workflowRow(r.fullName, w, at), `GET /repos/${r.fullName}/actions/workflows`);
      n += 1;
    }
  }
  return n;
}

export class WindowTooDenseError extends Error {
  override readonly name = "WindowTooDenseError";
  constructor(readonly repository: string, readonly window: string, readonly totalCount: number) {
    super(`${repository}: ${totalCount} runs were created within the single second ${window}; GitHub returns at most ${SEARCH_RESULT_CAP} per search, so this second cannot be extracted completely`);
  }
}

/**
 * Lists every run (latest attempt) created in the windows (whole UTC days, see `dayWindows`), splitting
 * a window until each part holds at most 1,000 runs. Calls `onRun` for every run of every page that
 * changed (pages answering 304 hold nothing new), as soon as the page arrives.
 *
 * Runs created while the extractor pages push older runs towards later pages: a run may then be listed
 * twice (the caller drops repeats by run id) but never skipped, since every page is requested at its
 * current offset. If the arrivals push a window past 1,000 runs, it is split and listed again.
 */
export async function listRuns(
  octokit: GitHubClient,
  cache: HttpCache,
  r: RepoRef,
  windows: Window[],
  /** May return a promise: listing waits for it, which is how the caller applies backpressure. */
  onRun: (run: ApiRun) => void | Promise<void>,
  log: Logger,
): Promise<{ runs: number; windows: number; pagesNotModified: number }> {
  const pending: Window[] = [...windows];
  let runs = 0;
  let listed = 0;
  let pagesNotModified = 0;
  const split = (w: Window, total: number) => {
    if (windowSeconds(w) < 2) throw new WindowTooDenseError(r.fullName, createdQualifier(w), total);
    log.debug("splitting runs window", { repository: r.fullName, window: createdQualifier(w), total_count: total });
    pending.unshift(...splitWindow(w));
  };
  while (pending.length > 0) {
    const w = pending.shift() as Window;
    const pages = conditionalPages(
      octokit,
      cache,
      on(r, "listing workflow runs"),
      "GET /repos/{owner}/{repo}/actions/runs",
      { owner: r.owner, repo: r.repo, created: createdQualifier(w), per_page: 100 },
      countedBody<ApiRun>("workflow_runs"),
    );
    let first = true;
    let maxTotal = 0;
    let wasSplit = false;
    for await (const page of pages) {
      const total = page.totalCount ?? 0;
      if (first) {
        first = false;
        if (total > SEARCH_RESULT_CAP) {
          split(w, total);
          wasSplit = true;
          break;
        }
        listed += 1;
      }
      maxTotal = Math.max(maxTotal, total);
      if (page.notModified) {
        pagesNotModified += 1;
        continue;
      }
      for (const run of page.items) {
        runs += 1;
        await onRun(run);
      }
    }
    if (!wasSplit && maxTotal > SEARCH_RESULT_CAP) split(w, maxTotal);
  }
  return { runs, windows: listed, pagesNotModified };
}

/**
 * Writes a run's latest attempt, fetches and writes its earlier attempts, then every job of every
 * attempt (`filter=all`) with their steps.
 */
export async function extractRunDetail(
  octokit: GitHubClient,
  writer: BatchWriter,
  r: RepoRef,
  run: ApiRun,
  listedAt: string,
): Promise<{ attempts: number; jobs: number; steps: number; attemptStarts: { attempt: number; startedAt: number }[] }> {
  const source = `GET /repos/${r.fullName}/actions/runs/${run.id}`;
  await writer.write("workflow_runs", runRow(r.fullName, run, listedAt), `GET /repos/${r.fullName}/actions/runs`);
  const latest = run.run_attempt ?? 1;
  // When each attempt started: artifacts carry no attempt number, their creation time places them (extract/artifacts.ts).
  const attemptStarts = [{ attempt: latest, startedAt: Date.parse(run.run_started_at ?? run.created_at) }];
  for (let attempt = 1; attempt < latest; attempt += 1) {
    const { data } = await apiCall(octokit, on(r, `fetching attempt ${attempt} of run ${run.id}`), () =>
      octokit.rest.actions.getWorkflowRunAttempt({ owner: r.owner, repo: r.repo, run_id: run.id, attempt_number: attempt }),
    );
    await writer.write("workflow_runs", runRow(r.fullName, data, now()), `${source}/attempts/${attempt}`);
    attemptStarts.push({ attempt, startedAt: Date.parse(data.run_started_at ?? data.created_at) });
  }
  let jobs = 0;
  let steps = 0;
  const iterator = octokit.paginate.iterator(octokit.rest.actions.listJobsForWorkflowRun, {
    owner: r.owner,
    repo: r.repo,
    run_id: run.id,
    filter: "all",
    per_page: 100,
  });
  try {
    for await (const page of iterator) {
      const at = now();
      for (const job of page.data as ApiJob[]) {
        const written = await writer.write("workflow_jobs", jobRow(r.fullName, job, at), `${source}/jobs`);
        jobs += 1;
        // A job that failed its schema is quarantined whole, steps included (they are in its payload).
        if (!written || !Array.isArray(job.steps)) continue;
        for (const step of job.steps) {
          await writer.write("job_steps", stepRow(r.fullName, job, step, at), `${source}/jobs (job ${job.id})`);
          steps += 1;
        }
      }
    }
  } catch (error) {
    // Only API errors become an ApiFailure; the writer's own errors pass unchanged.
    throw await toApiFailure(error, on(r, `listing jobs of run ${run.id}`), apiBaseUrl(octokit));
  }
  return { attempts: latest, jobs, steps, attemptStarts };
}

export async function listRepositories(octokit: GitHubClient, cache: HttpCache, owner: { org?: string; user?: string }): Promise<string[]> {
  const pages = owner.org
    ? conditionalPages(octokit, cache, { stage: "listing repositories", resource: { kind: "organization", login: owner.org } }, "GET /orgs/{org}/repos", { org: owner.org, per_page: 100, type: "all" }, arrayBody<{ full_name: string }>(), (r) => r.full_name)
    : conditionalPages(octokit, cache, { stage: "listing repositories", resource: { kind: "user", login: owner.user as string } }, "GET /users/{username}/repos", { username: owner.user as string, per_page: 100, type: "owner" }, arrayBody<{ full_name: string }>(), (r) => r.full_name);
  const names: string[] = [];
  for await (const page of pages) names.push(...(page.notModified ? (page.keys ?? []) : page.items.map((r) => r.full_name)));
  return names;
}
