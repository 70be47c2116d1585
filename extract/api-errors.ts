/**
 * API failures that say what failed and what to do next.
 *
 * Every request the extractors make runs inside a stage ("listing workflow runs") on a resource
 * (repository acme/api, organisation acme, the npm packages of acme). When a request still fails after
 * the client's retries, `toApiFailure` turns Octokit's error ("Not Found - https://docs.github.com/rest",
 * "500 with id UNKNOWN") into an `ApiFailure`: the stage, the resource, the HTTP status (or the
 * transport cause: ECONNREFUSED, ENOTFOUND, timeout) and one sentence saying what to do. Each kind of
 * failure has its own wording; `docs/runbook.md` lists them.
 *
 * Telling a missing repository from a wrong GITHUB_API_URL: a 404 whose body is not JSON, or a 404 when
 * the API root (`GET {GITHUB_API_URL}/`, which GitHub and GitHub Enterprise Server both serve) answers
 * 404 or something that is not JSON, means GITHUB_API_URL does not point at a GitHub REST API.
 */
import type { GitHubClient } from "./client.js";

/** What a request was about: named in every failure message. */
export type ApiResource =
  | { kind: "repository"; fullName: string }
  | { kind: "organization"; login: string }
  | { kind: "user"; login: string }
  | { kind: "packages"; owner: string; ownerKind: "Organization" | "User"; packageType: string; packageName?: string };

/** Where in the extract a request was made. */
export interface ApiStage {
  /** What the extractor was doing, e.g. "listing workflow runs", "listing jobs of run 123". */
  stage: string;
  resource: ApiResource;
}

export type ApiFailureKind =
  /** 404 on /repos/{owner}/{repo}/...: no such repository, or the token cannot see it. */
  | "repository-not-found"
  /** 404 on /orgs/{org}/repos or /users/{user}/repos. */
  | "owner-not-found"
  /** GITHUB_API_URL answers 404 at its root, or answers 404 pages that are not JSON. */
  | "not-a-github-api"
  /** An answer that is not JSON (an HTML page: a proxy, a login page, a web server). */
  | "not-json"
  /** A JSON answer of the wrong shape (another JSON API answered). */
  | "unexpected-body"
  /** No HTTP answer: connection refused, host not found, timeouts, TLS. */
  | "unreachable"
  /** 401: the token was rejected, or none was sent. */
  | "bad-credentials"
  /** 403 without rate-limit headers: a missing scope or permission. */
  | "forbidden"
  /** 403 with `x-github-sso`: the organisation enforces SAML SSO and the token is not authorised for it. */
  | "sso-required"
  /** 403/404 on the packages endpoints: the token lacks `read:packages` (or cannot read packages at all). */
  | "packages-scope"
  /** 403/429 with rate-limit headers, after the throttling plugin gave up. */
  | "rate-limited"
  /** 5xx after every retry. */
  | "server-error"
  | "other";

export interface ApiFailureDetails {
  kind: ApiFailureKind;
  stage: string;
  /** "repository acme/api", "organisation acme", "user octo". */
  resource: string;
  method: string;
  /** Path (and query) relative to GITHUB_API_URL. */
  path: string;
  /** HTTP status; null when no answer came (see `cause`). */
  status: number | null;
  /** Transport cause when no answer came: ECONNREFUSED, ENOTFOUND, timeout, ... */
  cause: string | null;
  /** GitHub's `message`, when the answer carried one. */
  githubMessage: string | null;
  /** Exchanges made for this request, retries included. */
  attempts: number;
  /** What happened, in words. */
  problem: string;
  /** What to do next. */
  fix: string;
}

/** A request that failed for good, with the stage, resource, HTTP status and what to do next. */
export class ApiFailure extends Error {
  override readonly name = "ApiFailure";
  readonly kind: ApiFailureKind;
  readonly status: number | null;
  constructor(readonly details: ApiFailureDetails) {
    super(`${details.stage} of ${details.resource} failed: ${details.problem}. ${details.fix}`);
    this.kind = details.kind;
    this.status = details.status;
  }
}

/** A response whose body could not be read completely (cut short, or not within the timeout): retried like a dropped connection. */
export class BrokenResponseError extends Error {
  override readonly name = "BrokenResponseError";
  constructor(
    message: string,
    readonly reason: "timeout" | "truncated body",
  ) {
    super(message);
  }
}

/** A JSON request answered with something else (an HTML page): not retried. */
export class NotJsonAnswerError extends Error {
  override readonly name = "NotJsonAnswerError";
  constructor(
    readonly status: number,
    readonly contentType: string | null,
    readonly url: string,
    /** The page's <title>, when it has one. */
    readonly title: string | null,
  ) {
    super(`${url} answered HTTP ${status} with content-type ${contentType ?? "(none)"}, not JSON${title ? ` (page title ${JSON.stringify(title)})` : ""}`);
  }
}

export function htmlTitle(text: string): string | null {
  const m = /<title[^>]*>([^<]{1,200})<\/title>/i.exec(text);
  return m?.[1] ? m[1].trim().replace(/\s+/g, " ").slice(0, 80) : null;
}

// ---------------------------------------------------------------- what an Octokit error holds

interface HttpErrorShape {
  status?: number;
  message?: string;
  cause?: unknown;
  response?: { status?: number; headers?: Record<string, string | number | undefined>; data?: unknown; url?: string };
  request?: { method?: string; url?: string; headers?: Record<string, string | number | undefined> };
}

const shape = (error: unknown): HttpErrorShape => (typeof error === "object" && error !== null ? (error as HttpErrorShape) : {});

/** Attempts and elapsed time of requests the client gave up on (set by its retry loop). */
const attemptsSeen = new WeakMap<object, { attempts: number; elapsedMs: number; limitSeconds: number }>();
export function noteAttempts(error: unknown, attempts: number, elapsedMs: number, limitSeconds: number): void {
  if (typeof error === "object" && error !== null) attemptsSeen.set(error, { attempts, elapsedMs, limitSeconds });
}
export function attemptsOf(error: unknown): { attempts: number; elapsedMs: number; limitSeconds: number } | undefined {
  return typeof error === "object" && error !== null ? attemptsSeen.get(error) : undefined;
}

/** The error and its causes (`cause`, and the members of an AggregateError), outermost first. */
function causeChain(error: unknown): unknown[] {
  const out: unknown[] = [];
  const queue: unknown[] = [error];
  while (queue.length > 0 && out.length < 12) {
    const e = queue.shift();
    if (e === undefined || e === null || out.includes(e)) continue;
    out.push(e);
    if (typeof e === "object") {
      queue.push((e as { cause?: unknown }).cause);
      if (e instanceof AggregateError) queue.push(...(e.errors as unknown[]));
    }
  }
  return out;
}

export function notJsonAnswerOf(error: unknown): NotJsonAnswerError | undefined {
  return causeChain(error).find((e): e is NotJsonAnswerError => e instanceof NotJsonAnswerError);
}

/** Transport codes after which retrying for a minute is pointless: a few quick attempts, then give up. */
export const FAST_FAIL_CAUSES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);
/** TLS certificate problems: retrying cannot help. */
const TLS_CAUSE = /CERT|SELF_SIGNED|UNABLE_TO_(?:GET|VERIFY)|ERR_TLS/;

/**
 * The cause of a request that got no HTTP answer: a system or undici error code (ECONNREFUSED,
 * ENOTFOUND, ECONNRESET, UND_ERR_SOCKET, ...), `timeout` or `truncated body`; undefined when an HTTP
 * answer came (then the status tells) or the body was not JSON.
 */
export function transportCause(error: unknown): string | undefined {
  const e = shape(error);
  if (e.response !== undefined) return undefined;
  const chain = causeChain(error);
  if (chain.some((c) => c instanceof NotJsonAnswerError)) return undefined;
  const broken = chain.find((c): c is BrokenResponseError => c instanceof BrokenResponseError);
  if (broken) return broken.reason;
  for (const c of chain) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === "string" && /^(?:E[A-Z_]+|UND_ERR_[A-Z_]+|[A-Z_]*CERT[A-Z_]*|UNABLE_TO_[A-Z_]+|ERR_[A-Z_]+)$/.test(code)) return code;
  }
  for (const c of chain) if ((c as { name?: unknown }).name === "AbortError" || (c as { name?: unknown }).name === "TimeoutError") return "timeout";
  // Octokit turns every fetch failure into a RequestError with status 500 and no response.
  return e.status === 500 || e.status === undefined ? "connection error" : undefined;
}

export function isTlsCause(cause: string): boolean {
  return TLS_CAUSE.test(cause);
}

function header(e: HttpErrorShape, name: string): string | undefined {
  const v = e.response?.headers?.[name];
  return v === undefined ? undefined : String(v);
}

function githubMessage(e: HttpErrorShape): string | null {
  const data = e.response?.data;
  if (typeof data === "object" && data !== null && typeof (data as { message?: unknown }).message === "string") return (data as { message: string }).message;
  return null;
}

// ---------------------------------------------------------------- probing GITHUB_API_URL

const probes = new Map<string, Promise<"api" | "not-api" | "unknown">>();

/**
 * Whether GITHUB_API_URL looks like a GitHub REST API: its root (`GET /`, served by github.com and GHES
 * at /api/v3) answers JSON. A 404 or a non-JSON answer there means it does not. Asked once per URL.
 */
export function probeApiRoot(apiUrl: string, timeoutMs = 5000): Promise<"api" | "not-api" | "unknown"> {
  const base = apiUrl.replace(/\/+$/, "");
  let probe = probes.get(base);
  if (!probe) {
    probe = (async () => {
      try {
        const response = await fetch(`${base}/`, { headers: { accept: "application/vnd.github+json", "user-agent": "actions-warehouse" }, signal: AbortSignal.timeout(timeoutMs) });
        const type = response.headers.get("content-type");
        await response.arrayBuffer().catch(() => undefined);
        if (!type || !/json/i.test(type)) return "not-api";
        if (response.status === 404) return "not-api";
        return response.status < 500 ? "api" : "unknown";
      } catch {
        return "unknown";
      }
    })();
    probes.set(base, probe);
  }
  return probe;
}

/** What GITHUB_API_URL probably should be, when its shape says so (`https://HOST/api` → `https://HOST/api/v3`). */
function suggestedApiUrl(apiUrl: string): string | null {
  try {
    const url = new URL(apiUrl);
    const path = url.pathname.replace(/\/+$/, "");
    if (url.hostname === "github.com" || url.hostname === "www.github.com") return "https://api.github.com";
    if (url.hostname === "api.github.com") return path === "" ? null : "https://api.github.com";
    if (path === "/api") return `${url.origin}/api/v3`;
    if (path === "" || !/\/api\/v3$/.test(path)) return `${url.origin}/api/v3`;
    return null;
  } catch {
    return null;
  }
}

/** "for GitHub Enterprise Server use https://HOST/api/v3 (here probably ...), for github.com https://api.github.com ..." */
function apiUrlHint(apiUrl: string): string {
  const suggestion = suggestedApiUrl(apiUrl);
  return (
    `for GitHub Enterprise Server use https://HOST/api/v3` +
    `${suggestion && suggestion !== "https://api.github.com" ? ` (here probably ${suggestion})` : ""}, for github.com https://api.github.com (the default, GITHUB_API_URL unset)`
  );
}

export function notGitHubApiAdvice(apiUrl: string): string {
  return `GITHUB_API_URL ${apiUrl} does not look like a GitHub REST API: ${apiUrlHint(apiUrl)}`;
}

// ---------------------------------------------------------------- the conversion

export function resourceLabel(r: ApiResource): string {
  switch (r.kind) {
    case "repository":
      return `repository ${r.fullName}`;
    case "organization":
      return `organisation ${r.login}`;
    case "user":
      return `user ${r.login}`;
    case "packages":
      // The stage names the package type and package ("listing versions of npm package web").
      return `${r.ownerKind === "Organization" ? "organisation" : "user"} ${r.owner}`;
  }
}

const PACKAGES_SCOPES = /\b(?:read|write|delete):packages\b/;

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function tokenKind(e: HttpErrorShape): "none" | "app" | "token" {
  const auth = e.request?.headers?.authorization;
  if (auth === undefined || auth === "") return "none";
  return /^\S+\s+ghs_/.test(String(auth)) ? "app" : "token";
}

function isRateLimited(e: HttpErrorShape): boolean {
  return header(e, "x-ratelimit-remaining") === "0" || header(e, "retry-after") !== undefined || /rate limit/i.test(githubMessage(e) ?? "");
}

/**
 * The failure of a request made in `where`, as an `ApiFailure` naming the stage, the resource, the HTTP
 * status or transport cause and what to do. Errors that are not about the API (a full disk, a bug) are
 * returned as they are, and so is an `ApiFailure` already made.
 */
export async function toApiFailure(error: unknown, where: ApiStage, apiUrl: string, requestUrl?: string): Promise<unknown> {
  if (error instanceof ApiFailure) return error;
  const e = shape(error);
  const isHttp = e.request !== undefined || e.response !== undefined;
  if (!isHttp && !(error instanceof TypeError && /^expected a JSON/.test(error.message))) return error;
  const base = apiUrl.replace(/\/+$/, "");
  const fullUrl = e.request?.url ?? e.response?.url ?? requestUrl ?? base;
  const path = fullUrl.startsWith(base) ? fullUrl.slice(base.length) || "/" : fullUrl;
  const method = e.request?.method ?? "GET";
  const seen = attemptsOf(error);
  const attempts = seen?.attempts ?? 1;
  const afterAttempts = seen && seen.attempts > 1 ? ` after ${seen.attempts} attempts over ${seconds(seen.elapsedMs)}` : "";
  const resource = resourceLabel(where.resource);
  const r = where.resource;
  const make = (kind: ApiFailureKind, status: number | null, problem: string, fix: string, cause: string | null = null) =>
    new ApiFailure({ kind, stage: where.stage, resource, method, path, status, cause, githubMessage: githubMessage(e), attempts, problem, fix });
  const request = `${method} ${path.replace(/\?.*$/, "")}`;

  // A JSON answer of the wrong shape (thrown by the page parsers, not by Octokit).
  if (!isHttp) {
    return make("unexpected-body", 200, `${request} answered JSON that is not a GitHub list (${(error as Error).message})`, `${notGitHubApiAdvice(apiUrl)}.`);
  }

  const notJson = notJsonAnswerOf(error);
  if (notJson) {
    const what = `${request} answered HTTP ${notJson.status} with content-type ${notJson.contentType ?? "(none)"}, not JSON${notJson.title ? ` (page title ${JSON.stringify(notJson.title)})` : ""}`;
    if (notJson.status === 404) return make("not-a-github-api", 404, what, `${notGitHubApiAdvice(apiUrl)}.`);
    return make(
      "not-json",
      notJson.status,
      `${what}: an HTML page answered instead of the GitHub REST API, likely a proxy or login page, or a wrong GITHUB_API_URL`,
      `Check any proxy between this machine and ${hostOf(apiUrl)}, and GITHUB_API_URL (${apiUrl}): ${apiUrlHint(apiUrl)}.`,
    );
  }

  const cause = transportCause(error);
  if (cause !== undefined) {
    const host = hostOf(fullUrl);
    const limit = seen ? ` (--max-retry-seconds ${seen.limitSeconds})` : "";
    const problem =
      cause === "ENOTFOUND" || cause === "EAI_AGAIN"
        ? `cannot resolve host ${new URL(fullUrl, base).hostname} (${cause})`
        : cause === "ECONNREFUSED"
          ? `cannot connect to ${host} (ECONNREFUSED: nothing listens there)`
          : cause === "timeout"
            ? `no complete answer from ${host} (timeout)`
            : isTlsCause(cause)
              ? `the TLS certificate of ${host} is not trusted (${cause})`
              : `the connection to ${host} failed (${cause})`;
    const fix = isTlsCause(cause)
      ? `For a GitHub Enterprise Server with a private certificate authority, give its CA file in NODE_EXTRA_CA_CERTS; check GITHUB_API_URL (${apiUrl}).`
      : `Check GITHUB_API_URL (${apiUrl}) and the network between this machine and ${host} (DNS, firewall, proxy, VPN); the next run covers this window again.`;
    return make("unreachable", null, `${problem}${afterAttempts}${seen && seen.attempts > 1 ? limit : ""}`, fix, cause);
  }

  const status = e.status ?? e.response?.status ?? 0;
  const gh = githubMessage(e);
  const answered = `HTTP ${status}${gh ? ` ${JSON.stringify(gh)}` : ""} from ${request}`;
  const scopes = header(e, "x-oauth-scopes");
  const accepted = header(e, "x-accepted-oauth-scopes");
  const scopeNote = scopes !== undefined ? ` (the token's scopes: ${scopes.trim() === "" ? "none" : scopes})` : "";

  if (r.kind === "packages" && !isRateLimited(e) && (status === 403 || (status === 404 && ((scopes !== undefined && !PACKAGES_SCOPES.test(scopes)) || (scopes === undefined && !r.packageName))))) {
    return make(
      "packages-scope",
      status,
      `${answered}: the token cannot read GitHub Packages; it lacks the read:packages scope${scopeNote}`,
      `Add read:packages to the token (a classic token: fine-grained tokens and GitHub Apps cannot read packages), or set GITHUB_PACKAGES_TOKEN to a classic token with read:packages, or run with --no-packages`,
    );
  }

  if (status === 404) {
    if (r.kind === "repository" || r.kind === "organization" || r.kind === "user") {
      const root = await probeApiRoot(apiUrl);
      if (root === "not-api") return make("not-a-github-api", 404, `${answered}, and the API root ${base}/ does not answer like a GitHub REST API either`, `${notGitHubApiAdvice(apiUrl)}.`);
    }
    const anonymous = tokenKind(e) === "none" ? " No token was sent (GITHUB_TOKEN unset): private resources are invisible without one." : "";
    if (r.kind === "repository") {
      const owner = r.fullName.split("/")[0] ?? r.fullName;
      return make(
        "repository-not-found",
        404,
        `${answered}: repository ${r.fullName} does not exist or the token cannot see it`,
        `Check the spelling of ${r.fullName} (--repo OWNER/NAME), and that the token can read it: private repositories need a classic token with the repo scope, a fine-grained token granted on the repository (Actions: read), or a GitHub App installed on ${owner}.${anonymous}`,
      );
    }
    if (r.kind === "organization")
      return make(
        "owner-not-found",
        404,
        `${answered}: no organisation ${r.login} is visible at ${apiUrl}`,
        `Check the spelling of --org ${r.login} (a personal account is --user ${r.login}), and that the token belongs to this GitHub (GITHUB_API_URL).${anonymous}`,
      );
    if (r.kind === "user")
      return make("owner-not-found", 404, `${answered}: no user ${r.login} is visible at ${apiUrl}`, `Check the spelling of --user ${r.login}, and that the token belongs to this GitHub (GITHUB_API_URL).${anonymous}`);
  }

  if (status === 401) {
    const kind = tokenKind(e);
    const fix =
      kind === "none"
        ? "No token was sent: set GITHUB_TOKEN (or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY for a GitHub App)."
        : kind === "app"
          ? "The GitHub App's installation token was rejected even after minting a fresh one: check GITHUB_APP_ID and the private key, that the App is still installed on the owner, and this machine's clock."
          : r.kind === "packages"
            ? "The token was rejected (wrong, expired or revoked): create a new one and set GITHUB_PACKAGES_TOKEN (or GITHUB_TOKEN when no packages token is set)."
            : "The token was rejected (wrong, expired or revoked): create a new one and set GITHUB_TOKEN.";
    return make("bad-credentials", 401, `${answered}: bad credentials`, fix);
  }

  if ((status === 403 || status === 429) && isRateLimited(e)) {
    const reset = Number(header(e, "x-ratelimit-reset"));
    const when = Number.isFinite(reset) && reset > 0 ? ` at ${new Date(reset * 1000).toISOString()}` : "";
    return make("rate-limited", status, `${answered}: the API rate limit is spent`, `Run again after the limit resets${when} (the next run covers this window again); a GitHub App gets a higher limit than a personal token.`);
  }

  if (status === 403) {
    const sso = header(e, "x-github-sso");
    if (sso !== undefined) {
      const url = /url=(\S+)/.exec(sso)?.[1];
      return make(
        "sso-required",
        403,
        `${answered}: the organisation enforces SAML single sign-on and this token is not authorised for it`,
        `Authorise the token for the organisation${url ? ` at ${url}` : " (GitHub → Settings → Personal access tokens → Configure SSO)"}.`,
      );
    }
    const needs = accepted ? ` This endpoint needs the scope ${accepted}${scopeNote}.` : scopes !== undefined ? ` The token's scopes: ${scopes.trim() === "" ? "none" : scopes}.` : "";
    return make(
      "forbidden",
      403,
      `${answered}: the token is not allowed to read this (a missing scope or permission)`,
      `Give the token access: a classic token needs the repo scope for private repositories, a fine-grained token Actions: read on the repositories, a GitHub App the Actions: read permission.${needs}`,
    );
  }

  if (status >= 500) {
    return make("server-error", status, `${answered}${afterAttempts}`, "GitHub (or a proxy in front of it) kept failing: run again later; the next run covers this window again.");
  }
  return make("other", status, answered, "See GitHub's message above; the next run covers this window again once it is fixed.");
}

/** Runs one API call of `where`, turning its failure into an `ApiFailure`. */
export async function apiCall<T>(octokit: GitHubClient, where: ApiStage, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw await toApiFailure(error, where, apiBaseUrl(octokit));
  }
}

export function apiBaseUrl(octokit: GitHubClient): string {
  return String(octokit.request.endpoint.DEFAULTS.baseUrl);
}
