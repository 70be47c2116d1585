/**
 * A fake GitHub REST API on 127.0.0.1 serving a `Dataset` in GitHub's wire format (see
 * `@octokit/openapi` api.github.com.deref.json; `test/simulator-openapi.test.ts` checks conformance).
 *
 * Request pipeline (one function, `handle`): stats → latency → faults hook (seeded schedules in
 * `simulator/faults.ts`: error answers, resets, truncated or slow bodies, bad data, runs arriving) →
 * auth → route → primary rate limit → handler → ETag/304 → headers → send.
 *
 * Repo-scoped Link headers use `/repositories/{id}/...` as GitHub does; those paths are served too.
 *
 * Credentials: none (open), a static token (`token`), and/or a GitHub App (`app`). With an App the
 * simulator verifies the App's JWT (RS256 with the App's public key, `iss` = App ID, at most 10 minutes
 * between `iat` and `exp`), serves the installation lookups and mints installation tokens that expire
 * after `tokenTtlMs`, reach only their installation's account (other accounts 404, like GitHub) and get
 * 403 "Resource not accessible by integration" on every operation GitHub's OpenAPI description marks
 * `x-github.enabledForGitHubApps: false` (the packages endpoints, `/user`, ...).
 */
import { createHash, createPublicKey, randomBytes, randomUUID, verify, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { FaultAction } from "./faults.js";
import { HookStore, type HookDelivery, type HooksOptions, type PushOptions, type PushResult, type RedeliveryRequest, type SimHook } from "./hooks.js";
import { setTimeout as sleep } from "node:timers/promises";
import { deploymentRoutes } from "./deployments.js";
import { ContentsLog, contentsReply, referencedWorkflows } from "./workflow-files.js";
import { approximateSize, artifactsOfRun, artifactZip, artifactZipStream, DownloadSigner, findArtifact, type ArtifactOptions, type SimArtifact } from "./artifacts.js";
import {
  addRunToDataset, allJobsOf, findRun, latestAttempt, rerunRun, toSec,
  type Dataset, type RunConclusion, type SimAccount, type SimJob, type SimPackage, type SimPackageVersion, type SimRepo, type SimRun, type SimRunAttempt,
} from "./dataset.js";

export interface SimulatorStats {
  /** Every request received. */
  requests: number;
  /** 304 answers (free). */
  notModified: number;
  /** Requests that counted against the primary rate limit. */
  costly: number;
  /** Requests per route (`GET /repos/{owner}/{repo}/actions/runs`, or `unmatched`). */
  byRoute: Record<string, number>;
}

/** What a fault injector may do with a request (future): answer instead of the handler. */
export interface RequestContext {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  route: string;
}
export interface Reply {
  status: number;
  body?: unknown;
  /** Sent as is instead of the JSON of `body` (a raw media type; set content-type in `headers`). */
  raw?: Buffer;
  headers?: Record<string, string>;
}
/** Hook for fault injection: a Reply short-circuits, a FaultAction alters the answer, undefined proceeds. */
export type FaultHook = (ctx: RequestContext) => Reply | FaultAction | undefined | Promise<Reply | FaultAction | undefined>;

export interface SimulatorOptions {
  dataset: Dataset;
  /** 0 (default) = random free port. */
  port?: number;
  /** Delay added to every response. */
  latencyMs?: number;
  /** Primary rate limit per hour (default 5000). */
  rateLimit?: number;
  /** When set, requests must send `Authorization: token|Bearer <token>`. */
  token?: string;
  /** Base of web (`html_url`) links. Default `https://github.com`. */
  htmlBaseUrl?: string;
  /** Fault injection hook (see `FaultHook`). */
  faults?: FaultHook;
  /** Repository, organisation and App hooks with seeded deliveries and redelivery (simulator/hooks.ts). */
  hooks?: HooksOptions;
  /** A GitHub App and its installations (see the module comment). Works beside `token`. */
  app?: SimulatorApp;
  /**
   * The OAuth scopes of a classic token (the static `token`, or any caller when there is none): sent in
   * `x-oauth-scopes` on every answer, and without `read:packages` (or `write:`/`delete:packages`) the
   * packages endpoints answer like GitHub: 403 "You need at least read:packages scope to list packages."
   * with `x-accepted-oauth-scopes: read:packages`. Unset: scopes are not checked or sent.
   */
  scopes?: string[];
  /**
   * Workflow artifacts (simulator/artifacts.ts): the list and zip endpoints are always served; the zip
   * answers 302 to a second listener whose URLs expire after `urlTtlMs` (GitHub's: one minute).
   */
  artifacts?: ArtifactOptions & { urlTtlMs?: number };
}

/** One request to the artifact download host (the 302 target). */
export interface ArtifactDownload {
  artifactId: number | null;
  /** Whether the request carried an Authorization header: the GitHub token must never reach this host. */
  authorization: boolean;
  status: number;
}

export interface SimulatorApp {
  id: number;
  /** PEM of the public half of the App's key: JWTs are verified with it. */
  publicKeyPem: string;
  /** Lifetime of installation tokens; GitHub's is one hour (the default). */
  tokenTtlMs?: number;
  /** One installation per account (organisation or user login). */
  installations: { id: number; account: string }[];
  /** Default `actions-warehouse`. */
  slug?: string;
}

export interface Simulator {
  /** `http://127.0.0.1:PORT` */
  url: string;
  close(): Promise<void>;
  stats(): SimulatorStats;
  resetStats(): void;
  /** Re-runs a run: adds a completed attempt (new job ids), changes `updated_at` and `run_attempt`. */
  rerun(runId: number, opts?: { failedOnly?: boolean; outcome?: RunConclusion; actor?: string; at?: string }): SimRunAttempt;
  /** Adds a run (appended; see `addRunToDataset`). */
  addRun(opts: Parameters<typeof addRunToDataset>[1]): SimRun;
  /** Resets the primary rate limit window (full remaining). */
  resetRateLimit(): void;
  /** Revokes every installation token issued so far (they answer 401 from now on); returns how many. */
  revokeInstallationTokens(): number;
  /** The hooks (empty without `options.hooks`). */
  hooks(): SimHook[];
  /** Every delivery of a hook, retention ignored, ascending by id. */
  deliveries(hookId: number): HookDelivery[];
  /** Every redelivery request answered 202, in order. */
  redeliveries(): RedeliveryRequest[];
  /** The hook store (undefined without `options.hooks`), for adding deliveries. */
  hookStore: HookStore | undefined;
  /** POSTs the dataset's lifecycle to a URL as signed deliveries of a hook (needs `options.hooks`; see simulator/hooks.ts). */
  pushLifecycle(options: PushOptions): Promise<PushResult>;
  /** `http://127.0.0.1:PORT` of the artifact download host (a separate listener). */
  downloadUrl: string;
  /** Every request the download host received, in order. */
  artifactDownloads(): ArtifactDownload[];
  /** Workflow file contents requests per `repo|path|ref`, by media type (simulator/workflow-files.ts). */
  contentsRequests(): Map<string, { json: number; raw: number }>;
}

const DOCS = "https://docs.github.com/rest";
const notFound = (): Reply => ({ status: 404, body: { message: "Not Found", documentation_url: DOCS } });

// ---------------------------------------------------------------- GitHub App support

let disabledForApps: Set<string> | undefined;
/**
 * `METHOD /path/{template}` of every operation GitHub's OpenAPI description marks as not enabled for
 * GitHub Apps. Read once from `@octokit/openapi` (a dev dependency: only App mode needs it).
 */
export function operationsDisabledForApps(): Set<string> {
  if (disabledForApps) return disabledForApps;
  let path: string;
  try {
    path = createRequire(import.meta.url).resolve("@octokit/openapi/generated/api.github.com.json");
  } catch {
    throw new Error("the simulator's GitHub App mode reads GitHub's OpenAPI description from @octokit/openapi (a dev dependency): run npm install");
  }
  const spec = JSON.parse(readFileSync(path, "utf8")) as { paths: Record<string, Record<string, unknown>> };
  const out = new Set<string>();
  for (const [template, operations] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const xGithub = (operation as { "x-github"?: { enabledForGitHubApps?: boolean } } | null)?.["x-github"];
      if (xGithub?.enabledForGitHubApps === false) out.add(`${method.toUpperCase()} ${template}`);
    }
  }
  disabledForApps = out;
  return out;
}

const JWT_DECODE = "A JSON web token could not be decoded";
const JWT_IAT = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued";
const JWT_EXP = "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires";
const JWT_EXP_FAR = "'Expiration time' claim ('exp') is too far in the future";

/** GitHub's checks of an App JWT: RS256 signature by the App's key, `iss`, `iat`, `exp` (10 minutes at most). */
export function verifyAppJwt(jwt: string, appId: number, publicKey: KeyObject, nowSeconds = Math.floor(Date.now() / 1000)): string | null {
  const [head = "", body = "", signature = ""] = jwt.split(".");
  let header: { alg?: unknown };
  let claims: { iss?: unknown; iat?: unknown; exp?: unknown };
  try {
    header = JSON.parse(Buffer.from(head, "base64url").toString("utf8")) as { alg?: unknown };
    claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as typeof claims;
  } catch {
    return JWT_DECODE;
  }
  if (header.alg !== "RS256" || !verify("RSA-SHA256", Buffer.from(`${head}.${body}`), publicKey, Buffer.from(signature, "base64url"))) return JWT_DECODE;
  if (String(claims.iss) !== String(appId)) return JWT_DECODE;
  const { iat, exp } = claims;
  // GitHub allows for a little clock drift on iat (auth-app backdates it by 30 s, others by 60).
  if (typeof iat !== "number" || !Number.isInteger(iat) || iat > nowSeconds + 60) return JWT_IAT;
  if (typeof exp !== "number" || exp <= nowSeconds) return JWT_EXP;
  if (exp - iat > 600 || exp > nowSeconds + 600) return JWT_EXP_FAR;
  return null;
}

const looksLikeJwt = (credential: string): boolean => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(credential);
const PACKAGE_TYPES = ["npm", "maven", "rubygems", "docker", "nuget", "container"];

// ---------------------------------------------------------------- created filter

/** A created range in epoch seconds, inclusive. */
export interface CreatedRange {
  from: number;
  to: number;
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

function parseInstant(s: string, bound: "lower" | "upper"): number {
  const t = s.trim();
  if (DATE_RE.test(t)) {
    const day = Date.parse(`${t}T00:00:00Z`) / 1000;
    if (!Number.isFinite(day)) throw new Error(`invalid date ${s}`);
    return bound === "lower" ? day : day + 86_399;
  }
  // "+00:00" may arrive as " 00:00" when the client did not encode '+'
  let x = t.replace(/ (\d{2}:?\d{2})$/, "+$1");
  if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(x)) x += "Z";
  const ms = Date.parse(x);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(x) || !Number.isFinite(ms)) throw new Error(`invalid date-time ${s}`);
  return Math.floor(ms / 1000);
}

/** Parses GitHub's search syntax for `created` into an inclusive range of epoch seconds. */
export function parseCreated(q: string): CreatedRange {
  const s = q.trim();
  const MIN = -8.64e12;
  const MAX = 8.64e12;
  if (s.includes("..")) {
    const [a = "", b = ""] = s.split("..");
    return { from: a === "*" || a === "" ? MIN : parseInstant(a, "lower"), to: b === "*" || b === "" ? MAX : parseInstant(b, "upper") };
  }
  if (s.startsWith(">=")) return { from: parseInstant(s.slice(2), "lower"), to: MAX };
  if (s.startsWith("<=")) return { from: MIN, to: parseInstant(s.slice(2), "upper") };
  if (s.startsWith(">")) return { from: parseInstant(s.slice(1), "upper") + 1, to: MAX };
  if (s.startsWith("<")) return { from: MIN, to: parseInstant(s.slice(1), "lower") - 1 };
  if (DATE_RE.test(s)) return { from: parseInstant(s, "lower"), to: parseInstant(s, "upper") };
  const t = parseInstant(s, "lower");
  return { from: t, to: t };
}

// ---------------------------------------------------------------- server

interface RepoIndex {
  repo: SimRepo;
  /** Runs ascending by (created_at, id); `created` holds their epoch seconds. */
  runs: SimRun[];
  created: number[];
}

interface Route {
  method: string;
  pattern: string;
  re: RegExp;
  keys: string[];
  handler: (p: Record<string, string>, q: URLSearchParams, ctx: RequestContext) => Reply;
  /** Counts against the primary rate limit (default true). */
  free?: boolean;
  /** Authenticated with the App's JWT (the /app routes and the installation lookups), not a token. */
  appAuth?: boolean;
}

function pageParams(q: URLSearchParams): { page: number; perPage: number } {
  const pp = Number.parseInt(q.get("per_page") ?? "", 10);
  const pg = Number.parseInt(q.get("page") ?? "", 10);
  return { perPage: Number.isFinite(pp) && pp > 0 ? Math.min(pp, 100) : 30, page: Number.isFinite(pg) && pg > 0 ? pg : 1 };
}

export async function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  const ds = options.dataset;
  const limit = options.rateLimit ?? 5000;
  const htmlBase = (options.htmlBaseUrl ?? "https://github.com").replace(/\/$/, "");
  let base = "";
  let stats: SimulatorStats = { requests: 0, notModified: 0, costly: 0, byRoute: {} };
  let used = 0;
  let resetAt = Math.floor(Date.now() / 1000) + 3600;

  // indexes
  const repoByName = new Map<string, RepoIndex>();
  const repoById = new Map<number, SimRepo>();
  for (const repo of ds.repos) {
    repoByName.set(repo.full_name.toLowerCase(), { repo, runs: [], created: [] });
    repoById.set(repo.id, repo);
  }
  const reindex = (ix: RepoIndex): void => {
    ix.runs.sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id - b.id));
    ix.created = ix.runs.map((r) => toSec(r.created_at));
  };
  for (const run of ds.runs) repoByName.get(run.repo.toLowerCase())?.runs.push(run);
  for (const ix of repoByName.values()) reindex(ix);
  const accounts = new Map<string, SimAccount>(ds.accounts.map((a) => [a.login.toLowerCase(), a]));

  // ------------------------------------------------------------ renderers
  const userJson = (login: string): Record<string, unknown> => {
    const a = accounts.get(login.toLowerCase()) ?? { login, id: 91_999_999, type: "User" as const, name: null };
    const enc = encodeURIComponent(a.login);
    const u = `${base}/users/${enc}`;
    return {
      login: a.login, id: a.id, node_id: `${a.type === "Organization" ? "O" : a.type === "Bot" ? "BOT" : "U"}_kgDO${a.id.toString(36)}`,
      avatar_url: `https://avatars.githubusercontent.com/u/${a.id}?v=4`, gravatar_id: "", url: u, html_url: a.type === "Bot" ? `${htmlBase}/apps/${encodeURIComponent(a.login.replace(/\[bot\]$/, ""))}` : `${htmlBase}/${enc}`,
      followers_url: `${u}/followers`, following_url: `${u}/following{/other_user}`, gists_url: `${u}/gists{/gist_id}`,
      starred_url: `${u}/starred{/owner}{/repo}`, subscriptions_url: `${u}/subscriptions`, organizations_url: `${u}/orgs`, repos_url: `${u}/repos`,
      events_url: `${u}/events{/privacy}`, received_events_url: `${u}/received_events`, type: a.type, user_view_type: "public", site_admin: false,
    };
  };
  const repoCache = new Map<number, { minimal: Record<string, unknown>; full: Record<string, unknown> }>();
  const repoJson = (repo: SimRepo, kind: "minimal" | "full"): Record<string, unknown> => {
    let c = repoCache.get(repo.id);
    if (!c) {
      const u = `${base}/repos/${repo.full_name}`;
      const minimal: Record<string, unknown> = {
        id: repo.id, node_id: `R_kgDO${repo.id.toString(36)}`, name: repo.name, full_name: repo.full_name, private: repo.private, owner: userJson(repo.owner),
        html_url: `${htmlBase}/${repo.full_name}`, description: repo.description, fork: false, url: u,
        forks_url: `${u}/forks`, keys_url: `${u}/keys{/key_id}`, collaborators_url: `${u}/collaborators{/collaborator}`, teams_url: `${u}/teams`, hooks_url: `${u}/hooks`,
        issue_events_url: `${u}/issues/events{/number}`, events_url: `${u}/events`, assignees_url: `${u}/assignees{/user}`, branches_url: `${u}/branches{/branch}`,
        tags_url: `${u}/tags`, blobs_url: `${u}/git/blobs{/sha}`, git_tags_url: `${u}/git/tags{/sha}`, git_refs_url: `${u}/git/refs{/sha}`, trees_url: `${u}/git/trees{/sha}`,
        statuses_url: `${u}/statuses/{sha}`, languages_url: `${u}/languages`, stargazers_url: `${u}/stargazers`, contributors_url: `${u}/contributors`,
        subscribers_url: `${u}/subscribers`, subscription_url: `${u}/subscription`, commits_url: `${u}/commits{/sha}`, git_commits_url: `${u}/git/commits{/sha}`,
        comments_url: `${u}/comments{/number}`, issue_comment_url: `${u}/issues/comments{/number}`, contents_url: `${u}/contents/{+path}`,
        compare_url: `${u}/compare/{base}...{head}`, merges_url: `${u}/merges`, archive_url: `${u}/{archive_format}{/ref}`, downloads_url: `${u}/downloads`,
        issues_url: `${u}/issues{/number}`, pulls_url: `${u}/pulls{/number}`, milestones_url: `${u}/milestones{/number}`,
        notifications_url: `${u}/notifications{?since,all,participating}`, labels_url: `${u}/labels{/name}`, releases_url: `${u}/releases{/id}`,
        deployments_url: `${u}/deployments`,
      };
      const full: Record<string, unknown> = {
        ...minimal,
        created_at: repo.created_at, updated_at: repo.updated_at, pushed_at: repo.pushed_at,
        git_url: `git://github.com/${repo.full_name}.git`, ssh_url: `git@github.com:${repo.full_name}.git`, clone_url: `${htmlBase}/${repo.full_name}.git`,
        svn_url: `${htmlBase}/${repo.full_name}`, homepage: null, size: 1024 + (repo.id % 5000), stargazers_count: repo.id % 97, watchers_count: repo.id % 97,
        language: repo.language, has_issues: true, has_projects: true, has_downloads: true, has_wiki: true, has_pages: false, has_discussions: false,
        forks_count: 0, mirror_url: null, archived: false, disabled: false, open_issues_count: repo.id % 13, license: null, allow_forking: true,
        is_template: false, web_commit_signoff_required: false, topics: repo.topics, visibility: repo.private ? "private" : "public",
        forks: 0, open_issues: repo.id % 13, watchers: repo.id % 97, default_branch: repo.default_branch,
        permissions: { admin: true, maintain: true, push: true, triage: true, pull: true },
        network_count: 0, subscribers_count: 3,
      };
      c = { minimal, full };
      repoCache.set(repo.id, c);
    }
    return kind === "full" ? c.full : c.minimal;
  };
  const repoOfRun = (run: SimRun): SimRepo => {
    const ix = repoByName.get(run.repo.toLowerCase());
    if (!ix) throw new Error(`no repo ${run.repo}`);
    return ix.repo;
  };
  const runJson = (run: SimRun, a: SimRunAttempt): Record<string, unknown> => {
    const repo = repoOfRun(run);
    const r = `${base}/repos/${repo.full_name}`;
    const u = `${r}/actions/runs/${run.id}`;
    const checkSuite = run.id + 20_000_000_000;
    const repoMin = repoJson(repo, "minimal");
    const actorOf = (login: string) => accounts.get(login.toLowerCase());
    const author = actorOf(run.commit_author);
    const email = author?.type === "Bot" ? `${author.id}+${author.login.replace(/\[bot\]$/, "")}@users.noreply.github.com` : `${run.commit_author}@acme.example`;
    return {
      id: run.id, name: run.workflow_name, node_id: `WFR_kwLO${run.id.toString(36)}`, head_branch: run.head_branch, head_sha: run.head_sha,
      path: run.workflow_path, display_title: run.display_title, run_number: run.run_number, event: run.event, status: a.status, conclusion: a.conclusion,
      workflow_id: run.workflow_id, check_suite_id: checkSuite, check_suite_node_id: `CS_kwDO${checkSuite.toString(36)}`, url: u,
      html_url: `${htmlBase}/${repo.full_name}/actions/runs/${run.id}`,
      pull_requests: run.pull_requests.map((p) => ({
        url: `${r}/pulls/${p.number}`, id: p.id, number: p.number,
        head: { ref: p.head_ref, sha: p.head_sha, repo: { id: repo.id, url: r, name: repo.name } },
        base: { ref: p.base_ref, sha: p.base_sha, repo: { id: repo.id, url: r, name: repo.name } },
      })),
      created_at: run.created_at, updated_at: a.updated_at, actor: userJson(a.actor), run_attempt: a.run_attempt, referenced_workflows: referencedWorkflows(ds, run),
      run_started_at: a.run_started_at, triggering_actor: userJson(a.triggering_actor), jobs_url: `${u}/jobs`, logs_url: `${u}/logs`,
      check_suite_url: `${r}/check-suites/${checkSuite}`, artifacts_url: `${u}/artifacts`, cancel_url: `${u}/cancel`, rerun_url: `${u}/rerun`,
      previous_attempt_url: a.run_attempt > 1 ? `${u}/attempts/${a.run_attempt - 1}` : null, workflow_url: `${r}/actions/workflows/${run.workflow_id}`,
      head_commit: {
        id: run.head_sha, tree_id: createHash("sha1").update(run.head_sha).digest("hex"), message: run.commit_message, timestamp: run.created_at,
        author: { name: author?.name ?? run.commit_author, email }, committer: { name: "GitHub", email: "noreply@github.com" },
      },
      repository: repoMin, head_repository: repoMin,
    };
  };
  const jobJson = (run: SimRun, j: SimJob): Record<string, unknown> => {
    const r = `${base}/repos/${run.repo}`;
    return {
      id: j.id, run_id: j.run_id, workflow_name: j.workflow_name, head_branch: j.head_branch, run_url: `${r}/actions/runs/${run.id}`, run_attempt: j.run_attempt,
      node_id: `CR_kwDO${j.id.toString(36)}`, head_sha: j.head_sha, url: `${r}/actions/jobs/${j.id}`, html_url: `${htmlBase}/${run.repo}/actions/runs/${run.id}/job/${j.id}`,
      status: j.status, conclusion: j.conclusion, created_at: j.created_at, started_at: j.started_at, completed_at: j.completed_at, name: j.name,
      steps: j.steps, check_run_url: `${r}/check-runs/${j.id}`, labels: j.labels, runner_id: j.runner_id, runner_name: j.runner_name,
      runner_group_id: j.runner_group_id, runner_group_name: j.runner_group_name,
    };
  };
  const pkgPath = (p: SimPackage) => `${p.owner_type === "Organization" ? "orgs" : "users"}/${p.owner}/packages/${p.package_type}/${encodeURIComponent(p.name)}`;
  const pkgHtml = (p: SimPackage) => `${htmlBase}/${p.owner_type === "Organization" ? "orgs" : "users"}/${p.owner}/packages/${p.package_type}/package/${encodeURIComponent(p.name)}`;
  const packageJson = (p: SimPackage): Record<string, unknown> => {
    const repo = p.repo ? repoByName.get(p.repo.toLowerCase())?.repo : undefined;
    return {
      id: p.id, name: p.name, package_type: p.package_type, owner: userJson(p.owner), version_count: p.versions.filter((v) => v.deleted_at === null).length,
      visibility: p.visibility, url: `${base}/${pkgPath(p)}`, created_at: p.created_at, updated_at: p.updated_at,
      ...(repo ? { repository: repoJson(repo, "minimal") } : {}), html_url: pkgHtml(p),
    };
  };
  const versionJson = (p: SimPackage, v: SimPackageVersion): Record<string, unknown> => ({
    id: v.id, name: v.name, url: `${base}/${pkgPath(p)}/versions/${v.id}`, package_html_url: pkgHtml(p), created_at: v.created_at, updated_at: v.updated_at,
    html_url: p.package_type === "container" ? `${pkgHtml(p)}/${v.id}` : `${pkgHtml(p)}/${v.id}`,
    ...(v.description !== null ? { description: v.description } : {}), ...(v.deleted_at !== null ? { deleted_at: v.deleted_at } : {}),
    metadata: p.package_type === "container" ? { package_type: "container", container: { tags: v.tags } } : { package_type: p.package_type },
  });

  // ------------------------------------------------------------ paging helpers
  const linkHeader = (ctx: RequestContext, page: number, lastPage: number): string | undefined => {
    if (lastPage <= 1 && page <= 1) return undefined;
    const mk = (n: number, rel: string) => {
      const q = new URLSearchParams(ctx.query);
      q.set("page", String(n));
      return `<${base}${ctx.path}?${q.toString()}>; rel="${rel}"`;
    };
    const parts: string[] = [];
    if (page > 1) parts.push(mk(Math.min(page - 1, Math.max(lastPage, 1)), "prev"));
    if (page < lastPage) parts.push(mk(page + 1, "next"), mk(lastPage, "last"));
    if (page > 1) parts.push(mk(1, "first"));
    return parts.length ? parts.join(", ") : undefined;
  };
  function paged<T>(ctx: RequestContext, items: readonly T[], total = items.length): { slice: T[]; headers: Record<string, string> } {
    const { page, perPage } = pageParams(ctx.query);
    const slice = items.slice((page - 1) * perPage, page * perPage);
    const link = linkHeader(ctx, page, Math.max(1, Math.ceil(total / perPage)));
    return { slice, headers: link ? { link } : {} };
  }
  const repoIx = (p: Record<string, string>): RepoIndex | undefined => repoByName.get(`${p.owner}/${p.repo}`.toLowerCase());
  const runOf = (p: Record<string, string>): SimRun | undefined => {
    const ix = repoIx(p);
    const run = findRun(ds, Number(p.run_id));
    return ix && run && run.repo.toLowerCase() === ix.repo.full_name.toLowerCase() ? run : undefined;
  };
  const validation = (message: string): Reply => ({ status: 422, body: { message, documentation_url: DOCS } });

  // ------------------------------------------------------------ routes
  const listRuns = (p: Record<string, string>, q: URLSearchParams, ctx: RequestContext): Reply => {
    const ix = repoIx(p);
    if (!ix) return notFound();
    const { page, perPage } = pageParams(q);
    const createdQ = q.get("created");
    const branch = q.get("branch");
    const event = q.get("event");
    const status = q.get("status");
    const actor = q.get("actor");
    const headSha = q.get("head_sha");
    const filtered = [createdQ, branch, event, status, actor, headSha].some((x) => x !== null && x !== "");
    let lo = 0;
    let hi = ix.runs.length; // exclusive
    if (createdQ) {
      let range: CreatedRange;
      try {
        range = parseCreated(createdQ);
      } catch (e) {
        return validation(`Invalid created: ${(e as Error).message}`);
      }
      lo = lowerBound(ix.created, range.from);
      hi = lowerBound(ix.created, range.to + 1);
    }
    const offset = (page - 1) * perPage;
    if (!filtered && offset >= 40_000) {
      return { status: 422, body: { message: "In order to keep the API fast for everyone, pagination is limited for this resource.", documentation_url: "https://docs.github.com/v3/#pagination" } };
    }
    let total: number;
    let pageRuns: SimRun[] = [];
    const extra = branch || event || status || actor || headSha;
    const matches = (r: SimRun): boolean => {
      const a = latestAttempt(r);
      if (branch && r.head_branch !== branch) return false;
      if (event && r.event !== event) return false;
      if (status && a.status !== status && a.conclusion !== status) return false;
      if (actor && a.actor !== actor) return false;
      if (headSha && r.head_sha !== headSha) return false;
      return true;
    };
    const reachable = filtered ? 1000 : Number.POSITIVE_INFINITY;
    if (!extra) {
      total = Math.max(0, hi - lo);
      for (let k = offset; k < Math.min(offset + perPage, total, reachable); k++) {
        const r = ix.runs[hi - 1 - k];
        if (r) pageRuns.push(r);
      }
    } else {
      const all: SimRun[] = [];
      for (let i = hi - 1; i >= lo; i--) {
        const r = ix.runs[i];
        if (r && matches(r)) all.push(r);
      }
      total = all.length;
      pageRuns = all.slice(Math.min(offset, reachable), Math.min(offset + perPage, reachable));
    }
    const lastPage = Math.max(1, Math.ceil(Math.min(total, filtered ? 1000 : 40_000) / perPage));
    const link = linkHeader(ctx, page, lastPage);
    return { status: 200, body: { total_count: total, workflow_runs: pageRuns.map((r) => runJson(r, latestAttempt(r))) }, headers: link ? { link } : {} };
  };

  const listJobs = (run: SimRun, attempts: SimJob[][], ctx: RequestContext): Reply => {
    const jobs = attempts.flat();
    const { slice, headers } = paged(ctx, jobs);
    return { status: 200, body: { total_count: jobs.length, jobs: slice.map((j) => jobJson(run, j)) }, headers };
  };

  const listPackages = (owner: string, ownerType: "Organization" | "User", q: URLSearchParams, ctx: RequestContext): Reply => {
    const type = q.get("package_type");
    if (!type || !PACKAGE_TYPES.includes(type)) {
      return { status: 400, body: { message: "package_type is required and must be one of npm, maven, rubygems, docker, nuget, container", documentation_url: DOCS } };
    }
    const visibility = q.get("visibility");
    const acct = accounts.get(owner.toLowerCase());
    if (!acct || (ownerType === "Organization") !== (acct.type === "Organization")) return notFound();
    const pkgs = ds.packages.filter((p) => p.owner.toLowerCase() === owner.toLowerCase() && p.package_type === type && (!visibility || p.visibility === visibility));
    const { slice, headers } = paged(ctx, pkgs);
    return { status: 200, body: slice.map(packageJson), headers };
  };
  const listVersions = (owner: string, p: Record<string, string>, q: URLSearchParams, ctx: RequestContext): Reply => {
    const pkg = ds.packages.find((x) => x.owner.toLowerCase() === owner.toLowerCase() && x.package_type === p.package_type && x.name === p.package_name);
    if (!pkg) return { status: 404, body: { message: "Package not found.", documentation_url: DOCS } };
    const state = q.get("state") ?? "active";
    const versions = pkg.versions.filter((v) => (state === "deleted" ? v.deleted_at !== null : v.deleted_at === null));
    const { slice, headers } = paged(ctx, versions);
    return { status: 200, body: slice.map((v) => versionJson(pkg, v)), headers };
  };

  const reposOf = (login: string, q: URLSearchParams): SimRepo[] => {
    const repos = ds.repos.filter((r) => r.owner.toLowerCase() === login.toLowerCase());
    const sort = q.get("sort") ?? "created";
    const dir = q.get("direction") ?? (sort === "full_name" ? "asc" : "desc");
    const key = (r: SimRepo) => (sort === "full_name" ? r.full_name : sort === "pushed" ? r.pushed_at : sort === "updated" ? r.updated_at : r.created_at);
    repos.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : a.id - b.id) * (dir === "asc" ? 1 : -1));
    return repos;
  };

  const routes: Route[] = [];
  const add = (method: string, pattern: string, handler: Route["handler"], free = false, appAuth = false): void => {
    const keys: string[] = [];
    const re = new RegExp(`^${pattern.replace(/\{(\w+)\}/g, (_m, k: string) => {
      keys.push(k);
      return "([^/]+)";
    })}/?$`);
    routes.push({ method, pattern, re, keys, handler, free, appAuth });
  };
  add("GET", "/", () => {
    const b = base;
    return {
      status: 200, body: {
        current_user_url: `${b}/user`, current_user_authorizations_html_url: `${htmlBase}/settings/connections/applications{/client_id}`, authorizations_url: `${b}/authorizations`,
        code_search_url: `${b}/search/code?q={query}{&page,per_page,sort,order}`, commit_search_url: `${b}/search/commits?q={query}{&page,per_page,sort,order}`,
        emails_url: `${b}/user/emails`, emojis_url: `${b}/emojis`, events_url: `${b}/events`, feeds_url: `${b}/feeds`, followers_url: `${b}/user/followers`,
        following_url: `${b}/user/following{/target}`, gists_url: `${b}/gists{/gist_id}`, hub_url: `${b}/hub`,
        issue_search_url: `${b}/search/issues?q={query}{&page,per_page,sort,order}`, issues_url: `${b}/issues`, keys_url: `${b}/user/keys`,
        label_search_url: `${b}/search/labels?q={query}&repository_id={repository_id}{&page,per_page}`, notifications_url: `${b}/notifications`,
        organization_url: `${b}/orgs/{org}`, organization_repositories_url: `${b}/orgs/{org}/repos{?type,page,per_page,sort}`,
        organization_teams_url: `${b}/orgs/{org}/teams`, public_gists_url: `${b}/gists/public`, rate_limit_url: `${b}/rate_limit`,
        repository_url: `${b}/repos/{owner}/{repo}`, repository_search_url: `${b}/search/repositories?q={query}{&page,per_page,sort,order}`,
        current_user_repositories_url: `${b}/user/repos{?type,page,per_page,sort}`, starred_url: `${b}/user/starred{/owner}{/repo}`,
        starred_gists_url: `${b}/gists/starred`, topic_search_url: `${b}/search/topics?q={query}{&page,per_page}`, user_url: `${b}/users/{user}`,
        user_organizations_url: `${b}/user/orgs`, user_repositories_url: `${b}/users/{user}/repos{?type,page,per_page,sort}`,
        user_search_url: `${b}/search/users?q={query}{&page,per_page,sort,order}`,
      },
    };
  });
  add("GET", "/rate_limit", () => {
    const core = { limit, used, remaining: Math.max(0, limit - used), reset: resetAt };
    const other = (l: number) => ({ limit: l, used: 0, remaining: l, reset: resetAt });
    return {
      status: 200, body: {
        resources: { core, search: other(30), graphql: other(5000), integration_manifest: other(5000), source_import: other(100), code_scanning_upload: other(1000),
          actions_runner_registration: other(10000), scim: other(15000), dependency_snapshots: other(100), code_search: other(10) },
        rate: core,
      },
    };
  }, true);
  add("GET", "/user", () => {
    const u = ds.user;
    return {
      status: 200, body: {
        ...userJson(u.login), name: u.name, company: "@acme", blog: "", location: null, email: null, hireable: null, bio: null, twitter_username: null,
        notification_email: null, public_repos: ds.repos.filter((r) => r.owner === u.login).length, public_gists: 0, followers: 3, following: 1,
        created_at: "2015-03-01T10:00:00Z", updated_at: ds.anchor, private_gists: 0, total_private_repos: 0, owned_private_repos: 0, disk_usage: 1024,
        collaborators: 0, two_factor_authentication: true, plan: { name: "pro", space: 976562499, collaborators: 0, private_repos: 9999 },
      },
    };
  });
  add("GET", "/orgs/{org}/repos", (p, q, ctx) => {
    const acct = accounts.get((p.org ?? "").toLowerCase());
    if (!acct || acct.type !== "Organization") return notFound();
    const { slice, headers } = paged(ctx, reposOf(acct.login, q));
    return { status: 200, body: slice.map((r) => repoJson(r, "full")), headers };
  });
  add("GET", "/users/{username}/repos", (p, q, ctx) => {
    const acct = accounts.get((p.username ?? "").toLowerCase());
    if (!acct) return notFound();
    const { slice, headers } = paged(ctx, reposOf(acct.login, q));
    return { status: 200, body: slice.map((r) => repoJson(r, "full")), headers };
  });
  add("GET", "/repos/{owner}/{repo}", (p) => {
    const ix = repoIx(p);
    return ix ? { status: 200, body: repoJson(ix.repo, "full") } : notFound();
  });
  // Workflow file contents per commit (simulator/workflow-files.ts); `{path}` spans slashes, so its own pattern.
  const contentsLog = new ContentsLog();
  routes.push({
    method: "GET", pattern: "/repos/{owner}/{repo}/contents/{path}", re: /^\/repos\/([^/]+)\/([^/]+)\/contents\/(.+?)\/?$/, keys: ["owner", "repo", "path"],
    handler: (p, q, ctx) => {
      const ix = repoIx(p);
      if (!ix) return notFound();
      return contentsReply(ds, contentsLog, { repo: ix.repo.full_name, path: p.path ?? "", ref: q.get("ref"), accept: ctx.headers.accept, apiBase: base, htmlBase });
    },
  });
  add("GET", "/repos/{owner}/{repo}/actions/workflows", (p, _q, ctx) => {
    const ix = repoIx(p);
    if (!ix) return notFound();
    const wfs = ds.workflows.filter((w) => w.repo === ix.repo.full_name);
    const { slice, headers } = paged(ctx, wfs);
    const r = `${base}/repos/${ix.repo.full_name}`;
    return {
      status: 200, headers, body: {
        total_count: wfs.length,
        workflows: slice.map((w) => ({
          id: w.id, node_id: `W_kwDO${w.id.toString(36)}`, name: w.name, path: w.path, state: w.state, created_at: w.created_at, updated_at: w.updated_at,
          url: `${r}/actions/workflows/${w.id}`, html_url: `${htmlBase}/${ix.repo.full_name}/blob/main/${w.path}`,
          badge_url: `${htmlBase}/${ix.repo.full_name}/workflows/${encodeURIComponent(w.name)}/badge.svg`,
        })),
      },
    };
  });
  add("GET", "/repos/{owner}/{repo}/actions/runs", listRuns);
  add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}", (p) => {
    const run = runOf(p);
    return run ? { status: 200, body: runJson(run, latestAttempt(run)) } : notFound();
  });
  add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}", (p) => {
    const run = runOf(p);
    const a = run?.attempts.find((x) => x.run_attempt === Number(p.attempt_number));
    return run && a ? { status: 200, body: runJson(run, a) } : notFound();
  });
  add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", (p, q, ctx) => {
    const run = runOf(p);
    if (!run) return notFound();
    const filter = q.get("filter") ?? "latest";
    if (filter !== "latest" && filter !== "all") return validation(`Invalid filter: ${filter}`);
    const all = allJobsOf(ds, run);
    return listJobs(run, filter === "all" ? all : all.slice(-1), ctx);
  });
  add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs", (p, _q, ctx) => {
    const run = runOf(p);
    const n = Number(p.attempt_number);
    if (!run || !run.attempts.some((a) => a.run_attempt === n)) return notFound();
    return listJobs(run, [allJobsOf(ds, run)[n - 1] ?? []], ctx);
  });
  // ------------------------------------------------------------ artifacts
  const artifactOptions = options.artifacts ?? {};
  const signer = new DownloadSigner(artifactOptions.urlTtlMs ?? 60_000);
  let downloadBase = "";
  const artifactJson = (run: SimRun, a: SimArtifact): Record<string, unknown> => {
    const ix = repoByName.get(run.repo.toLowerCase());
    const u = `${base}/repos/${run.repo}/actions/artifacts/${a.id}`;
    return {
      id: a.id, node_id: `MDg6QXJ0aWZhY3Q${a.id.toString(36)}`, name: a.name, size_in_bytes: approximateSize(a), url: u, archive_download_url: `${u}/zip`,
      expired: a.expired, created_at: a.createdAt, expires_at: a.expiresAt, updated_at: a.createdAt,
      digest: `sha256:${createHash("sha256").update(String(a.id)).digest("hex")}`,
      workflow_run: { id: run.id, repository_id: ix?.repo.id ?? 0, head_repository_id: ix?.repo.id ?? 0, head_branch: run.head_branch, head_sha: run.head_sha },
    };
  };
  add("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts", (p, q, ctx) => {
    const run = runOf(p);
    if (!run) return notFound();
    const name = q.get("name");
    let list = artifactsOfRun(ds, run, artifactOptions).filter((a) => name === null || a.name === name);
    // GitHub lists the newest first by default.
    if ((q.get("direction") ?? "desc") === "desc") list = [...list].reverse();
    const { slice, headers } = paged(ctx, list);
    return { status: 200, body: { total_count: list.length, artifacts: slice.map((a) => artifactJson(run, a)) }, headers };
  });
  add("GET", "/repos/{owner}/{repo}/actions/artifacts", (p, q, ctx) => {
    const ix = repoIx(p);
    if (!ix) return notFound();
    const name = q.get("name");
    // Newest first, like GitHub.
    const list = ix.runs
      .flatMap((run) => artifactsOfRun(ds, run, artifactOptions).map((a) => ({ run, a })))
      .filter(({ a }) => name === null || a.name === name)
      .reverse();
    const { slice, headers } = paged(ctx, list);
    return { status: 200, body: { total_count: list.length, artifacts: slice.map(({ run, a }) => artifactJson(run, a)) }, headers };
  });
  add("GET", "/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}", (p) => {
    const ix = repoIx(p);
    const a = findArtifact(ds, Number(p.artifact_id), artifactOptions);
    if (!ix || !a || a.run.repo.toLowerCase() !== ix.repo.full_name.toLowerCase() || p.archive_format !== "zip") return notFound();
    if (a.expired) return { status: 410, body: { message: "Artifact has expired", documentation_url: `${DOCS}/actions/artifacts#download-an-artifact`, status: "410" } };
    return { status: 302, headers: { location: `${downloadBase}${signer.sign(a.id)}` } };
  });
  add("GET", "/orgs/{org}/packages", (p, q, ctx) => listPackages(p.org ?? "", "Organization", q, ctx));
  add("GET", "/users/{username}/packages", (p, q, ctx) => listPackages(p.username ?? "", "User", q, ctx));
  add("GET", "/orgs/{org}/packages/{package_type}/{package_name}/versions", (p, q, ctx) => listVersions(p.org ?? "", p, q, ctx));
  add("GET", "/users/{username}/packages/{package_type}/{package_name}/versions", (p, q, ctx) => listVersions(p.username ?? "", p, q, ctx));
  // Deployments, their statuses and compare (simulator/deployments.ts).
  for (const r of deploymentRoutes(ds, { baseUrl: () => base, htmlBase, userJson, repoName: (p) => repoIx(p)?.repo.full_name, paged, notFound })) add(r.method, r.pattern, r.handler);
  const hookStore = options.hooks ? new HookStore(ds, options.hooks) : undefined;
  for (const r of hookStore?.routes(() => base) ?? []) add(r.method, r.pattern, r.handler, false, r.appAuth);

  // ------------------------------------------------------------ GitHub App
  const app = options.app;
  const appKey = app ? createPublicKey(app.publicKeyPem) : undefined;
  const appDisabled = app ? operationsDisabledForApps() : new Set<string>();
  const appSlug = app?.slug ?? "actions-warehouse";
  const tokenTtlMs = app?.tokenTtlMs ?? 3600_000;
  /** Installation tokens issued: token → installation, expiry (epoch ms), revoked. */
  const issued = new Map<string, { installation: { id: number; account: string }; expiresAt: number; revoked: boolean }>();
  const appPermissions = { actions: "read", metadata: "read", packages: "read" } as const;
  const installationOf = (login: string) => app?.installations.find((i) => i.account.toLowerCase() === login.toLowerCase());
  const installationJson = (inst: { id: number; account: string }): Record<string, unknown> => {
    const account = userJson(inst.account);
    const org = account.type === "Organization";
    return {
      id: inst.id, client_id: `Iv23li${String(app?.id ?? 0).padStart(14, "0")}`, account, repository_selection: "all",
      access_tokens_url: `${base}/app/installations/${inst.id}/access_tokens`, repositories_url: `${base}/installation/repositories`,
      html_url: org ? `${htmlBase}/organizations/${encodeURIComponent(String(account.login))}/settings/installations/${inst.id}` : `${htmlBase}/settings/installations/${inst.id}`,
      app_id: app?.id ?? 0, app_slug: appSlug, target_id: account.id, target_type: account.type, permissions: appPermissions,
      events: ["workflow_run", "workflow_job", "registry_package"], created_at: "2025-01-06T09:00:00Z", updated_at: "2025-01-06T09:00:00Z",
      single_file_name: null, has_multiple_single_files: false, single_file_paths: [], suspended_by: null, suspended_at: null,
    };
  };
  if (app) {
    add("GET", "/app", () => ({
      status: 200,
      body: {
        id: app.id, slug: appSlug, node_id: `A_kwDO${app.id.toString(36)}`, client_id: `Iv23li${String(app.id).padStart(14, "0")}`, owner: userJson(ds.org.login),
        name: appSlug, description: "Reads GitHub Actions and Packages history into the warehouse", external_url: "https://example.com/actions-warehouse",
        html_url: `${htmlBase}/apps/${appSlug}`, created_at: "2025-01-06T09:00:00Z", updated_at: "2025-01-06T09:00:00Z",
        permissions: appPermissions, events: ["workflow_run", "workflow_job", "registry_package"], installations_count: app.installations.length,
      },
    }), true, true);
    add("GET", "/repos/{owner}/{repo}/installation", (p) => {
      const ix = repoIx(p);
      const inst = ix ? installationOf(ix.repo.owner) : undefined;
      return inst ? { status: 200, body: installationJson(inst) } : notFound();
    }, true, true);
    add("GET", "/orgs/{org}/installation", (p) => {
      const acct = accounts.get((p.org ?? "").toLowerCase());
      const inst = acct?.type === "Organization" ? installationOf(acct.login) : undefined;
      return inst ? { status: 200, body: installationJson(inst) } : notFound();
    }, true, true);
    add("GET", "/users/{username}/installation", (p) => {
      const inst = installationOf(p.username ?? "");
      return inst ? { status: 200, body: installationJson(inst) } : notFound();
    }, true, true);
    add("POST", "/app/installations/{installation_id}/access_tokens", (p) => {
      const inst = app.installations.find((i) => String(i.id) === p.installation_id);
      if (!inst) return notFound();
      const token = `ghs_${randomBytes(27).toString("base64url").replace(/[-_]/g, "0").slice(0, 36)}`;
      const expiresAt = Date.now() + tokenTtlMs;
      issued.set(token, { installation: inst, expiresAt, revoked: false });
      // GitHub sends whole seconds; sub-second lifetimes (tests) keep their milliseconds.
      const iso = new Date(expiresAt).toISOString();
      const expires = tokenTtlMs % 1000 === 0 ? iso.replace(/\.\d{3}Z$/, "Z") : iso;
      return { status: 201, body: { token, expires_at: expires, permissions: appPermissions, repository_selection: "all" } };
    }, true, true);
  }

  /** The answer to a request's credentials, or undefined to go on (app mode; see `authorize`). */
  const appAuthorize = (route: Route | undefined, params: Record<string, string>, credential: string | undefined, method: string): Reply | undefined => {
    const unauthorized = (message: string): Reply => ({ status: 401, body: { message, documentation_url: DOCS } });
    if (credential === undefined) return unauthorized("Requires authentication");
    if (looksLikeJwt(credential) && appKey && app) {
      const problem = verifyAppJwt(credential, app.id, appKey);
      if (problem) return unauthorized(problem);
      // The App itself (not an installation) can only call the App endpoints.
      if (route && !route.appAuth) return { status: 403, body: { message: "Resource not accessible by integration", documentation_url: DOCS } };
      return undefined;
    }
    const isStatic = options.token !== undefined && credential === options.token;
    const token = issued.get(credential);
    if (!isStatic && !token) return unauthorized("Bad credentials");
    if (route?.appAuth) return unauthorized(JWT_DECODE);
    if (!token) return undefined;
    if (token.revoked || Date.now() >= token.expiresAt) return unauthorized("Bad credentials");
    if (route && appDisabled.has(`${method} ${route.pattern}`)) {
      return { status: 403, body: { message: "Resource not accessible by integration", documentation_url: DOCS } };
    }
    const account = params.owner ?? params.org ?? params.username;
    if (account !== undefined && account.toLowerCase() !== token.installation.account.toLowerCase()) return notFound();
    return undefined;
  };

  // ------------------------------------------------------------ pipeline
  const rateHeaders = (): Record<string, string> => {
    const now = Math.floor(Date.now() / 1000);
    if (now >= resetAt) {
      used = 0;
      resetAt = now + 3600;
    }
    return {
      "x-ratelimit-limit": String(limit), "x-ratelimit-remaining": String(Math.max(0, limit - used)), "x-ratelimit-used": String(used),
      "x-ratelimit-reset": String(resetAt), "x-ratelimit-resource": "core",
    };
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.requests++;
    const url = new URL(req.url ?? "/", base);
    let path = url.pathname.replace(/\/+$/, "") || "/";
    // GitHub's repository-id paths (used in Link headers)
    const byId = /^\/repositories\/(\d+)(\/.*)?$/.exec(path);
    let linkPath = path;
    if (byId) {
      const repo = repoById.get(Number(byId[1]));
      path = repo ? `/repos/${repo.full_name}${byId[2] ?? ""}` : "/__unknown_repository";
    }
    const method = req.method ?? "GET";
    let match: { route: Route; params: Record<string, string> } | undefined;
    for (const route of routes) {
      if (route.method !== method) continue;
      const m = route.re.exec(path);
      if (m) {
        const params: Record<string, string> = {};
        route.keys.forEach((k, i) => {
          params[k] = decodeURIComponent(m[i + 1] ?? "");
        });
        match = { route, params };
        break;
      }
    }
    const routeKey = match ? `${method} ${match.route.pattern}` : "unmatched";
    stats.byRoute[routeKey] = (stats.byRoute[routeKey] ?? 0) + 1;
    // Link headers point at /repositories/{id}/... for repo-scoped routes, like GitHub.
    if (!byId && match?.params.owner && match.params.repo) {
      const ix = repoIx(match.params);
      if (ix) linkPath = path.replace(/^\/repos\/[^/]+\/[^/]+/, `/repositories/${ix.repo.id}`);
    }
    const ctx: RequestContext = { method, path: linkPath, query: url.searchParams, headers: req.headers, route: routeKey };

    if (options.latencyMs) await sleep(options.latencyMs);

    const fault = options.faults ? await options.faults(ctx) : undefined;
    const action = fault && "kind" in fault ? fault : undefined;
    let reply: Reply | undefined = fault && !("kind" in fault) ? fault : undefined;
    if (action?.kind === "reset") {
      req.socket.destroy();
      return;
    }
    if (action?.kind === "delay") await sleep(action.ms);
    if (action?.kind === "before") action.run();
    let costly = false;
    if (!reply && options.app) {
      const credential = /^(?:token|bearer)\s+(.+)$/i.exec(req.headers.authorization ?? "")?.[1];
      reply = appAuthorize(match?.route, match?.params ?? {}, credential, method);
    } else if (!reply && options.token !== undefined) {
      const auth = req.headers.authorization ?? "";
      const m = /^(?:token|bearer)\s+(.+)$/i.exec(auth);
      if (!m || m[1] !== options.token) reply = { status: 401, body: { message: "Bad credentials", documentation_url: DOCS } };
    }
    if (!reply && options.scopes && match && /\/packages(?:\/|$)/.test(match.route.pattern) && !options.scopes.some((sc) => /^(?:read|write|delete):packages$/.test(sc))) {
      reply = {
        status: 403,
        body: {
          message: `You need at least read:packages scope to ${match.route.pattern.endsWith("/versions") ? "get a package's versions" : "list packages"}.`,
          documentation_url: DOCS,
        },
        headers: { "x-accepted-oauth-scopes": "read:packages" },
      };
    }
    rateHeaders(); // rolls the window over when the reset time has passed
    if (!reply) {
      const free = match?.route.free === true;
      if (!free && used >= limit) {
        reply = {
          status: 403,
          body: {
            message: `API rate limit exceeded for user ID ${ds.user.id}. If you reach out to GitHub Support for help, please include the request ID ${randomUUID()}.`,
            documentation_url: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
          },
        };
      } else {
        reply = match ? match.route.handler(match.params, url.searchParams, ctx) : notFound();
        costly = !free;
        if (action?.kind === "mutate" && reply.status === 200) reply = { ...reply, body: action.mutate(reply.body, ctx) };
      }
    }
    const body = reply.raw ?? (reply.body === undefined ? "" : JSON.stringify(reply.body));
    const etag = `"${createHash("sha1").update(body).digest("hex")}"`;
    const inm = req.headers["if-none-match"];
    const notModified = reply.status === 200 && typeof inm === "string" && inm.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
    if (notModified) {
      stats.notModified++;
      costly = false;
    }
    if (costly) {
      used++;
      stats.costly++;
    }
    const headers: Record<string, string> = {
      ...rateHeaders(),
      "x-github-request-id": randomUUID().toUpperCase().slice(0, 23),
      "x-github-api-version-selected": "2022-11-28",
      "content-type": "application/json; charset=utf-8",
      etag,
      ...(options.scopes ? { "x-oauth-scopes": options.scopes.join(", ") } : {}),
      ...(reply.headers ?? {}),
    };
    if (notModified) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    // A truncated body is sent cleanly framed (its own Content-Length): only the JSON is incomplete.
    const sent = action?.kind === "truncate" ? body.slice(0, Math.floor(body.length / 2)) : body;
    headers["content-length"] = String(Buffer.byteLength(sent));
    if (res.destroyed) return; // the client gave up (timeout) while the answer was delayed
    res.writeHead(reply.status, headers);
    res.end(sent);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const body = JSON.stringify({ message: `Simulator error: ${(err as Error).message}`, documentation_url: DOCS });
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json; charset=utf-8" });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;

  // The artifact download host: another port, like GitHub's blob storage is another host. It checks the
  // signed URL (one minute), never asks for credentials, and records whether any were sent anyway.
  const downloads: ArtifactDownload[] = [];
  const zips = new Map<number, Promise<Buffer>>();
  const downloadServer = createServer((req, res) => {
    const url = new URL(req.url ?? "/", downloadBase);
    const checked = signer.check(url);
    const record: ArtifactDownload = { artifactId: "id" in checked ? checked.id : null, authorization: req.headers.authorization !== undefined, status: 200 };
    downloads.push(record);
    const refuse = (status: number, code: string, message: string) => {
      record.status = status;
      res.writeHead(status, { "content-type": "application/xml" });
      res.end(`<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
    };
    if ("problem" in checked) return refuse(403, "AuthenticationFailed", checked.problem === "expired" ? "Signed expiry time has passed" : "Signature did not match");
    const a = findArtifact(ds, checked.id, artifactOptions);
    if (!a) return refuse(404, "BlobNotFound", "The specified blob does not exist.");
    if (a.kind === "huge") {
      res.writeHead(200, { "content-type": "application/zip" });
      artifactZipStream(a).pipe(res);
      return;
    }
    let bytes = zips.get(a.id);
    if (!bytes) {
      bytes = artifactZip(a);
      zips.set(a.id, bytes);
    }
    bytes.then(
      (b) => {
        res.writeHead(200, { "content-type": "application/zip", "content-length": String(b.length) });
        res.end(b);
      },
      (error: unknown) => refuse(500, "InternalError", (error as Error).message),
    );
  });
  await new Promise<void>((resolve, reject) => {
    downloadServer.once("error", reject);
    downloadServer.listen(0, "127.0.0.1", () => resolve());
  });
  downloadBase = `http://127.0.0.1:${(downloadServer.address() as AddressInfo).port}`;

  return {
    url: base,
    close: async () => {
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      await new Promise<void>((resolve) => {
        downloadServer.close(() => resolve());
        downloadServer.closeAllConnections();
      });
    },
    downloadUrl: downloadBase,
    artifactDownloads: () => downloads.map((d) => ({ ...d })),
    contentsRequests: () => contentsLog.snapshot(),
    stats: () => ({ ...stats, byRoute: { ...stats.byRoute } }),
    resetStats: () => {
      stats = { requests: 0, notModified: 0, costly: 0, byRoute: {} };
      contentsLog.reset();
    },
    rerun: (runId, opts) => rerunRun(ds, runId, opts),
    addRun: (opts) => {
      const run = addRunToDataset(ds, opts);
      const ix = repoByName.get(run.repo.toLowerCase());
      if (ix) {
        ix.runs.push(run);
        reindex(ix);
      }
      return run;
    },
    resetRateLimit: () => {
      used = 0;
      resetAt = Math.floor(Date.now() / 1000) + 3600;
    },
    hooks: () => hookStore?.hooks ?? [],
    deliveries: (hookId) => [...(hookStore?.hook(hookId)?.deliveries ?? [])],
    redeliveries: () => hookStore?.redeliveries() ?? [],
    hookStore,
    pushLifecycle: (opts) => {
      if (!hookStore) return Promise.reject(new Error("pushLifecycle needs the simulator's hooks option"));
      return hookStore.push(opts, { run: runJson, job: jobJson });
    },
    revokeInstallationTokens: () => {
      let n = 0;
      for (const t of issued.values())
        if (!t.revoked) {
          t.revoked = true;
          n += 1;
        }
      return n;
    },
  };
}

/** First index i with xs[i] >= x (xs ascending). */
function lowerBound(xs: number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((xs[mid] ?? 0) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
