/**
 * Deployments, their statuses and the commit history behind them (issue 15), derived deterministically
 * from a dataset's seed and anchor, and the three endpoints that serve them.
 *
 * The world (ground truth for tests):
 * - `acme/api` has a commit history: a first-parent chain on `main` (a commit every 1–7 hours, every
 *   sixth one a merge of a side-branch commit, so compare walks a real graph) and one `hotfix/login`
 *   commit that is never merged. Author dates precede committer dates by up to 36 hours.
 * - `acme/api` deploys through the Deployments API to `staging` (production_environment false) and,
 *   after a green staging deployment, to `production` (production_environment true). Some production
 *   deployments fail (state failure or error) and are followed by a fix (the newest `main`, or the same
 *   SHA again when nothing newer exists); one successful deployment is followed by a rollback
 *   (the previous production SHA redeployed) and one by a hotfix deployment from the unmerged branch.
 *   Every deployment finishes before the anchor.
 * - `acme/web` has no deployments: it deploys with its `Deploy` workflow (job `deploy`), which the
 *   models pick up by name (the workflow-based source, as Apache DevLake does).
 *
 * GitHub behaviour enforced (each rule cites its page):
 * - deployments list newest first, filters sha, ref, task, environment, paged (per_page ≤ 100);
 * - statuses newest first; a success on a non-production, non-transient environment makes every
 *   earlier deployment of that environment inactive;
 * - compare base...head: commits reachable from head and not from base, oldest first; status
 *   identical / ahead / behind / diverged with ahead_by, behind_by, total_commits; without paging
 *   parameters at most 250 commits, the last being the newest of the comparison; with per_page/page
 *   chronological pages; 404 for a SHA or ref the repository does not have.
 */
import seedrandom from "seedrandom";
import { iso, toSec, type Dataset } from "./dataset.js";
import type { Reply, RequestContext } from "./server.js";

/** The repository that deploys through the Deployments API. */
export const API_DEPLOY_REPO = "acme/api";
/** The repository without environments that deploys with a workflow (its `deploy` job). */
export const WORKFLOW_DEPLOY_REPO = "acme/web";

const DEPLOYMENT_ID_BASE = 1_850_000_000;
const STATUS_ID_BASE = 2_710_000_000;
const HOUR = 3600;
const DAY = 86_400;

// https://docs.github.com/en/rest/commits/commits#compare-two-commits: "When calling this endpoint
// without any paging parameter (per_page or page), the returned list is limited to 250 commits".
export const COMPARE_UNPAGED_LIMIT = 250;

export interface SimGitUser {
  name: string;
  email: string;
  date: string;
}

export interface SimCommit {
  sha: string;
  /** First parent first. */
  parents: string[];
  message: string;
  author: SimGitUser;
  committer: SimGitUser;
  /** GitHub login matched to the author, null when none. */
  author_login: string | null;
  /** On the first-parent chain of main. */
  on_main: boolean;
}

export type DeploymentState = "error" | "failure" | "inactive" | "in_progress" | "queued" | "pending" | "success";

export interface SimDeploymentStatus {
  id: number;
  state: DeploymentState;
  created_at: string;
  description: string;
  creator: string;
}

export type DeploymentRole = "deploy" | "fix" | "retry" | "rollback" | "hotfix";

export interface SimDeployment {
  id: number;
  repo: string;
  sha: string;
  ref: string;
  task: string;
  environment: string;
  production_environment: boolean;
  created_at: string;
  creator: string;
  /** Oldest first. */
  statuses: SimDeploymentStatus[];
  role: DeploymentRole;
}

export interface DeploymentWorld {
  repo: string;
  /** Every commit, oldest first (committer date, then creation order). */
  commits: SimCommit[];
  bySha: Map<string, SimCommit>;
  /** Ascending id (= creation order). */
  deployments: SimDeployment[];
  /** Tip of main at the anchor. */
  mainTip: string;
}

type Rng = () => number;
const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
const hex40 = (rng: Rng): string => Array.from({ length: 40 }, () => "0123456789abcdef"[Math.floor(rng() * 16)]).join("");

const AUTHORS = ["alice", "bob", "carol", "dave", "erin"] as const;
const NAMES: Record<string, string> = { alice: "Alice Ng", bob: "Bob Stone", carol: "Carol Diaz", dave: "Dave Kim", erin: "Erin Wu" };
const DEPLOYER = "github-actions[bot]";

const worlds = new WeakMap<Dataset, DeploymentWorld>();

/** The deployments world of a dataset (memoised; the dataset itself stays plain data). */
export function deploymentWorld(ds: Dataset): DeploymentWorld {
  let w = worlds.get(ds);
  if (!w) {
    w = generateWorld(ds);
    worlds.set(ds, w);
  }
  return w;
}

function generateWorld(ds: Dataset): DeploymentWorld {
  const rng = seedrandom.alea(`${ds.seed}|deployments`);
  const anchor = toSec(ds.anchor);
  const start = anchor - ds.options.days * DAY;
  const commits: SimCommit[] = [];
  const bySha = new Map<string, SimCommit>();
  const user = (login: string, date: number): SimGitUser => ({ name: NAMES[login] ?? login, email: `${login}@acme.example`, date: iso(date) });
  const addCommit = (parents: string[], committedAt: number, message: string, onMain: boolean): SimCommit => {
    const login = AUTHORS[int(rng, 0, AUTHORS.length - 1)] as string;
    const authored = committedAt - int(rng, 0, 36 * HOUR);
    const c: SimCommit = { sha: hex40(rng), parents, message, author: user(login, authored), committer: user(login, committedAt), author_login: login, on_main: onMain };
    commits.push(c);
    bySha.set(c.sha, c);
    return c;
  };

  // main: a root ten days before the first deployment slot, then a commit every 1–7 hours.
  let tip = addCommit([], start - 10 * DAY, "Initial commit", true);
  const mainTimes: { at: number; sha: string }[] = [{ at: toSec(tip.committer.date), sha: tip.sha }];
  let t = toSec(tip.committer.date);
  let n = 0;
  for (;;) {
    t += int(rng, 1 * HOUR, 7 * HOUR);
    if (t > anchor - 20 * 60) break;
    n += 1;
    if (n % 6 === 0) {
      // A side-branch commit off the commit two back on main, merged now.
      const base = mainTimes[Math.max(0, mainTimes.length - 2)]?.sha ?? tip.sha;
      const side = addCommit([base], t - int(rng, 10 * 60, 50 * 60), `Add feature ${n}`, false);
      tip = addCommit([tip.sha, side.sha], t, `Merge pull request #${100 + n} from acme/feature-${n}`, true);
    } else {
      tip = addCommit([tip.sha], t, `Change ${n}`, true);
    }
    mainTimes.push({ at: t, sha: tip.sha });
  }
  const mainAt = (at: number): string => {
    let sha = mainTimes[0]?.sha ?? tip.sha;
    for (const m of mainTimes) if (m.at <= at) sha = m.sha;
    return sha;
  };

  const deployments: SimDeployment[] = [];
  let statusSeq = 0;
  const deploy = (sha: string, ref: string, environment: "staging" | "production", at: number, outcome: "success" | "failure" | "error", role: DeploymentRole): SimDeployment => {
    const d: SimDeployment = {
      id: DEPLOYMENT_ID_BASE + deployments.length * 7,
      repo: API_DEPLOY_REPO,
      sha,
      ref,
      task: "deploy",
      environment,
      production_environment: environment === "production",
      created_at: iso(at),
      creator: DEPLOYER,
      statuses: [],
      role,
    };
    const running = at + int(rng, 5, 40);
    const done = running + int(rng, 60, 600);
    d.statuses.push({ id: 0, state: "queued", created_at: iso(at), description: "Deployment queued", creator: DEPLOYER });
    d.statuses.push({ id: 0, state: "in_progress", created_at: iso(running), description: "Deployment started", creator: DEPLOYER });
    d.statuses.push({ id: 0, state: outcome, created_at: iso(done), description: outcome === "success" ? "Deployment finished successfully." : outcome === "failure" ? "Health checks failed." : "Deployment errored.", creator: DEPLOYER });
    deployments.push(d);
    return d;
  };
  const finishedAt = (d: SimDeployment): number => toSec(d.statuses[d.statuses.length - 1]?.created_at ?? d.created_at);

  let lastProdSha: string | null = null;
  let prevSuccessfulProdSha: string | null = null;
  let successes = 0;
  let slot = start + 2 * HOUR;
  const limit = anchor - 6 * HOUR;
  for (;;) {
    slot += int(rng, 6 * HOUR, 20 * HOUR);
    if (slot > limit) break;
    const weekday = new Date(slot * 1000).getUTCDay();
    if ((weekday === 0 || weekday === 6) && rng() < 0.7) continue;
    const sha = mainAt(slot);
    const staging = deploy(sha, "main", "staging", slot, rng() < 0.9 ? "success" : "failure", "deploy");
    if (staging.statuses[2]?.state !== "success" || sha === lastProdSha) continue;
    const prodAt = finishedAt(staging) + int(rng, 10 * 60, 45 * 60);
    const x = rng();
    const outcome = x < 0.7 ? "success" : x < 0.85 ? "failure" : "error";
    const prod = deploy(sha, "main", "production", prodAt, outcome, "deploy");
    let current = prod;
    if (outcome !== "success") {
      // Fixed forward: the newest main (or the same SHA again when nothing newer exists).
      const fixAt = finishedAt(prod) + int(rng, 40 * 60, 4 * HOUR);
      const fixSha = mainAt(fixAt);
      current = deploy(fixSha, "main", "production", fixAt, "success", fixSha === sha ? "retry" : "fix");
    }
    const previous = prevSuccessfulProdSha;
    lastProdSha = current.sha;
    prevSuccessfulProdSha = current.sha;
    successes += 1;
    if (successes === 3 && previous !== null && previous !== current.sha) {
      // A rollback: the previous production SHA redeployed within hours.
      const rollbackAt = finishedAt(current) + int(rng, 1 * HOUR, 5 * HOUR);
      const rollback = deploy(previous, previous, "production", rollbackAt, "success", "rollback");
      lastProdSha = rollback.sha;
      prevSuccessfulProdSha = rollback.sha;
      slot = Math.max(slot, finishedAt(rollback));
    } else if (successes === 6) {
      // A hotfix from a branch that is never merged: its commit sits on the deployed SHA.
      const hotfixCommitAt = finishedAt(current) + int(rng, 20 * 60, 60 * 60);
      const hotfix = addCommit([current.sha], hotfixCommitAt, "Hotfix: login loop", false);
      const hotfixDeploy = deploy(hotfix.sha, "hotfix/login", "production", hotfixCommitAt + int(rng, 10 * 60, 40 * 60), "success", "hotfix");
      lastProdSha = hotfixDeploy.sha;
      prevSuccessfulProdSha = hotfixDeploy.sha;
      slot = Math.max(slot, finishedAt(hotfixDeploy));
    } else {
      slot = Math.max(slot, finishedAt(current));
    }
  }

  // https://docs.github.com/en/rest/deployments/deployments#inactive-deployments: "When you set the
  // state of a deployment to success, then all prior non-transient, non-production environment
  // deployments in the same repository with the same environment name will become inactive."
  for (const d of deployments) {
    if (d.production_environment || d.statuses[d.statuses.length - 1]?.state !== "success") continue;
    const at = d.statuses[d.statuses.length - 1]?.created_at ?? d.created_at;
    for (const earlier of deployments) {
      if (earlier.id >= d.id || earlier.environment !== d.environment) continue;
      if (earlier.statuses[earlier.statuses.length - 1]?.state === "inactive") continue;
      earlier.statuses.push({ id: 0, state: "inactive", created_at: at, description: "Superseded by a newer deployment.", creator: DEPLOYER });
    }
  }
  // Status ids ascend with creation time across the repository.
  const all = deployments.flatMap((d) => d.statuses).sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
  for (const s of all) s.id = STATUS_ID_BASE + ++statusSeq;
  for (const d of deployments) d.statuses.sort((a, b) => a.id - b.id);

  commits.sort((a, b) => (a.committer.date < b.committer.date ? -1 : a.committer.date > b.committer.date ? 1 : 0));
  return { repo: API_DEPLOY_REPO, commits, bySha, deployments, mainTip: tip.sha };
}

/** When a deployment's latest status was created (its updated_at). */
export function deploymentUpdatedAt(d: SimDeployment): string {
  return d.statuses[d.statuses.length - 1]?.created_at ?? d.created_at;
}

/** Every commit reachable from `sha` (itself included). */
export function ancestors(world: DeploymentWorld, sha: string): Set<string> {
  const seen = new Set<string>();
  const stack = [sha];
  while (stack.length > 0) {
    const s = stack.pop() as string;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const p of world.bySha.get(s)?.parents ?? []) stack.push(p);
  }
  return seen;
}

export interface Comparison {
  status: "identical" | "ahead" | "behind" | "diverged";
  aheadBy: number;
  behindBy: number;
  /** Reachable from head and not from base, oldest first. */
  commits: SimCommit[];
  mergeBase: SimCommit;
}

/** `git log base..head` in chronological order, with the counts GitHub reports. */
export function compareCommits(world: DeploymentWorld, base: string, head: string): Comparison {
  const fromBase = ancestors(world, base);
  const fromHead = ancestors(world, head);
  const ahead = world.commits.filter((c) => fromHead.has(c.sha) && !fromBase.has(c.sha));
  const behindBy = world.commits.filter((c) => fromBase.has(c.sha) && !fromHead.has(c.sha)).length;
  const common = world.commits.filter((c) => fromBase.has(c.sha) && fromHead.has(c.sha));
  const mergeBase = common[common.length - 1] ?? (world.bySha.get(base) as SimCommit);
  const status = base === head ? "identical" : ahead.length > 0 && behindBy === 0 ? "ahead" : ahead.length === 0 && behindBy > 0 ? "behind" : ahead.length === 0 ? "identical" : "diverged";
  return { status, aheadBy: ahead.length, behindBy, commits: ahead, mergeBase };
}

// ---------------------------------------------------------------- endpoints

export interface DeploymentRouteHelpers {
  baseUrl: () => string;
  htmlBase: string;
  userJson: (login: string) => Record<string, unknown>;
  /** `owner/name` as the dataset spells it, or undefined for an unknown repository. */
  repoName: (p: Record<string, string>) => string | undefined;
  paged: <T>(ctx: RequestContext, items: readonly T[]) => { slice: T[]; headers: Record<string, string> };
  notFound: () => Reply;
}

type Handler = (p: Record<string, string>, q: URLSearchParams, ctx: RequestContext) => Reply;

export function deploymentRoutes(ds: Dataset, h: DeploymentRouteHelpers): { method: string; pattern: string; handler: Handler }[] {
  const world = deploymentWorld(ds);
  const repoUrl = (repo: string) => `${h.baseUrl()}/repos/${repo}`;
  const deploymentJson = (d: SimDeployment): Record<string, unknown> => {
    const u = `${repoUrl(d.repo)}/deployments/${d.id}`;
    return {
      url: u, id: d.id, node_id: `DE_kwDO${d.id.toString(36)}`, sha: d.sha, ref: d.ref, task: d.task, payload: {}, original_environment: d.environment,
      environment: d.environment, description: null, creator: h.userJson(d.creator), created_at: d.created_at, updated_at: deploymentUpdatedAt(d),
      statuses_url: `${u}/statuses`, repository_url: repoUrl(d.repo), transient_environment: false, production_environment: d.production_environment,
    };
  };
  const statusJson = (d: SimDeployment, s: SimDeploymentStatus): Record<string, unknown> => {
    const u = `${repoUrl(d.repo)}/deployments/${d.id}`;
    return {
      url: `${u}/statuses/${s.id}`, id: s.id, node_id: `DES_kwDO${s.id.toString(36)}`, state: s.state, creator: h.userJson(s.creator), description: s.description,
      environment: d.environment, target_url: `${h.htmlBase}/${d.repo}/deployments/${d.id}`, created_at: s.created_at, updated_at: s.created_at, deployment_url: u,
      repository_url: repoUrl(d.repo), environment_url: `https://${d.environment}.api.acme.example`, log_url: `${h.htmlBase}/${d.repo}/deployments/${d.id}`,
    };
  };
  const commitJson = (repo: string, c: SimCommit): Record<string, unknown> => {
    const u = `${repoUrl(repo)}/commits/${c.sha}`;
    const login = c.author_login;
    return {
      url: u, sha: c.sha, node_id: `C_kwDO${c.sha.slice(0, 12)}`, html_url: `${h.htmlBase}/${repo}/commit/${c.sha}`, comments_url: `${u}/comments`,
      commit: {
        url: `${repoUrl(repo)}/git/commits/${c.sha}`, author: c.author, committer: c.committer, message: c.message, comment_count: 0,
        tree: { sha: c.sha.split("").reverse().join(""), url: `${repoUrl(repo)}/git/trees/${c.sha.split("").reverse().join("")}` },
        verification: { verified: false, reason: "unsigned", signature: null, payload: null, verified_at: null },
      },
      author: login ? h.userJson(login) : null, committer: login ? h.userJson(login) : null,
      parents: c.parents.map((p) => ({ sha: p, url: `${repoUrl(repo)}/commits/${p}`, html_url: `${h.htmlBase}/${repo}/commit/${p}` })),
    };
  };
  const ofRepo = (p: Record<string, string>): { repo: string; deployments: SimDeployment[] } | undefined => {
    const repo = h.repoName(p);
    if (!repo) return undefined;
    return { repo, deployments: repo.toLowerCase() === world.repo.toLowerCase() ? world.deployments : [] };
  };
  /** A full SHA, an abbreviated one (7+ hex digits, unique) or the branch `main`. */
  const resolve = (ref: string): string | undefined => {
    if (ref === "main" || ref === "heads/main") return world.mainTip;
    if (world.bySha.has(ref)) return ref;
    if (!/^[0-9a-f]{7,39}$/.test(ref)) return undefined;
    const matches = world.commits.filter((c) => c.sha.startsWith(ref));
    return matches.length === 1 ? matches[0]?.sha : undefined;
  };

  return [
    {
      method: "GET",
      pattern: "/repos/{owner}/{repo}/deployments",
      // https://docs.github.com/en/rest/deployments/deployments#list-deployments: "Simple filtering of
      // deployments is available via query parameters": sha, ref, task, environment; per_page (max 100)
      // and page. GitHub answers newest first.
      handler: (p, q, ctx) => {
        const r = ofRepo(p);
        if (!r) return h.notFound();
        const filters = (["sha", "ref", "task", "environment"] as const).map((k) => [k, q.get(k)] as const).filter(([, v]) => v !== null && v !== "");
        const list = r.deployments.filter((d) => filters.every(([k, v]) => d[k] === v)).slice().reverse();
        const { slice, headers } = h.paged(ctx, list);
        return { status: 200, body: slice.map(deploymentJson), headers };
      },
    },
    {
      method: "GET",
      pattern: "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
      // https://docs.github.com/en/rest/deployments/statuses#list-deployment-statuses: paged with
      // per_page (max 100) and page, newest first; 404 for a deployment the repository does not have.
      handler: (p, _q, ctx) => {
        const r = ofRepo(p);
        const d = r?.deployments.find((x) => x.id === Number(p.deployment_id));
        if (!d) return h.notFound();
        const { slice, headers } = h.paged(ctx, d.statuses.slice().reverse());
        return { status: 200, body: slice.map((s) => statusJson(d, s)), headers };
      },
    },
    {
      method: "GET",
      pattern: "/repos/{owner}/{repo}/compare/{basehead}",
      // https://docs.github.com/en/rest/commits/commits#compare-two-commits: "equivalent to running
      // git log BASE..HEAD", commits "in chronological order"; without per_page or page "the returned
      // list is limited to 250 commits, and the last commit in the list is the most recent of the
      // entire comparison"; with them, chronological pages (per_page max 100); 404 when a side is unknown.
      handler: (p, q, ctx) => {
        const r = ofRepo(p);
        const m = /^(.+?)\.\.\.(.+)$/.exec(p.basehead ?? "");
        if (!r || !m) return h.notFound();
        const inRepo = r.repo.toLowerCase() === world.repo.toLowerCase();
        const base = inRepo ? resolve(m[1] as string) : undefined;
        const head = inRepo ? resolve(m[2] as string) : undefined;
        if (!base || !head) return h.notFound();
        const cmp = compareCommits(world, base, head);
        const paging = q.has("per_page") || q.has("page");
        let commits = cmp.commits;
        let headers: Record<string, string> = {};
        if (paging) ({ slice: commits, headers } = h.paged(ctx, cmp.commits));
        else commits = cmp.commits.slice(-COMPARE_UNPAGED_LIMIT);
        const u = `${repoUrl(r.repo)}/compare/${m[1]}...${m[2]}`;
        const html = `${h.htmlBase}/${r.repo}/compare/${m[1]}...${m[2]}`;
        return {
          status: 200,
          headers,
          body: {
            url: u, html_url: html, permalink_url: `${h.htmlBase}/${r.repo}/compare/acme:${base.slice(0, 7)}...acme:${head.slice(0, 7)}`, diff_url: `${html}.diff`, patch_url: `${html}.patch`,
            base_commit: commitJson(r.repo, world.bySha.get(base) as SimCommit), merge_base_commit: commitJson(r.repo, cmp.mergeBase),
            status: cmp.status, ahead_by: cmp.aheadBy, behind_by: cmp.behindBy, total_commits: cmp.aheadBy,
            commits: commits.map((c) => commitJson(r.repo, c)),
            ...(!paging || (q.get("page") ?? "1") === "1" ? { files: [] } : {}),
          },
        };
      },
    },
  ];
}
