/**
 * The GitHub client: Octokit with the official throttling plugin (rate limits, secondary limits), a
 * retry loop of its own (5xx, 429 without rate-limit headers, transport failures) and pagination. Works against api.github.com, GitHub Enterprise Server
 * (`GITHUB_API_URL=https://HOST/api/v3`) and the local simulator. Counts every HTTP exchange, so each run
 * can report the API budget it spent.
 *
 * What the plugins cannot see is handled in the one place below them, the `fetch` Octokit calls:
 * - a per-request timeout (Octokit 7 dropped `request.timeout`), and
 * - a body that arrives cut short (connection reset mid-body, or a truncated JSON document that Octokit
 *   would otherwise hand back as a plain string).
 * - an answer that is not JSON (an HTML page from a proxy, a login page or a wrong GITHUB_API_URL).
 * The first two become network errors, which Octokit reports as status 500, which the retry loop retries;
 * the third is not retried.
 *
 * The retry loop is written here, not taken from @octokit/plugin-retry, because the plugin decides by
 * status alone and sees a refused connection as status 500: it could neither name the real cause nor
 * give up on an unreachable host in seconds while still retrying a 502 patiently.
 * Retries (`retrying` below) log one warn line each, naming the real cause (`status 502`,
 * `ECONNREFUSED`, `timeout`), never Octokit's "500 with id UNKNOWN". Back-off is 1, 4, 9, 16, 25 s, at
 * most `maxRetries` retries and at most `maxRetrySeconds` (default 60) from the first attempt of a
 * request; a refused connection or an unknown host (ECONNREFUSED, ENOTFOUND) gets 3 attempts over about
 * 3 s, and a TLS certificate problem none. Rate limits are the throttling plugin's: it waits for
 * `retry-after` or the reset time, which can be longer. Octokit's per-request log lines (each 304
 * included, which Octokit reports on its error channel) are debug.
 *
 * Credentials (see extract/config.ts): a static token, or a GitHub App. With an App, the outermost
 * request hook picks the installation of the owner in each request's path, sets its installation token
 * (minted and refreshed by `AppInstallations`, extract/app-auth.ts) and, when GitHub answers 401 all
 * the same, mints a new token once and retries once. Installation lookups and token minting go through
 * a second Octokit (same plugins and timeouts) whose exchanges are counted apart, in `usage.auth`: they
 * are JWT-authenticated, do not touch the installations' rate limits and are not data requests, so
 * `requests`, `costly` and `logical` keep counting exactly the data exchanges.
 * A packages token, when given, authenticates the packages endpoints (GitHub Apps cannot call them).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Octokit } from "@octokit/rest";
import { createAppAuth } from "@octokit/auth-app";
import { throttling } from "@octokit/plugin-throttling";
import type { Logger } from "../log/logger.js";
import { registerSecret } from "../log/logger.js";
import { AppInstallations, linkedRepositoryIds, registerPrivateKey, requestTarget, type AppScope, type AuthUsage } from "./app-auth.js";
import { BrokenResponseError, FAST_FAIL_CAUSES, htmlTitle, isTlsCause, noteAttempts, NotJsonAnswerError, transportCause } from "./api-errors.js";

export { BrokenResponseError } from "./api-errors.js";

const GitHub = Octokit.plugin(throttling);
export type GitHubClient = InstanceType<typeof GitHub>;

export interface ApiUsage {
  /** HTTP exchanges, retries included. */
  requests: number;
  /** 304 answers to conditional requests: free of rate limit. */
  notModified: number;
  /** Exchanges that count against the primary rate limit: every answer but a 304 (and but transport failures). */
  costly: number;
  /** Logical requests (a page, a run): `requests - logical` exchanges were retries. */
  logical: number;
  /** Retries of any cause (rate limits, 5xx, timeouts, broken bodies). */
  readonly retries: number;
  /** Faults seen, by kind (`status 502`, `timeout`, `truncated body`, `connection reset`, ...). */
  faults: Record<string, number>;
  rateLimitRemaining: number | null;
  /** GitHub App only: installation lookups and token minting, not included in the counts above. */
  auth: AuthUsage | null;
}

export interface ClientOptions {
  apiUrl: string;
  token?: string;
  /** Authenticate as this GitHub App: one installation per owner of `scope`. Excludes `token`. */
  app?: { appId: number; privateKey: string; scope: AppScope };
  /** Token for the packages endpoints (`/orgs|users/{owner}/packages...`), whatever else authenticates. */
  packagesToken?: string;
  log: Logger;
  requestTimeoutMs?: number;
  /** Retries of one request for rate limits, and (separately) for 5xx and transport failures. */
  maxRetries?: number;
  /**
   * Wall-clock limit, in seconds from its first attempt, on retrying one request after 5xx answers and
   * transport failures (default 60). Rate-limit waits are not counted.
   */
  maxRetrySeconds?: number;
  /**
   * Milliseconds per second of back-off: 1000 in production (GitHub's `retry-after` is in seconds);
   * tests shrink it so a fault schedule does not cost wall time.
   */
  retryTimeScaleMs?: number;
  /** Called before every request: the crash-injection point of the resilience tests. */
  beforeRequest?: () => void;
}

function isJsonContentType(value: string | null): boolean {
  return value !== null && /^application\/(?:[\w.+-]+\+)?json\b/i.test(value);
}

function countFault(usage: ApiUsage, kind: string): void {
  usage.faults[kind] = (usage.faults[kind] ?? 0) + 1;
}

/** `fetch` with a timeout and a completeness check of JSON bodies; counts exchanges and faults. */
export function checkedFetch(usage: ApiUsage, timeoutMs: number): typeof fetch {
  return async (input, init) => {
    usage.requests += 1;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    try {
      const response = await fetch(input, { ...init, signal });
      // Read the whole body under the same timeout, so a slow or cut body fails here and is retried.
      const text = response.status === 304 || response.status === 204 ? "" : await response.text();
      if (response.status === 304) usage.notModified += 1;
      else usage.costly += 1;
      if (response.status >= 500) countFault(usage, `status ${response.status}`);
      if (response.status === 403 || response.status === 429) countFault(usage, `status ${response.status}`);
      const contentType = response.headers.get("content-type");
      if (text !== "" && isJsonContentType(contentType)) {
        try {
          JSON.parse(text);
        } catch {
          countFault(usage, "truncated body");
          throw new BrokenResponseError(`incomplete JSON body (${text.length} bytes) from ${String(input)}`, "truncated body");
        }
      } else if (text !== "" && response.status < 500 && wantsJson(init?.headers)) {
        // An HTML page (proxy, login page, web server at a wrong GITHUB_API_URL): retrying will not help.
        countFault(usage, "not JSON");
        throw new NotJsonAnswerError(response.status, contentType, String(input), htmlTitle(text));
      }
      const remaining = response.headers.get("x-ratelimit-remaining");
      if (remaining !== null) usage.rateLimitRemaining = Number(remaining);
      const checked = new Response(response.status === 304 || response.status === 204 ? null : text, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
      // A constructed Response has no URL; pagination reads it.
      Object.defineProperty(checked, "url", { value: response.url });
      return checked;
    } catch (error) {
      if (error instanceof BrokenResponseError || error instanceof NotJsonAnswerError) throw error;
      if (timeout.aborted) {
        countFault(usage, "timeout");
        // Not an AbortError: Octokit rethrows those untouched, without the request they belong to.
        throw new BrokenResponseError(`no complete answer within ${timeoutMs} ms from ${String(input)}`, "timeout");
      }
      countFault(usage, "connection error");
      throw error;
    }
  };
}

/** Whether a request asked for JSON (Octokit's default media type does); raw or binary downloads did not. */
function wantsJson(headers: HeadersInit | undefined): boolean {
  const accept = new Headers(headers).get("accept");
  return accept === null || /json/i.test(accept);
}

function newUsage(): ApiUsage {
  return {
    requests: 0,
    notModified: 0,
    costly: 0,
    logical: 0,
    get retries() {
      return Math.max(0, this.requests - this.logical);
    },
    faults: {},
    rateLimitRemaining: null,
    auth: null,
  };
}

/** `fetch` that registers every credential it sends as a secret (the App's JWTs are made inside auth-app). */
function registeringFetch(inner: typeof fetch): typeof fetch {
  return (input, init) => {
    const authorization = new Headers(init?.headers).get("authorization");
    if (authorization) registerSecret(authorization.replace(/^\S+\s+/, ""));
    return inner(input, init);
  };
}

const statusOf = (error: unknown): number | undefined => (error as { status?: number }).status;

/** Octokit's per-request log line (plugin-request-log): `GET /path - 304 with id ABC in 12ms`. */
const REQUEST_LOG_LINE = /^[A-Z]+ \S+ - \d+ with id \S+ in \d+ms$/;

interface RetryPolicy {
  maxRetries: number;
  maxRetrySeconds: number;
  /** Milliseconds per second of back-off. */
  scale: number;
  log: Logger;
  /**
   * Set once a request gave up on a refused connection or an unknown host: later requests of this
   * client that fail the same way fail at once, so an extract ends in seconds, not seconds per request.
   */
  unreachable?: string;
}

/** Attempts a refused connection or an unknown host gets: about 3 s in all (1 s, then 2 s between). */
const FAST_FAIL_ATTEMPTS = 3;

/**
 * Why a failed exchange should be tried again, and after how long; undefined when it should not.
 * 4xx answers are final (403 and 429 with rate-limit headers were the throttling plugin's to wait for).
 */
function retryPlan(error: unknown, attempt: number, policy: RetryPolicy): { cause: string; delayMs: number; fast: boolean } | undefined {
  const transport = transportCause(error);
  const response = (error as { response?: { status?: number; headers?: Record<string, string | number | undefined> } }).response;
  let cause: string;
  let delayMs = attempt * attempt * policy.scale;
  let fast = false;
  if (transport !== undefined) {
    if (isTlsCause(transport)) return undefined;
    cause = transport;
    if (FAST_FAIL_CAUSES.has(transport)) {
      fast = true;
      if (policy.unreachable !== undefined) return undefined;
      if (attempt >= FAST_FAIL_ATTEMPTS) {
        policy.unreachable = transport;
        return undefined;
      }
      delayMs = attempt * policy.scale;
    }
  } else if (response?.status !== undefined && (response.status >= 500 || response.status === 429)) {
    cause = `status ${response.status}`;
    const retryAfter = Number(response.headers?.["retry-after"]);
    if (Number.isFinite(retryAfter) && retryAfter > 0) delayMs = retryAfter * policy.scale;
  } else {
    return undefined;
  }
  if (attempt > policy.maxRetries) return undefined;
  return { cause, delayMs, fast };
}

/**
 * The retry loop around one request: retries 5xx, 429 without rate-limit headers and transport
 * failures (see `retryPlan`) within `maxRetries` and `maxRetrySeconds`, each retry one warn line with
 * its cause. The error of the last attempt is rethrown with its attempt count noted (`attemptsOf`).
 */
function retrying(policy: RetryPolicy) {
  return async <O extends { method: string; url: string }, R>(request: (options: O) => R | Promise<R>, options: O): Promise<R> => {
    const started = Date.now();
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await request(options);
      } catch (error) {
        const plan = retryPlan(error, attempt, policy);
        const elapsed = Date.now() - started;
        if (!plan || elapsed + plan.delayMs > policy.maxRetrySeconds * 1000) {
          noteAttempts(error, attempt, elapsed, policy.maxRetrySeconds);
          throw error;
        }
        const url = (error as { request?: { url?: string } }).request?.url ?? options.url;
        policy.log.warn(`retrying ${options.method} ${url}: ${plan.cause} (attempt ${attempt} failed; next in ${(plan.delayMs / 1000).toFixed(plan.delayMs < 10_000 ? 1 : 0)} s)`, {
          cause: plan.cause,
          method: options.method,
          url,
          attempt,
          retry_in_ms: plan.delayMs,
          ...(plan.fast ? { gives_up_after_attempts: FAST_FAIL_ATTEMPTS } : {}),
        });
        await sleep(plan.delayMs);
      }
    }
  };
}

export function createGitHubClient(options: ClientOptions): { octokit: GitHubClient; usage: ApiUsage; app: AppInstallations | null } {
  registerSecret(options.token);
  registerSecret(options.packagesToken);
  if (options.app) registerPrivateKey(options.app.privateKey);
  const usage = newUsage();
  const maxRetries = options.maxRetries ?? 5;
  const scale = options.retryTimeScaleMs ?? 1000;
  const log = options.log;
  const policy: RetryPolicy = { maxRetries, maxRetrySeconds: options.maxRetrySeconds ?? 60, scale, log };
  const baseUrl = options.apiUrl.replace(/\/+$/, "");
  const limitHandler =
    (what: string) =>
    (retryAfter: number, req: { method: string; url: string }, _octokit: unknown, retryCount: number): boolean => {
      log.warn(what, { method: req.method, url: req.url, retry_after_s: retryAfter, attempt: retryCount + 1 });
      return retryCount < maxRetries;
    };
  const common = (counted: ApiUsage) => ({
    baseUrl,
    userAgent: "actions-warehouse",
    request: { fetch: registeringFetch(checkedFetch(counted, options.requestTimeoutMs ?? 30_000)) },
    // Octokit logs every exchange (each 304 and each failed attempt on its error channel): debug. A
    // retry is said by the retry loop (warn, with its cause), a request failing for good by the extract.
    log: {
      debug: () => {},
      info: (msg: string) => log.debug(msg),
      warn: (msg: string) => (REQUEST_LOG_LINE.test(msg) ? log.debug(msg) : log.warn(msg)),
      error: (msg: string) => (REQUEST_LOG_LINE.test(msg) ? log.debug(msg) : log.warn(msg)),
    },
    throttle: {
      // Returning true asks the plugin to retry after `retryAfter` seconds (retry-after, or the reset time).
      onRateLimit: limitHandler("primary rate limit exhausted"),
      onSecondaryRateLimit: limitHandler("secondary rate limit hit"),
      retryAfterBaseValue: scale,
      fallbackSecondaryRateRetryAfter: 60,
    },
    // 403 is the throttling plugin's (it knows a rate limit from a permission error); the retry loop
    // (`retrying`, added to each client below) takes 5xx, 429 without rate-limit headers and transport
    // failures (status 500).
  });
  // No Octokit `auth`: its token hook would overwrite the per-request credential set below.
  const octokit = new GitHub(common(usage));
  octokit.hook.wrap("request", retrying(policy));

  let app: AppInstallations | null = null;
  if (options.app) {
    const authUsage = newUsage();
    const appOctokit = new GitHub({ ...common(authUsage), authStrategy: createAppAuth, auth: { appId: options.app.appId, privateKey: options.app.privateKey } });
    appOctokit.hook.wrap("request", retrying(policy));
    app = new AppInstallations(appOctokit, options.app.appId, options.app.scope, log, () => authUsage.requests);
    usage.auth = app.usage;
  }
  const installations = app;

  /**
   * The owners whose installation may serve a request: the owner in its path; for `/repositories/{id}`
   * the owner learnt from the Link header that named it, else (a link from an earlier extract's ETag
   * chain) each installation in turn; for paths without an owner (`/rate_limit`), the first.
   */
  const ownersFor = (apps: AppInstallations, target: ReturnType<typeof requestTarget>): string[] => {
    if (target.kind === "owner") return [target.owner];
    const known = target.kind === "repository" ? apps.ownerOfRepository(target.id) : undefined;
    if (known) return [known];
    const owners = apps.owners();
    return target.kind === "repository" ? owners : owners.slice(0, 1);
  };
  let packagesWarned = false;

  // Outermost: one call per logical request, however many exchanges the plugins needed for it.
  octokit.hook.wrap("request", async (request, req) => {
    options.beforeRequest?.();
    usage.logical += 1;
    try {
      const url = octokit.request.endpoint.parse(req).url;
      const path = url.startsWith(baseUrl) ? url.slice(baseUrl.length) : new URL(url).pathname;
      const target = requestTarget(path);
      if (target.kind === "owner" && target.packages && options.packagesToken) {
        req.headers.authorization = `token ${options.packagesToken}`;
        return await request(req);
      }
      if (!installations) {
        if (options.token) req.headers.authorization = `token ${options.token}`;
        return await request(req);
      }
      if (target.kind === "owner" && target.packages && !packagesWarned) {
        packagesWarned = true;
        log.warn(PACKAGES_WITH_APP_WARNING, { url: path });
      }
      const candidates = ownersFor(installations, target);
      let lastError: unknown;
      for (const [i, owner] of candidates.entries()) {
        try {
          const response = await withInstallationToken(installations, owner, request, req, scale, log);
          for (const id of linkedRepositoryIds(response.headers.link)) installations.learnRepository(id, owner);
          if (target.kind === "repository") installations.learnRepository(target.id, owner);
          return response;
        } catch (error) {
          const headers = (error as { response?: { headers?: Record<string, string | undefined> } }).response?.headers;
          for (const id of linkedRepositoryIds(headers?.link)) installations.learnRepository(id, owner);
          if (statusOf(error) === 304 && target.kind === "repository") installations.learnRepository(target.id, owner);
          lastError = error;
          if (statusOf(error) !== 404 || i === candidates.length - 1) throw error;
        }
      }
      throw lastError;
    } catch (error) {
      const status = statusOf(error);
      if (status !== 304) log.debug("request failed", { method: req.method, url: req.url, status, error: (error as Error).message });
      throw error;
    }
  });
  return { octokit, usage, app };
}

/** Said once per extract when packages would be requested with an App installation token. */
export const PACKAGES_WITH_APP_WARNING =
  "GitHub Apps cannot read GitHub Packages: /orgs/{org}/packages and /users/{username}/packages (and their versions) are not enabled for GitHub App installation tokens. " +
  "Set GITHUB_PACKAGES_TOKEN to a classic personal access token with read:packages for package history, or run with --no-packages";

/**
 * Sends a request with the owner's installation token; a 401 (revoked, expired early, clock skew)
 * mints a new token and retries once. A token younger than 5 s may not have reached every GitHub
 * server yet (replication delay): then the retry waits a second first.
 */
async function withInstallationToken<O extends { method: string; url: string; headers: Record<string, string | number | undefined> }, R>(
  installations: AppInstallations,
  owner: string,
  send: (options: O) => R | Promise<R>,
  req: O,
  scale: number,
  log: Logger,
): Promise<R> {
  const { token, installation, mintedAt } = await installations.tokenFor(owner);
  req.headers.authorization = `token ${token}`;
  try {
    return await send(req);
  } catch (error) {
    if (statusOf(error) !== 401) throw error;
    const young = Date.now() - mintedAt < 5000;
    const fresh = await installations.renew(installation, token);
    log.warn("installation token rejected (401): minted a new one, retrying once", { installation_id: installation.id, account: installation.account, method: req.method, url: req.url });
    if (young) await sleep(scale);
    req.headers.authorization = `token ${fresh}`;
    try {
      return await send(req);
    } catch (again) {
      if (statusOf(again) === 401) (again as Error).message = `${(again as Error).message} (twice, the second time with a freshly minted installation token of installation ${installation.id} on ${installation.account})`;
      throw again;
    }
  }
}
