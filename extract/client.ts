/**
 * The GitHub client: Octokit with the official throttling and retry plugins (rate limits, secondary
 * limits, 5xx) and pagination. Works against api.github.com, GitHub Enterprise Server
 * (`GITHUB_API_URL=https://HOST/api/v3`) and the local simulator. Counts every HTTP exchange, so each run
 * can report the API budget it spent.
 *
 * What the plugins cannot see is handled in the one place below them, the `fetch` Octokit calls:
 * - a per-request timeout (Octokit 7 dropped `request.timeout`), and
 * - a body that arrives cut short (connection reset mid-body, or a truncated JSON document that Octokit
 *   would otherwise hand back as a plain string).
 * Both become network errors, which Octokit reports as status 500, which the retry plugin retries.
 */
import { Octokit } from "@octokit/rest";
import { throttling } from "@octokit/plugin-throttling";
import { retry } from "@octokit/plugin-retry";
import type { Logger } from "../log/logger.js";
import { registerSecret } from "../log/logger.js";

const GitHub = Octokit.plugin(throttling, retry);
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
}

export interface ClientOptions {
  apiUrl: string;
  token?: string;
  log: Logger;
  requestTimeoutMs?: number;
  /** Retries of one request for rate limits, and (separately) for 5xx and transport failures. */
  maxRetries?: number;
  /**
   * Milliseconds per second of back-off: 1000 in production (GitHub's `retry-after` is in seconds);
   * tests shrink it so a fault schedule does not cost wall time.
   */
  retryTimeScaleMs?: number;
  /** Called before every request: the crash-injection point of the resilience tests. */
  beforeRequest?: () => void;
}

/** A response whose body could not be read completely: treated like a dropped connection. */
export class BrokenResponseError extends Error {
  override readonly name = "BrokenResponseError";
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
      if (text !== "" && isJsonContentType(response.headers.get("content-type"))) {
        try {
          JSON.parse(text);
        } catch {
          countFault(usage, "truncated body");
          throw new BrokenResponseError(`incomplete JSON body (${text.length} bytes) from ${String(input)}`);
        }
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
      if (error instanceof BrokenResponseError) throw error;
      if (timeout.aborted) {
        countFault(usage, "timeout");
        // Not an AbortError: Octokit rethrows those untouched, which would bypass the retry plugin.
        throw new BrokenResponseError(`no complete answer within ${timeoutMs} ms from ${String(input)}`);
      }
      countFault(usage, "connection error");
      throw error;
    }
  };
}

export function createGitHubClient(options: ClientOptions): { octokit: GitHubClient; usage: ApiUsage } {
  registerSecret(options.token);
  const usage: ApiUsage = {
    requests: 0,
    notModified: 0,
    costly: 0,
    logical: 0,
    get retries() {
      return Math.max(0, this.requests - this.logical);
    },
    faults: {},
    rateLimitRemaining: null,
  };
  const maxRetries = options.maxRetries ?? 5;
  const scale = options.retryTimeScaleMs ?? 1000;
  const log = options.log;
  const limitHandler =
    (what: string) =>
    (retryAfter: number, req: { method: string; url: string }, _octokit: unknown, retryCount: number): boolean => {
      log.warn(what, { method: req.method, url: req.url, retry_after_s: retryAfter, attempt: retryCount + 1 });
      return retryCount < maxRetries;
    };
  const octokit = new GitHub({
    baseUrl: options.apiUrl.replace(/\/+$/, ""),
    ...(options.token ? { auth: options.token } : {}),
    userAgent: "actions-warehouse",
    request: { fetch: checkedFetch(usage, options.requestTimeoutMs ?? 30_000) },
    log: {
      debug: () => {},
      info: () => {},
      // Octokit reports each 304 as a warning; for conditional requests it is the good news.
      warn: (msg: string) => (/ - 304 with id /.test(msg) ? log.debug(msg) : log.warn(msg)),
      error: (msg: string) => log.error(msg),
    },
    throttle: {
      // Returning true asks the plugin to retry after `retryAfter` seconds (retry-after, or the reset time).
      onRateLimit: limitHandler("primary rate limit exhausted"),
      onSecondaryRateLimit: limitHandler("secondary rate limit hit"),
      retryAfterBaseValue: scale,
      fallbackSecondaryRateRetryAfter: 60,
    },
    // 403 is the throttling plugin's (it knows a rate limit from a permission error); the retry plugin
    // takes 5xx, 429 without rate-limit headers and transport failures (status 500), backing off
    // 1, 4, 9, 16, 25 s.
    retry: { doNotRetry: [400, 401, 403, 404, 410, 422, 451], retries: maxRetries, retryAfterBaseValue: scale },
  });

  // Outermost: one call per logical request, however many exchanges the plugins needed for it.
  octokit.hook.wrap("request", async (request, req) => {
    options.beforeRequest?.();
    usage.logical += 1;
    try {
      return await request(req);
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status !== 304) log.debug("request failed", { method: req.method, url: req.url, status, error: (error as Error).message });
      throw error;
    }
  });
  return { octokit, usage };
}
