/**
 * Deployments extractor (issue 15): every deployment of a repository created in the extract window, every
 * status of each, and the commits each deployment delivered, from compare between consecutive deployed
 * SHAs of the same environment.
 *
 * Incremental like the runs: the window is the extract's (watermark minus the lookback, or --since), so a
 * deployment whose statuses change within 30 days is listed again. The list (`GET .../deployments`,
 * newest first, 100 per page) is paged until a page reaches deployments older than the window; the
 * newest older deployment of each environment found on the way is that environment's predecessor. An
 * environment whose predecessor is not on those pages is listed on its own (`?environment=E`) until one
 * is found or the list ends (then its oldest deployment is its first ever).
 *
 * Commits (`deployment_commits`), per deployment D with predecessor P in the same environment:
 * - `GET .../compare/{P.sha}...{D.sha}` once, without paging parameters: GitHub answers at most 250
 *   commits, the newest of the comparison (docs: compare two commits). That is the bound: a gap of more
 *   than 250 commits keeps its newest 250, and the extract logs and counts it (`truncated`).
 * - cached: a (repository, base, head) pair already in the warehouse's `deployment_commits` (fully
 *   loaded extracts) or already compared in this extract is never requested again;
 * - no request when D redeploys the SHA of P or of an earlier deployment of the environment that this
 *   extract listed (a retry or a rollback delivers no commit that was not delivered before);
 * - the first deployment of an environment: its head commit only (`compare/{sha}...{sha}` and the
 *   response's `base_commit`), written with base_sha = head_sha = commit_sha; the history before it is
 *   not attributed to any deployment.
 * - a compare answering 404 (a SHA no longer in the repository) is quarantined with the pair named;
 *   the extract goes on.
 *
 * Every list is requested conditionally with the ETags of loaded extracts: an unchanged page answers 304
 * (no rate limit) and its deployments (id, environment, SHA, creation time, kept as the page's keys in
 * the HTTP cache) need no row again; their statuses are still asked for, conditionally, so a status
 * added since shows up whatever the list says.
 *
 * Deployments are optional in an extract, like packages: when the deployments list answers 403 (a token
 * or App without read access to deployments), the repository's deployments are skipped with a warning
 * naming the permission and `--no-deployments`, and the rest of the extract goes on.
 *
 * Request cost per repository: ceil(listed / 100) list pages (plus a few per environment whose
 * predecessor predates the window), one statuses request per deployment in the window (conditional:
 * an unchanged list answers 304, free of rate limit) and at most one compare per new (base, head) pair.
 */
import type { RestEndpointMethodTypes } from "@octokit/rest";
import type { GitHubClient } from "./client.js";
import type { BatchWriter } from "./batch-writer.js";
import type { Logger } from "../log/logger.js";
import type { RawRow } from "../schemas/raw-tables.js";
import { asPayload, type Unbatched } from "./records.js";
import type { RepoRef } from "./actions.js";
import { arrayBody, conditionalPages, type HttpCache } from "./pages.js";
import { ApiFailure, apiBaseUrl, toApiFailure, type ApiStage } from "./api-errors.js";

type Api = RestEndpointMethodTypes;
export type ApiDeployment = Api["repos"]["listDeployments"]["response"]["data"][number];
export type ApiDeploymentStatus = Api["repos"]["listDeploymentStatuses"]["response"]["data"][number];
export type ApiComparison = Api["repos"]["compareCommitsWithBasehead"]["response"]["data"];
export type ApiCommit = ApiComparison["commits"][number];

/** Commits GitHub returns for one compare without paging parameters; the extract's bound per pair. */
export const COMPARE_MAX_COMMITS = 250;

export interface DeploymentStats {
  deployments: number;
  statuses: number;
  /** Compare requests made. */
  compares: number;
  /** Pairs skipped because the warehouse (or this extract) already holds them. */
  comparesCached: number;
  /** Pairs needing no request: a retry or rollback of an already deployed SHA. */
  comparesRedeployed: number;
  commits: number;
  /** Compares with more than COMPARE_MAX_COMMITS commits: only the newest were kept. */
  truncated: number;
  /** Compares answering 404, quarantined. */
  missing: number;
  /** Repositories whose deployments the token may not read (403): skipped with a warning. */
  forbidden: string[];
}

export const emptyDeploymentStats = (): DeploymentStats => ({ deployments: 0, statuses: 0, compares: 0, comparesCached: 0, comparesRedeployed: 0, commits: 0, truncated: 0, missing: 0, forbidden: [] });

/** The extract summary line of deployments, or null when they are off. */
export function deploymentsLine(stats: DeploymentStats | null | undefined): string | null {
  if (!stats) return null;
  return `deployments: ${stats.deployments} deployments, ${stats.statuses} statuses; ${stats.compares} compares (${stats.comparesCached} pairs already known, ${stats.comparesRedeployed} redeploys needing none) → ${stats.commits} commits${stats.truncated ? `, ${stats.truncated} over ${COMPARE_MAX_COMMITS} commits (newest kept)` : ""}${stats.missing ? `, ${stats.missing} answering 404 (quarantined)` : ""}${stats.forbidden.length ? `; skipped (403, no read access to deployments): ${stats.forbidden.join(", ")}` : ""}`;
}

/** The key of a compared pair, as `knownCompares` returns them. */
export const compareKey = (repository: string, base: string, head: string): string => `${repository}\u0000${base}\u0000${head}`;

export function deploymentRow(repository: string, d: ApiDeployment, extractedAt: string): Unbatched<RawRow<"deployments">> {
  return {
    repository,
    deployment_id: d.id,
    sha: d.sha,
    ref: d.ref,
    task: d.task,
    environment: d.environment,
    original_environment: d.original_environment ?? null,
    production_environment: d.production_environment ?? null,
    transient_environment: d.transient_environment ?? null,
    creator_login: d.creator?.login ?? null,
    created_at: d.created_at,
    updated_at: d.updated_at,
    payload: asPayload(d),
    _extracted_at: extractedAt,
  };
}

export function deploymentStatusRow(repository: string, deploymentId: number, s: ApiDeploymentStatus, extractedAt: string): Unbatched<RawRow<"deployment_statuses">> {
  return {
    repository,
    deployment_id: deploymentId,
    status_id: s.id,
    state: s.state,
    environment: s.environment ?? null,
    creator_login: s.creator?.login ?? null,
    created_at: s.created_at,
    updated_at: s.updated_at,
    payload: asPayload(s),
    _extracted_at: extractedAt,
  };
}

export function deploymentCommitRow(repository: string, base: string, head: string, c: ApiCommit, extractedAt: string): Unbatched<RawRow<"deployment_commits">> {
  const { files: _files, ...commit } = c as ApiCommit & { files?: unknown };
  return {
    repository,
    base_sha: base,
    head_sha: head,
    commit_sha: c.sha,
    authored_at: c.commit?.author?.date ?? null,
    committed_at: c.commit?.committer?.date ?? null,
    author_login: c.author?.login ?? null,
    payload: asPayload(commit),
    _extracted_at: extractedAt,
  };
}

export interface RepoDeploymentsOptions {
  /** Start of the extract window: deployments created at or after it are extracted. */
  since: Date;
  /** End of the window (--until): deployments created after it are left to a later extract. Default: none. */
  until?: Date;
  /** Pairs the warehouse already holds (`compareKey`), and those compared by this extract so far. */
  knownCompares: Set<string>;
  stats: DeploymentStats;
  /** Deployments per list page: 100, GitHub's maximum (tests make it small to reach later pages). */
  pageSize?: number;
}

const now = () => new Date().toISOString();
const on = (r: RepoRef, stage: string): ApiStage => ({ stage, resource: { kind: "repository", fullName: r.fullName } });

/**
 * What the extract needs of a listed deployment. Also its key in the HTTP cache, so a list page that
 * answers 304 (unchanged since a loaded extract) still gives the environments, SHAs and times of its
 * deployments without a rate-limited request.
 */
interface Listed {
  id: number;
  environment: string;
  sha: string;
  created_at: string;
  /** The object, when the page came with a body (200); null for a page that answered 304. */
  full: ApiDeployment | null;
}
const listedKey = (d: ApiDeployment): string => JSON.stringify([d.id, d.environment, d.sha, d.created_at]);
function fromKey(key: string): Listed | null {
  try {
    const [id, environment, sha, created_at] = JSON.parse(key) as unknown[];
    return typeof id === "number" && typeof environment === "string" && typeof sha === "string" && typeof created_at === "string" ? { id, environment, sha, created_at, full: null } : null;
  } catch {
    return null;
  }
}
const byCreated = (a: Listed, b: Listed) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.id - b.id;

/** Deployments, statuses and commits of one repository (see the module comment). */
export async function extractRepoDeployments(octokit: GitHubClient, cache: HttpCache, writer: BatchWriter, r: RepoRef, options: RepoDeploymentsOptions, log: Logger): Promise<void> {
  const since = options.since.getTime();
  const until = options.until?.getTime() ?? Number.POSITIVE_INFINITY;
  const stats = options.stats;
  const inWindow: Listed[] = [];
  const older: Listed[] = [];
  const listSource = `GET /repos/${r.fullName}/deployments`;

  /**
   * Pages a deployments list newest first (conditionally: 304 pages give their deployments from the
   * cached keys) until `stop` says enough; returns whether the list ended.
   */
  const page = async (params: Record<string, string>, stage: string, onItem: (d: Listed) => void, stop: () => boolean): Promise<boolean> => {
    const pages = conditionalPages(octokit, cache, on(r, stage), "GET /repos/{owner}/{repo}/deployments", { owner: r.owner, repo: r.repo, per_page: options.pageSize ?? 100, ...params }, arrayBody<ApiDeployment>(), listedKey);
    for await (const p of pages) {
      if (p.notModified) {
        for (const key of p.keys ?? []) {
          const d = fromKey(key);
          if (d) onItem(d);
        }
      } else {
        for (const d of p.items) {
          if (typeof d?.id !== "number" || typeof d.created_at !== "string" || Number.isNaN(Date.parse(d.created_at)) || typeof d.environment !== "string" || typeof d.sha !== "string") {
            malformed.push(d);
            continue;
          }
          onItem({ id: d.id, environment: d.environment, sha: d.sha, created_at: d.created_at, full: d });
        }
      }
      if (stop()) return false;
    }
    return true;
  };

  const listedAt = now();
  let reachedOlder = false;
  const seen = new Set<number>();
  const malformed: ApiDeployment[] = [];
  let exhausted: boolean;
  try {
    exhausted = await page(
      {},
      "listing deployments",
      (d) => {
        // Deployments created while paging push older ones to later pages: the same one can come twice.
        if (seen.has(d.id)) return;
        seen.add(d.id);
        const created = Date.parse(d.created_at);
        if (created > until) return;
        if (created >= since) inWindow.push(d);
        else {
          older.push(d);
          reachedOlder = true;
        }
      },
      () => reachedOlder,
    );
  } catch (error) {
    // Deployments are optional in an extract, like packages: a token or App that may not read them (403
    // without rate-limit headers) skips this repository's deployments with a warning; the runs are kept.
    if (!(error instanceof ApiFailure) || error.kind !== "forbidden") throw error;
    stats.forbidden.push(r.fullName);
    log.warn(`deployments of ${r.fullName} skipped: ${error.details.problem}. Give the token read access to deployments (classic token: repo or repo_deployment; GitHub App: Deployments: read, and Contents: read for compare) or run with --no-deployments. The workflow runs of this extract are kept.`, { repository: r.fullName, status: error.status });
    return;
  }
  for (const d of malformed)
    await writer.quarantine({ resource: "deployments", source: listSource, reason: "id, created_at, environment or sha: missing or of the wrong type; the deployment cannot be placed in the window or compared", record: d as unknown as Record<string, unknown> }, listedAt);

  for (const d of inWindow) {
    // A deployment from a 304 page is unchanged since a loaded extract: its row is in the warehouse.
    if (d.full) {
      const written = await writer.write("deployments", deploymentRow(r.fullName, d.full, listedAt), listSource);
      stats.deployments += 1;
      if (!written) continue;
    }
    // Statuses conditionally, whatever the list page said: an unchanged list answers 304 (no rate limit).
    const statusSource = `GET /repos/${r.fullName}/deployments/${d.id}/statuses`;
    const pages = conditionalPages(octokit, cache, on(r, `listing statuses of deployment ${d.id}`), "GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses", { owner: r.owner, repo: r.repo, deployment_id: d.id, per_page: 100 }, arrayBody<ApiDeploymentStatus>());
    for await (const p of pages) {
      if (p.notModified) continue;
      const at = now();
      for (const s of p.items) {
        await writer.write("deployment_statuses", deploymentStatusRow(r.fullName, d.id, s, at), statusSource);
        stats.statuses += 1;
      }
    }
  }

  // Consecutive deployments per environment, oldest first, with the predecessor of the oldest.
  const environments = new Map<string, Listed[]>();
  for (const d of [...inWindow].sort(byCreated)) {
    const list = environments.get(d.environment) ?? [];
    list.push(d);
    environments.set(d.environment, list);
  }
  for (const [environment, list] of environments) {
    const oldest = list[0] as Listed;
    const before = (d: Listed) => byCreated(d, oldest) < 0;
    let earlier = older.filter((d) => d.environment === environment && before(d)).sort(byCreated);
    if (earlier.length === 0 && !exhausted) {
      // The predecessor predates the pages listed: list this environment alone until one shows up.
      const found: Listed[] = [];
      await page({ environment }, `listing deployments of environment ${environment}`, (d) => {
        if (before(d)) found.push(d);
      }, () => found.length > 0);
      earlier = found.sort(byCreated);
    }
    const deployedShas = new Set(earlier.map((d) => d.sha));
    let previous: Listed | undefined = earlier[earlier.length - 1];
    for (const d of list) {
      if (previous !== undefined && deployedShas.has(d.sha)) {
        stats.comparesRedeployed += 1;
      } else {
        await compareOnce(octokit, writer, r, previous?.sha ?? d.sha, d.sha, options, log);
      }
      deployedShas.add(d.sha);
      previous = d;
    }
  }
  log.debug("deployments extracted", { repository: r.fullName, deployments: inWindow.length, environments: environments.size });
}

async function compareOnce(octokit: GitHubClient, writer: BatchWriter, r: RepoRef, baseSha: string, headSha: string, options: RepoDeploymentsOptions, log: Logger): Promise<void> {
  const stats = options.stats;
  const key = compareKey(r.fullName, baseSha, headSha);
  if (options.knownCompares.has(key)) {
    stats.comparesCached += 1;
    return;
  }
  options.knownCompares.add(key);
  const source = `GET /repos/${r.fullName}/compare/${baseSha}...${headSha}`;
  let data: ApiComparison;
  try {
    stats.compares += 1;
    ({ data } = await octokit.rest.repos.compareCommitsWithBasehead({ owner: r.owner, repo: r.repo, basehead: `${baseSha}...${headSha}` }));
  } catch (error) {
    if ((error as { status?: number }).status === 404) {
      stats.missing += 1;
      await writer.quarantine(
        {
          resource: "deployment_commits",
          source,
          reason: `compare answered 404: ${baseSha} or ${headSha} is not in ${r.fullName} (force-pushed away?); the commits of this deployment are unknown and its lead time is left out`,
          record: { repository: r.fullName, base_sha: baseSha, head_sha: headSha },
        },
        now(),
      );
      return;
    }
    throw await toApiFailure(error, on(r, `comparing ${baseSha.slice(0, 7)}...${headSha.slice(0, 7)}`), apiBaseUrl(octokit));
  }
  const at = now();
  // The first deployment of an environment: its head commit only (base_commit of an identical compare).
  const commits = baseSha === headSha ? (data.base_commit ? [data.base_commit] : []) : Array.isArray(data.commits) ? data.commits : [];
  if (typeof data.total_commits === "number" && data.total_commits > commits.length && baseSha !== headSha) {
    stats.truncated += 1;
    log.warn("compare holds more commits than one response: the newest were kept, the oldest are not attributed to this deployment", { repository: r.fullName, base_sha: baseSha, head_sha: headSha, total_commits: data.total_commits, kept: commits.length, bound: COMPARE_MAX_COMMITS });
  }
  for (const c of commits) {
    await writer.write("deployment_commits", deploymentCommitRow(r.fullName, baseSha, headSha, c, at), source);
    stats.commits += 1;
  }
}
