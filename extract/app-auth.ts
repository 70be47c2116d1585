/**
 * GitHub App authentication for the extractor: one installation per owner of the scope, installation
 * tokens minted and refreshed here, chosen per request from the owner in the URL path.
 *
 * Built on `@octokit/auth-app` (JWT signing, the `POST /app/installations/{id}/access_tokens` call, its
 * time-skew retry), with what it does not do handled here. Facts from its source (v8.3):
 * - it caches installation tokens in an LRU for 59 minutes from the time they were minted, whatever
 *   `expires_at` says: a token that expires sooner (revoked, or a server with a shorter lifetime) is
 *   served from its cache after it has expired;
 * - `auth({ type: "installation", refresh: true })` skips that cache, mints, and overwrites the entry;
 * - its request hook serves one installation per auth instance, and retries a 401 only within 5 s of
 *   minting (GitHub's token replication delay), never re-minting;
 * - concurrent mints of one installation id share one promise (a module-wide map keyed by the id).
 * So this module keeps its own record of each token and its `expires_at`, always asks auth-app with
 * `refresh: true` when it needs a new one, refreshes a token before it expires (5 minutes early, or a
 * quarter of the lifetime for short-lived tokens), and re-mints once when GitHub answers 401 anyway.
 *
 * Every token and JWT is registered as a secret before it can reach a log line.
 */
import type { InstallationAccessTokenAuthentication } from "@octokit/auth-app";
import { registerSecret, type Logger } from "../log/logger.js";
import type { GitHubClient } from "./client.js";

export interface AppScope {
  repos: string[];
  orgs: string[];
  users: string[];
}

/** Requests and tokens spent on authentication: JWT-authenticated, outside the installations' rate limits. */
export interface AuthUsage {
  /** HTTP exchanges of installation lookups and token minting, retries included. */
  requests: number;
  /** Installation tokens minted (the first of each installation, refreshes, re-mints after a 401). */
  tokensMinted: number;
  /** Installations found (one per owner of the scope). */
  installations: number;
}

export interface Installation {
  id: number;
  /** Login of the account the App is installed on. */
  account: string;
}

interface TokenState {
  token: string;
  mintedAt: number;
  expiresAt: number;
  /** When the token is replaced by a fresh one, ahead of its expiry. */
  refreshAt: number;
}

/** The App is not installed on an owner of the scope (or cannot see it). */
export class AppNotInstalledError extends Error {
  override readonly name = "AppNotInstalledError";
}

/** GitHub rejected the App's JWT: wrong App ID or key, or a clock far off. */
export class AppJwtRejectedError extends Error {
  override readonly name = "AppJwtRejectedError";
}

const status = (error: unknown): number | undefined => (error as { status?: number }).status;

/** Registers a PEM key, its escaped one-line forms and every line of its body as secrets. */
export function registerPrivateKey(pem: string): void {
  registerSecret(pem);
  registerSecret(JSON.stringify(pem).slice(1, -1));
  registerSecret(pem.replace(/\n/g, "\\n"));
  for (const line of pem.split("\n")) if (!line.startsWith("-----")) registerSecret(line.trim());
}

/** How early a token is replaced: 5 minutes before it expires, or a quarter of a shorter lifetime. */
export function refreshTime(mintedAt: number, expiresAt: number): number {
  const lifetime = Math.max(1000, expiresAt - mintedAt);
  return mintedAt + lifetime - Math.min(5 * 60_000, lifetime / 4);
}

export class AppInstallations {
  private readonly installations = new Map<string, Promise<Installation>>();
  private readonly tokens = new Map<number, TokenState>();
  private readonly minting = new Map<number, Promise<TokenState>>();
  private readonly repositoryOwners = new Map<string, string>();
  private readonly counts = { tokens: 0, installations: 0 };
  readonly usage: AuthUsage;

  constructor(
    /** An Octokit whose auth strategy is `createAppAuth` (JWT on the App routes, `auth()` mints). */
    private readonly app: GitHubClient,
    readonly appId: number,
    readonly scope: AppScope,
    private readonly log: Logger,
    authRequests: () => number,
    private readonly now: () => number = Date.now,
  ) {
    const minted = this.counts;
    this.usage = {
      get requests() {
        return authRequests();
      },
      get tokensMinted() {
        return minted.tokens;
      },
      get installations() {
        return minted.installations;
      },
    };
  }

  /** Every owner of the scope, in scope order (orgs, users, then owners of single repositories). */
  owners(): string[] {
    const seen = new Map<string, string>();
    for (const o of [...this.scope.orgs, ...this.scope.users, ...this.scope.repos.map((r) => r.split("/")[0] ?? r)]) if (!seen.has(o.toLowerCase())) seen.set(o.toLowerCase(), o);
    return [...seen.values()];
  }

  /** The App's installation on an owner: looked up once with the App's JWT. */
  installationOf(owner: string): Promise<Installation> {
    const key = owner.toLowerCase();
    let found = this.installations.get(key);
    if (!found) {
      found = this.lookup(owner);
      this.installations.set(key, found);
      // A failure stays memoised (every request of that owner fails the same way) but is not unhandled.
      found.catch(() => {});
    }
    return found;
  }

  private async lookup(owner: string): Promise<Installation> {
    const key = owner.toLowerCase();
    const org = this.scope.orgs.find((o) => o.toLowerCase() === key);
    const user = this.scope.users.find((u) => u.toLowerCase() === key);
    const repo = this.scope.repos.find((r) => r.split("/")[0]?.toLowerCase() === key);
    const [repoOwner = owner, repoName = ""] = (repo ?? "").split("/");
    // The most specific lookup the scope allows; an owner known only from a path goes by its login.
    const path = org ? `/orgs/${org}/installation` : repo && !user ? `/repos/${repoOwner}/${repoName}/installation` : `/users/${user ?? owner}/installation`;
    try {
      const { data } = org
        ? await this.app.request("GET /orgs/{org}/installation", { org })
        : repo && !user
          ? await this.app.request("GET /repos/{owner}/{repo}/installation", { owner: repoOwner, repo: repoName })
          : await this.app.request("GET /users/{username}/installation", { username: user ?? owner });
      const account = data.account && "login" in data.account ? data.account.login : owner;
      this.counts.installations += 1;
      this.log.info("GitHub App installation found", { app_id: this.appId, owner, installation_id: data.id, repository_selection: data.repository_selection });
      return { id: data.id, account };
    } catch (error) {
      const code = status(error);
      if (code === 404) {
        throw new AppNotInstalledError(`GitHub App ${this.appId} is not installed on ${owner} (GET ${path} answered 404): install the App on ${owner}, or remove ${owner} from the scope`);
      }
      if (code === 401) {
        throw new AppJwtRejectedError(
          `GitHub rejected the App's JWT (GET ${path}: 401 ${(error as Error).message}): GITHUB_APP_ID and the private key must belong to the same App, and this machine's clock must be right`,
        );
      }
      throw error;
    }
  }

  /** A valid installation token for an owner, minted or refreshed as needed. */
  async tokenFor(owner: string): Promise<{ token: string; installation: Installation; mintedAt: number }> {
    const installation = await this.installationOf(owner);
    const current = this.tokens.get(installation.id);
    const state = current && this.now() < current.refreshAt ? current : await this.mint(installation, current ? "refresh" : "first");
    return { token: state.token, installation, mintedAt: state.mintedAt };
  }

  /**
   * A new token after `failed` was answered 401 (revoked, expired early, clock skew). If another request
   * already replaced that token, its replacement is returned without minting again.
   */
  async renew(installation: Installation, failed: string): Promise<string> {
    const current = this.tokens.get(installation.id);
    if (current && current.token !== failed && this.now() < current.refreshAt) return current.token;
    return (await this.mint(installation, "401")).token;
  }

  private mint(installation: Installation, why: "first" | "refresh" | "401"): Promise<TokenState> {
    const pending = this.minting.get(installation.id);
    if (pending) return pending;
    const next = (async () => {
      // refresh: true — auth-app's own cache would hand back the same token for 59 minutes.
      const auth = (await this.app.auth({ type: "installation", installationId: installation.id, refresh: true })) as InstallationAccessTokenAuthentication;
      registerSecret(auth.token);
      const mintedAt = this.now();
      const parsed = Date.parse(auth.expiresAt);
      const expiresAt = Number.isFinite(parsed) ? parsed : mintedAt + 3600_000;
      const state: TokenState = { token: auth.token, mintedAt, expiresAt, refreshAt: refreshTime(mintedAt, expiresAt) };
      this.tokens.set(installation.id, state);
      this.counts.tokens += 1;
      this.log.debug("installation token minted", { installation_id: installation.id, account: installation.account, reason: why, expires_at: auth.expiresAt });
      return state;
    })().finally(() => this.minting.delete(installation.id));
    this.minting.set(installation.id, next);
    return next;
  }

  /** Remembers whose repository `/repositories/{id}` paths (GitHub's Link headers) point at. */
  learnRepository(id: string, owner: string): void {
    this.repositoryOwners.set(id, owner);
  }

  ownerOfRepository(id: string): string | undefined {
    return this.repositoryOwners.get(id);
  }
}

/** Where a request goes: an owner's path, a repository id (Link headers), or no owner at all. */
export type RequestTarget = { kind: "owner"; owner: string; packages: boolean } | { kind: "repository"; id: string } | { kind: "none" };

export function requestTarget(path: string): RequestTarget {
  const p = path.split(/[?#]/)[0] ?? path;
  const repos = /^\/repos\/([^/]+)(?:\/|$)/.exec(p);
  if (repos?.[1]) return { kind: "owner", owner: decodeURIComponent(repos[1]), packages: false };
  const account = /^\/(?:orgs|users)\/([^/]+)(\/packages(?:\/|$))?/.exec(p);
  if (account?.[1]) return { kind: "owner", owner: decodeURIComponent(account[1]), packages: account[2] !== undefined };
  const byId = /^\/repositories\/(\d+)(?:\/|$)/.exec(p);
  if (byId?.[1]) return { kind: "repository", id: byId[1] };
  return { kind: "none" };
}

/** Repository ids in a Link header (`/repositories/{id}/...`). */
export function linkedRepositoryIds(link: string | undefined): string[] {
  if (!link) return [];
  return [...new Set([...link.matchAll(/\/repositories\/(\d+)\//g)].map((m) => m[1] as string))];
}
