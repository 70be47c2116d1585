/**
 * Conditional pagination: every list page is requested with the ETag the warehouse holds for its URL
 * (`If-None-Match`). A 304 costs no rate limit and means the page is exactly what was loaded before, so
 * its items need no work; the stored `next` link (and `total_count`, and the few keys the extractor
 * needs, like package names) stand in for the body.
 *
 * Hand-written rather than `octokit.paginate`, which treats 304 as an error and cannot resume paging
 * from a stored link. URLs come from Octokit's own endpoint builder and GitHub's Link headers.
 */
import type { GitHubClient } from "./client.js";
import type { HttpCacheEntry } from "../schemas/manifest.js";
import { apiBaseUrl, toApiFailure, type ApiStage } from "./api-errors.js";

/** The ETags known at the start of the extract, and the ones this extract observed (for its manifest). */
export class HttpCache {
  private readonly observed = new Map<string, HttpCacheEntry>();
  notModified = 0;

  constructor(private readonly known: Map<string, HttpCacheEntry>) {}

  lookup(url: string): HttpCacheEntry | undefined {
    return this.known.get(url);
  }

  record(entry: HttpCacheEntry): void {
    this.observed.set(entry.url, entry);
  }

  entries(): HttpCacheEntry[] {
    return [...this.observed.values()].sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
  }
}

export type Page<T> =
  | { notModified: false; items: T[]; totalCount: number | null }
  | { notModified: true; totalCount: number | null; keys: string[] | null };

export function nextLink(link: string | undefined): string | null {
  if (!link) return null;
  const m = /<([^<>]+)>;\s*rel="next"/.exec(link);
  return m?.[1] ?? null;
}

/**
 * Pages of one list, first URL built from an Octokit route. `items` picks the array out of a page body
 * (and `total_count` when present); `keys` the identifiers to remember for 304s. A request that fails
 * for good, or a page that is not what the route returns, throws an `ApiFailure` naming `where`.
 */
export async function* conditionalPages<T>(
  octokit: GitHubClient,
  cache: HttpCache,
  where: ApiStage,
  route: string,
  params: Record<string, string | number>,
  pick: (data: unknown) => { items: T[]; totalCount: number | null },
  keys?: (item: T) => string,
): AsyncGenerator<Page<T>> {
  let url: string | null = octokit.request.endpoint(route, params).url;
  const base = apiBaseUrl(octokit);
  while (url) {
    const cached = cache.lookup(url);
    let response;
    try {
      response = await octokit.request({ method: "GET", url, headers: cached ? { "if-none-match": cached.etag } : {} });
    } catch (error) {
      if ((error as { status?: number }).status === 304 && cached) {
        cache.notModified += 1;
        cache.record(cached);
        yield { notModified: true, totalCount: cached.total_count, keys: cached.keys };
        url = cached.next_url;
        continue;
      }
      throw await toApiFailure(error, where, base);
    }
    let page: { items: T[]; totalCount: number | null };
    try {
      page = pick(response.data);
    } catch (error) {
      throw await toApiFailure(error, where, base, url);
    }
    const next = nextLink(response.headers.link);
    const etag = response.headers.etag;
    if (typeof etag === "string") {
      cache.record({ url, etag, next_url: next, total_count: page.totalCount, keys: keys ? page.items.map(keys) : null });
    }
    yield { notModified: false, items: page.items, totalCount: page.totalCount };
    url = next;
  }
}

/** Array bodies (packages, versions, repositories). */
export const arrayBody =
  <T>() =>
  (data: unknown): { items: T[]; totalCount: null } => {
    if (!Array.isArray(data)) throw new TypeError("expected a JSON array");
    return { items: data as T[], totalCount: null };
  };

/** `{ total_count, <field>: [...] }` bodies (runs, jobs, workflows). */
export const countedBody =
  <T>(field: string) =>
  (data: unknown): { items: T[]; totalCount: number | null } => {
    const body = data as Record<string, unknown> | null;
    const items = body?.[field];
    if (!Array.isArray(items)) throw new TypeError(`expected a JSON object with a "${field}" array`);
    return { items: items as T[], totalCount: typeof body?.total_count === "number" ? body.total_count : null };
  };
