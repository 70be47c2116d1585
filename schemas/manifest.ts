/**
 * The manifest an extract writes last, after every batch file is complete. It is the commit marker:
 * the loader only loads batch files listed in a manifest, so a batch cut short by a crash is never loaded.
 */
import { z } from "zod";
import { rawTableNames } from "./raw-tables.js";

export const batchFileSchema = z.object({
  table: z.enum(rawTableNames as [string, ...string[]]),
  batch_id: z.string(),
  /** Path relative to the staging root, same layout locally and in Cloud Storage. */
  path: z.string(),
  records: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

/** One conditional-request record: what a list page looked like when its content went into the warehouse. */
export const httpCacheEntrySchema = z.object({
  url: z.string(),
  etag: z.string(),
  /** The page's `rel="next"` link, followed when the page answers 304. */
  next_url: z.string().nullable(),
  /** `total_count` of the page, when the list has one (runs windows are split by it). */
  total_count: z.number().int().nullable(),
  /** Identifiers the extractor needs from the page even when it is unchanged (repository and package names). */
  keys: z.array(z.string()).nullable(),
});

export const manifestSchema = z.object({
  version: z.literal(1),
  extract_id: z.string(),
  started_at: z.iso.datetime(),
  finished_at: z.iso.datetime(),
  api_url: z.string(),
  /**
   * The warehouse the extract is for (`duckdb:<absolute path>` or `bigquery:<project>`); loaders refuse
   * manifests of another target. Absent in manifests written before it was recorded.
   */
  target: z.string().optional(),
  scope: z.object({
    repositories: z.array(z.string()),
    organizations: z.array(z.string()),
    users: z.array(z.string()),
  }),
  window: z.object({ since: z.iso.datetime(), until: z.iso.datetime() }),
  counts: z.record(z.string(), z.number().int().nonnegative()),
  quarantined: z.number().int().nonnegative(),
  quarantine_path: z.string().nullable(),
  api: z.object({
    requests: z.number().int().nonnegative(),
    not_modified: z.number().int().nonnegative(),
    retries: z.number().int().nonnegative(),
    rate_limit_remaining: z.number().int().nullable(),
    /** Exchanges that counted against the primary rate limit (every answer but a 304). */
    costly: z.number().int().nonnegative().optional(),
    /** Faults met and retried, by kind. */
    faults: z.record(z.string(), z.number().int().nonnegative()).optional(),
  }),
  files: z.array(batchFileSchema),
  /** Quarantined records by table and reason. */
  quarantine_reasons: z.record(z.string(), z.number().int().nonnegative()).optional(),
  /** Fields the API sent that the extractor does not know, by table: kept in `payload`, counted here. */
  unknown_fields: z.record(z.string(), z.record(z.string(), z.number().int().nonnegative())).optional(),
  /** How the window was chosen: from the warehouse's watermark minus the lookback, or given with --since. */
  incremental: z
    .object({
      watermark: z.iso.datetime().nullable(),
      lookback_days: z.number().int().nonnegative(),
      /** Runs listed but not fetched again: attempt, status and updated_at as in the warehouse. */
      runs_unchanged: z.number().int().nonnegative(),
      /** List pages answered 304 Not Modified. */
      pages_not_modified: z.number().int().nonnegative(),
    })
    .optional(),
  /** ETags of the list pages, loaded into the warehouse with this extract (`_http_cache`). */
  http_cache: z.object({ path: z.string(), entries: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).nullable().optional(),
});

export type BatchFile = z.infer<typeof batchFileSchema>;
export type Manifest = z.infer<typeof manifestSchema>;
export type HttpCacheEntry = z.infer<typeof httpCacheEntrySchema>;

/** Object layout shared by the local folder and Cloud Storage (under an optional prefix). */
export const stagingLayout = {
  batch: (table: string, date: string, batchId: string) => `raw/${table}/dt=${date}/${batchId}.ndjson.gz`,
  manifest: (extractId: string) => `manifests/${extractId}.json`,
  quarantine: (date: string, extractId: string) => `quarantine/dt=${date}/${extractId}.ndjson.gz`,
  httpCache: (extractId: string) => `http-cache/${extractId}.ndjson.gz`,
  manifestsDir: "manifests",
};
