/**
 * `actions-warehouse redeliver`: finds the webhook deliveries that never succeeded and asks GitHub to
 * deliver them again, so `serve` misses no event while it (or the network in front of it) was down.
 *
 * - Lists every delivery of one hook inside the window (`--since-hours`, default GitHub's retention of
 *   72 hours; GHES keeps 7 days, so up to 168 there) with GitHub's cursor pagination (Octokit follows the
 *   `Link: rel="next"` cursor), newest first, stopping at the first page that reaches past the window:
 *   `GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries`, `GET /orgs/{org}/hooks/{hook_id}/deliveries`
 *   or `GET /app/hook/deliveries` (the App's hook: authenticated with the App's JWT).
 * - Groups them by GUID (one event; every attempt of it shares the GUID). A GUID with any 2xx attempt was
 *   delivered. A GUID whose newest attempt is a queued redelivery (`status: "pending"`) is waiting:
 *   nothing is requested. Every other GUID failed: its newest failed attempt is redelivered with
 *   `POST .../deliveries/{delivery_id}/attempts`, once per GUID per run.
 * - So a run is idempotent: once a redelivery succeeded (or is queued), the next run leaves the GUID alone.
 *
 * Credentials: `GITHUB_TOKEN` (admin:repo_hook / admin:org_hook), or a GitHub App (`GITHUB_APP_ID` and
 * `GITHUB_APP_PRIVATE_KEY` or `GITHUB_APP_PRIVATE_KEY_FILE`): `--app` always takes the App's JWT; with
 * `--repo` or `--org` an App's installation token is used when no token is set. Never logged.
 */
import { createAppAuth } from "@octokit/auth-app";
import { createGitHubClient, type GitHubClient } from "../extract/client.js";
import { ConfigError, resolveGitHubAuth } from "../extract/config.js";
import { registerSecret, type Logger } from "../log/logger.js";
import { formatTable } from "./summary.js";

export type HookTarget = { kind: "repo"; owner: string; repo: string; hookId: number } | { kind: "org"; org: string; hookId: number } | { kind: "app" };

/** GitHub's retention of deliveries: 3 days on github.com (and GHE.com), 7 days on GHES. */
export const RETENTION_HOURS = { github: 72, ghes: 168 } as const;

export interface RedeliverOptions {
  apiUrl: string;
  token?: string;
  /** GitHub App credentials: the JWT for `--app`, installation tokens for repo and org hooks. */
  app?: { appId: number; privateKey: string };
  target: HookTarget;
  sinceHours: number;
  dryRun: boolean;
  /** Deliveries per page (GitHub allows up to 100). */
  perPage?: number;
  log: Logger;
  maxRetrySeconds?: number;
  retryTimeScaleMs?: number;
  now?: () => number;
}

export interface Delivery {
  id: number;
  guid: string;
  delivered_at: string;
  redelivery: boolean;
  status: string;
  status_code: number;
  event: string;
  action: string | null;
}

export interface RedeliverResult {
  /** Deliveries inside the window. */
  deliveries: number;
  pages: number;
  /** Distinct GUIDs inside the window. */
  guids: number;
  alreadyDelivered: number;
  pending: number;
  /** GUIDs with no successful attempt and no queued redelivery. */
  failed: number;
  /** Redeliveries requested and accepted (0 on a dry run). */
  redelivered: number;
  failedToRedeliver: number;
  /** What was (or, on a dry run, would be) requested: the newest failed attempt of each failed GUID. */
  requests: { guid: string; deliveryId: number; event: string; action: string | null; status: string; outcome: "redelivered" | "failed" | "dry run" }[];
  dryRun: boolean;
}

const isSuccess = (d: Pick<Delivery, "status_code">): boolean => d.status_code >= 200 && d.status_code < 300;
/** A redelivery GitHub has queued and not attempted yet. */
const isPending = (d: Pick<Delivery, "status" | "status_code" | "redelivery">): boolean => d.redelivery && d.status_code === 0 && /^(pending|queued)$/i.test(d.status.trim());

/** The largest window GitHub keeps at an API URL: 72 hours on api.github.com and GHE.com, 168 on GHES. */
export function maxSinceHours(apiUrl: string): number {
  let host = "";
  try {
    host = new URL(apiUrl).hostname.toLowerCase();
  } catch {
    return RETENTION_HOURS.github;
  }
  return host === "api.github.com" || host.endsWith(".ghe.com") ? RETENTION_HOURS.github : RETENTION_HOURS.ghes;
}

/** Classifies the GUIDs of a window; `toRedeliver` holds the newest failed attempt of each failed GUID. */
export function classify(deliveries: Delivery[]): { guids: number; alreadyDelivered: number; pending: number; toRedeliver: Delivery[] } {
  const byGuid = new Map<string, Delivery[]>();
  for (const d of deliveries) {
    const list = byGuid.get(d.guid);
    if (list) list.push(d);
    else byGuid.set(d.guid, [d]);
  }
  let alreadyDelivered = 0;
  let pending = 0;
  const toRedeliver: Delivery[] = [];
  const newestFirst = (a: Delivery, b: Delivery) => Date.parse(b.delivered_at) - Date.parse(a.delivered_at) || b.id - a.id;
  for (const attempts of byGuid.values()) {
    attempts.sort(newestFirst);
    if (attempts.some(isSuccess)) alreadyDelivered += 1;
    else if (attempts[0] && isPending(attempts[0])) pending += 1;
    else {
      const latestFailed = attempts.find((a) => !isPending(a));
      if (latestFailed) toRedeliver.push(latestFailed);
    }
  }
  toRedeliver.sort((a, b) => a.id - b.id);
  return { guids: byGuid.size, alreadyDelivered, pending, toRedeliver };
}

function describeTarget(t: HookTarget): string {
  return t.kind === "repo" ? `hook ${t.hookId} of repository ${t.owner}/${t.repo}` : t.kind === "org" ? `hook ${t.hookId} of organisation ${t.org}` : "the GitHub App's hook";
}

function clientFor(options: RedeliverOptions): GitHubClient {
  const common = {
    apiUrl: options.apiUrl,
    log: options.log,
    ...(options.maxRetrySeconds !== undefined ? { maxRetrySeconds: options.maxRetrySeconds } : {}),
    ...(options.retryTimeScaleMs !== undefined ? { retryTimeScaleMs: options.retryTimeScaleMs } : {}),
  };
  const t = options.target;
  if (t.kind === "app") {
    if (!options.app) throw new ConfigError([{ field: "--app", message: "the App's hook needs the App's credentials: set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_FILE)" }]);
    const { octokit } = createGitHubClient(common);
    const auth = createAppAuth({ appId: options.app.appId, privateKey: options.app.privateKey });
    // Registered last, so it runs first: every request carries a fresh App JWT (10 minutes at most).
    octokit.hook.before("request", async (req) => {
      const { token } = await auth({ type: "app" });
      registerSecret(token);
      req.headers.authorization = `bearer ${token}`;
    });
    return octokit;
  }
  if (options.token) return createGitHubClient({ ...common, token: options.token }).octokit;
  if (options.app) {
    const scope = t.kind === "repo" ? { repos: [`${t.owner}/${t.repo}`], orgs: [], users: [] } : { repos: [], orgs: [t.org], users: [] };
    return createGitHubClient({ ...common, app: { ...options.app, scope } }).octokit;
  }
  return createGitHubClient(common).octokit;
}

/** Every delivery of the hook delivered at or after `cutoff` (epoch ms). */
async function listDeliveries(octokit: GitHubClient, t: HookTarget, perPage: number, cutoff: number): Promise<{ deliveries: Delivery[]; pages: number }> {
  const iterator =
    t.kind === "repo"
      ? octokit.paginate.iterator("GET /repos/{owner}/{repo}/hooks/{hook_id}/deliveries", { owner: t.owner, repo: t.repo, hook_id: t.hookId, per_page: perPage })
      : t.kind === "org"
        ? octokit.paginate.iterator("GET /orgs/{org}/hooks/{hook_id}/deliveries", { org: t.org, hook_id: t.hookId, per_page: perPage })
        : octokit.paginate.iterator("GET /app/hook/deliveries", { per_page: perPage });
  const deliveries: Delivery[] = [];
  let pages = 0;
  for await (const page of iterator) {
    pages += 1;
    let reachedCutoff = false;
    for (const d of page.data) {
      if (Date.parse(d.delivered_at) < cutoff) {
        reachedCutoff = true;
        continue;
      }
      deliveries.push({ id: d.id, guid: d.guid, delivered_at: d.delivered_at, redelivery: d.redelivery, status: d.status, status_code: d.status_code, event: d.event, action: d.action });
    }
    // Newest first: once a page reaches past the window, later pages are older still.
    if (reachedCutoff) break;
  }
  return { deliveries, pages };
}

async function requestRedelivery(octokit: GitHubClient, t: HookTarget, deliveryId: number): Promise<void> {
  if (t.kind === "repo") await octokit.request("POST /repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}/attempts", { owner: t.owner, repo: t.repo, hook_id: t.hookId, delivery_id: deliveryId });
  else if (t.kind === "org") await octokit.request("POST /orgs/{org}/hooks/{hook_id}/deliveries/{delivery_id}/attempts", { org: t.org, hook_id: t.hookId, delivery_id: deliveryId });
  else await octokit.request("POST /app/hook/deliveries/{delivery_id}/attempts", { delivery_id: deliveryId });
}

export async function runRedeliver(options: RedeliverOptions): Promise<RedeliverResult> {
  const max = maxSinceHours(options.apiUrl);
  if (!Number.isInteger(options.sinceHours) || options.sinceHours < 1 || options.sinceHours > max) {
    throw new ConfigError([
      { field: "--since-hours", message: `must be 1 to ${max} at ${options.apiUrl} (GitHub keeps deliveries ${max === RETENTION_HOURS.github ? "3 days on github.com" : "7 days on GitHub Enterprise Server"}), got ${options.sinceHours}` },
    ]);
  }
  const perPage = options.perPage ?? 100;
  if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100) throw new ConfigError([{ field: "--per-page", message: `must be 1 to 100, got ${perPage}` }]);
  const octokit = clientFor(options);
  const now = (options.now ?? Date.now)();
  const cutoff = now - options.sinceHours * 3600_000;
  const { deliveries, pages } = await listDeliveries(octokit, options.target, perPage, cutoff);
  const { guids, alreadyDelivered, pending, toRedeliver } = classify(deliveries);
  options.log.info(`${describeTarget(options.target)}: ${deliveries.length} deliveries of ${guids} events in the last ${options.sinceHours} h; ${toRedeliver.length} never delivered`, {
    deliveries: deliveries.length, pages, guids, already_delivered: alreadyDelivered, pending, failed: toRedeliver.length, dry_run: options.dryRun,
  });
  const result: RedeliverResult = { deliveries: deliveries.length, pages, guids, alreadyDelivered, pending, failed: toRedeliver.length, redelivered: 0, failedToRedeliver: 0, requests: [], dryRun: options.dryRun };
  for (const d of toRedeliver) {
    const request = { guid: d.guid, deliveryId: d.id, event: d.event, action: d.action, status: d.status };
    if (options.dryRun) {
      result.requests.push({ ...request, outcome: "dry run" });
      continue;
    }
    try {
      await requestRedelivery(octokit, options.target, d.id);
      result.redelivered += 1;
      result.requests.push({ ...request, outcome: "redelivered" });
      options.log.debug("redelivery requested", { guid: d.guid, delivery_id: d.id, event: d.event, action: d.action, last_status: d.status });
    } catch (error) {
      result.failedToRedeliver += 1;
      result.requests.push({ ...request, outcome: "failed" });
      options.log.warn(`redelivery of ${d.guid} (delivery ${d.id}) failed: ${(error as Error).message}`, { guid: d.guid, delivery_id: d.id, status: (error as { status?: number }).status });
    }
  }
  return result;
}

export function redeliverSummary(r: RedeliverResult): string {
  const rows: [string, number][] = [
    ["deliveries listed", r.deliveries],
    ["events (GUIDs) found", r.guids],
    ["already delivered", r.alreadyDelivered],
    ["redelivery pending", r.pending],
    ["never delivered", r.failed],
    [r.dryRun ? "would redeliver (dry run)" : "redelivered", r.dryRun ? r.requests.length : r.redelivered],
    ["failed to redeliver", r.failedToRedeliver],
  ];
  return formatTable(["deliveries", "count"], rows);
}

/** The command's settings from flags and the environment; a ConfigError names each wrong field. */
export function redeliverOptions(
  flags: { repo?: string; org?: string; app?: boolean; hookId?: number; sinceHours: number; dryRun?: boolean; perPage: number },
  env: { apiUrl: string; token?: string | undefined; appId?: string | undefined; appPrivateKey?: string | undefined; appPrivateKeyFile?: string | undefined },
  log: Logger,
): RedeliverOptions {
  const issues: { field: string; message: string }[] = [];
  const chosen = [flags.repo !== undefined, flags.org !== undefined, flags.app === true].filter(Boolean).length;
  if (chosen !== 1) issues.push({ field: "--repo/--org/--app", message: "give exactly one: --repo OWNER/NAME --hook-id N, --org ORG --hook-id N, or --app" });
  let target: HookTarget | undefined;
  if (flags.app === true) {
    if (flags.hookId !== undefined) issues.push({ field: "--hook-id", message: "not with --app: a GitHub App has one hook" });
    target = { kind: "app" };
  } else if (flags.hookId === undefined || flags.hookId < 1) {
    issues.push({ field: "--hook-id", message: "required with --repo or --org: the hook's id (its settings page URL ends with it)" });
  } else if (flags.repo !== undefined) {
    const m = /^([\w.-]+)\/([\w.-]+)$/.exec(flags.repo);
    if (!m) issues.push({ field: "--repo", message: `must be OWNER/NAME, got ${JSON.stringify(flags.repo)}` });
    else target = { kind: "repo", owner: m[1] ?? "", repo: m[2] ?? "", hookId: flags.hookId };
  } else if (flags.org !== undefined) {
    if (!/^[\w.-]+$/.test(flags.org)) issues.push({ field: "--org", message: `must be an organisation login, got ${JSON.stringify(flags.org)}` });
    else target = { kind: "org", org: flags.org, hookId: flags.hookId };
  }
  // --app authenticates as the App whatever GITHUB_TOKEN says; repo and org hooks take one credential.
  const auth = resolveGitHubAuth({ ...(flags.app === true ? {} : { token: env.token }), appId: env.appId, appPrivateKey: env.appPrivateKey, appPrivateKeyFile: env.appPrivateKeyFile });
  issues.push(...auth.issues);
  if (flags.app === true && !auth.app && auth.issues.length === 0) {
    issues.push({ field: "--app", message: "the App's hook needs the App's credentials: set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_FILE)" });
  }
  if (issues.length || !target) throw new ConfigError(issues);
  return {
    apiUrl: env.apiUrl,
    ...(env.token && flags.app !== true ? { token: env.token } : {}),
    ...(auth.app ? { app: auth.app } : {}),
    target,
    sinceHours: flags.sinceHours,
    dryRun: flags.dryRun === true,
    perPage: flags.perPage,
    log,
  };
}
