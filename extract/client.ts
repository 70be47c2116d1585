/**
 * The GitHub client: Octokit with the official throttling and retry plugins (rate limits, secondary
 * limits, 5xx) and pagination. Works against api.github.com, GitHub Enterprise Server
 * (`GITHUB_API_URL=https://HOST/api/v3`) and the local simulator. Counts every request, so each run can
 * report the API budget it spent.
 */
import { Octokit } from "@octokit/rest";
import { throttling } from "@octokit/plugin-throttling";
import { retry } from "@octokit/plugin-retry";
import type { Logger } from "../log/logger.js";
import { registerSecret } from "../log/logger.js";

const GitHub = Octokit.plugin(throttling, retry);
export type GitHubClient = InstanceType<typeof GitHub>;

export interface ApiUsage {
  requests: number;
  notModified: number;
  retries: number;
  rateLimitRemaining: number | null;
}

export interface ClientOptions {
  apiUrl: string;
  token?: string;
  log: Logger;
  requestTimeoutMs?: number;
  /** Attempts for rate-limited requests before giving up. */
  maxRateLimitRetries?: number;
}

export function createGitHubClient(options: ClientOptions): { octokit: GitHubClient; usage: ApiUsage } {
  registerSecret(options.token);
  const usage: ApiUsage = { requests: 0, notModified: 0, retries: 0, rateLimitRemaining: null };
  const maxRetries = options.maxRateLimitRetries ?? 5;
  const log = options.log;
  const limitHandler =
    (what: string) =>
    (retryAfter: number, req: { method: string; url: string }, _octokit: unknown, retryCount: number): boolean => {
      log.warn(what, { method: req.method, url: req.url, retry_after_s: retryAfter, attempt: retryCount + 1 });
      usage.retries += 1;
      return retryCount < maxRetries;
    };
  const octokit = new GitHub({
    baseUrl: options.apiUrl.replace(/\/+$/, ""),
    ...(options.token ? { auth: options.token } : {}),
    userAgent: "actions-warehouse",
    request: { timeout: options.requestTimeoutMs ?? 30_000 },
    log: {
      debug: () => {},
      info: () => {},
      warn: (msg: string) => log.warn(msg),
      error: (msg: string) => log.error(msg),
    },
    throttle: {
      // Returning true asks the plugin to retry after `retryAfter` seconds (retry-after, or the reset time).
      onRateLimit: limitHandler("primary rate limit exhausted"),
      onSecondaryRateLimit: limitHandler("secondary rate limit hit"),
    },
    retry: { doNotRetry: [400, 401, 404, 410, 422, 451] },
  });

  octokit.hook.wrap("request", async (request, req) => {
    usage.requests += 1;
    try {
      const response = await request(req);
      const remaining = response.headers["x-ratelimit-remaining"];
      if (remaining !== undefined) usage.rateLimitRemaining = Number(remaining);
      return response;
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status === 304) usage.notModified += 1;
      throw error;
    }
  });
  return { octokit, usage };
}
