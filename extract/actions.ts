/**
 * GitHub Actions extractors: workflows, runs (every attempt), jobs (every attempt) and their steps.
 */
import type { GitHubClient } from "./client.js";
import type { BatchWriter } from "./batch-writer.js";
import type { Logger } from "../log/logger.js";
import { jobRow, runRow, stepRow, workflowRow, type ApiRun } from "./records.js";
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

export async function extractWorkflows(octokit: GitHubClient, writer: BatchWriter, r: RepoRef): Promise<number> {
  let n = 0;
  const iterator = octokit.paginate.iterator(octokit.rest.actions.listRepoWorkflows, { owner: r.owner, repo: r.repo, per_page: 100 });
  for await (const page of iterator) {
    const at = now();
    for (const w of page.data) {
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
 * Lists every run (latest attempt) created in the window, splitting it until each part holds at most
 * 1,000 runs. Calls `onRun` once per run, as soon as its page arrives.
 */
export async function listRuns(
  octokit: GitHubClient,
  r: RepoRef,
  window: Window,
  onRun: (run: ApiRun) => void,
  log: Logger,
): Promise<{ runs: number; windows: number }> {
  const pending: Window[] = [window];
  let runs = 0;
  let windows = 0;
  while (pending.length > 0) {
    const w = pending.shift() as Window;
    const iterator = octokit.paginate.iterator(octokit.rest.actions.listWorkflowRunsForRepo, {
      owner: r.owner,
      repo: r.repo,
      created: createdQualifier(w),
      per_page: 100,
    });
    let first = true;
    for await (const page of iterator) {
      if (first) {
        first = false;
        const total = page.data.total_count;
        if (total > SEARCH_RESULT_CAP) {
          if (windowSeconds(w) < 2) throw new WindowTooDenseError(r.fullName, createdQualifier(w), total);
          const halves = splitWindow(w);
          log.debug("splitting runs window", { repository: r.fullName, window: createdQualifier(w), total_count: total });
          pending.unshift(...halves);
          break;
        }
        windows += 1;
      }
      for (const run of page.data) {
        runs += 1;
        onRun(run);
      }
    }
  }
  return { runs, windows };
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
): Promise<{ attempts: number; jobs: number; steps: number }> {
  const source = `GET /repos/${r.fullName}/actions/runs/${run.id}`;
  await writer.write("workflow_runs", runRow(r.fullName, run, listedAt), `GET /repos/${r.fullName}/actions/runs`);
  const latest = run.run_attempt ?? 1;
  for (let attempt = 1; attempt < latest; attempt += 1) {
    const { data } = await octokit.rest.actions.getWorkflowRunAttempt({ owner: r.owner, repo: r.repo, run_id: run.id, attempt_number: attempt });
    await writer.write("workflow_runs", runRow(r.fullName, data, now()), `${source}/attempts/${attempt}`);
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
  for await (const page of iterator) {
    const at = now();
    for (const job of page.data) {
      await writer.write("workflow_jobs", jobRow(r.fullName, job, at), `${source}/jobs`);
      jobs += 1;
      for (const step of job.steps ?? []) {
        await writer.write("job_steps", stepRow(r.fullName, job, step, at), `${source}/jobs (job ${job.id})`);
        steps += 1;
      }
    }
  }
  return { attempts: latest, jobs, steps };
}

export async function listRepositories(octokit: GitHubClient, owner: { org?: string; user?: string }): Promise<string[]> {
  const repos = owner.org
    ? await octokit.paginate(octokit.rest.repos.listForOrg, { org: owner.org, per_page: 100, type: "all" })
    : await octokit.paginate(octokit.rest.repos.listForUser, { username: owner.user as string, per_page: 100, type: "owner" });
  return repos.map((repo) => repo.full_name);
}
