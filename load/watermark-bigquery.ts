/**
 * `ExtractState` read from BigQuery: the same three questions as on DuckDB (load/watermark-duckdb.ts),
 * answered only from fully loaded extracts (`_extracts` rows are loaded after every other job of their
 * extract succeeded: load/bigquery-load.ts).
 *
 * Each query is partition-pruned (every table is day-partitioned: `_extracts` on loaded_at,
 * `_http_cache` on recorded_at, `workflow_runs` on created_at), so its cost follows the lookback, not
 * the warehouse's age; and each is dry-run first so the bytes it will scan are logged before it runs
 * (https://cloud.google.com/bigquery/docs/running-queries#dry-run).
 */
import { compareKey } from "../extract/deployments.js";
import { blobKey, emptyKnownWorkflowDefinitions, pendingFromRow, refKey, WORKFLOW_DIR } from "../extract/workflow-definitions.js";
import type { BigQuery, Query } from "@google-cloud/bigquery";
import type { Logger } from "../log/logger.js";
import type { HttpCacheEntry } from "../schemas/manifest.js";
import { EXTRACT_ID_LENGTH } from "../extract/run.js";
import { datasets } from "./datasets.js";
import type { ExtractState, KnownRun } from "./watermark.js";

const DAY_MS = 86_400_000;
/** A scope not extracted for this long needs --since again (the longest lookback is 400 days). */
export const WATERMARK_HORIZON_DAYS = 400;
/**
 * ETags recorded this recently are used. Every extract records again each page it requested, so a
 * page in use is never older than the previous extract; a warehouse left alone longer starts with no
 * ETags, which costs requests, never correctness.
 */
export const HTTP_CACHE_HORIZON_DAYS = 3;

const table = (name: string) => `\`${datasets.raw}.${name}\``;

export const stateQueries = {
  watermarks: `SELECT repo, MAX(window_until) AS until
FROM ${table("_extracts")} CROSS JOIN UNNEST(repositories) AS repo
WHERE loaded_at >= @horizon AND repo IN UNNEST(@repositories)
GROUP BY repo`,
  // Only rows of fully loaded extracts: batch ids start with their extract id. Extracts that loaded
  // runs created at or after @created_from finished after it, so `_extracts` is pruned the same way.
  knownRuns: `SELECT run_id, run_attempt, status, UNIX_MILLIS(updated_at) AS updated_ms
FROM ${table("workflow_runs")}
WHERE created_at >= @created_from
  AND repository IN UNNEST(@repositories)
  AND SUBSTR(_batch_id, 1, ${EXTRACT_ID_LENGTH}) IN (SELECT extract_id FROM ${table("_extracts")} WHERE loaded_at >= @created_from)
QUALIFY ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY run_attempt DESC, updated_at DESC, _extracted_at DESC) = 1`,
  // Artifacts never downloaded again (extract/artifacts.ts): any outcome, fully loaded extracts only.
  knownArtifacts: `SELECT DISTINCT artifact_id
FROM ${table("workflow_artifacts")}
WHERE created_at >= @created_from
  AND repository IN UNNEST(@repositories)
  AND SUBSTR(_batch_id, 1, ${EXTRACT_ID_LENGTH}) IN (SELECT extract_id FROM ${table("_extracts")} WHERE loaded_at >= @created_from)`,
  // Deployment compares never requested again (extract/deployments.ts): fully loaded extracts only.
  knownCompares: `SELECT DISTINCT repository, base_sha, head_sha
FROM ${table("deployment_commits")}
WHERE _extracted_at >= @horizon
  AND repository IN UNNEST(@repositories)
  AND SUBSTR(_batch_id, 1, ${EXTRACT_ID_LENGTH}) IN (SELECT extract_id FROM ${table("_extracts")} WHERE loaded_at >= @horizon)`,
  // Workflow files (extract/workflow-definitions.ts): blobs parsed, (path, commit) read recently or at a
  // commit of the window's runs, and the window's runs whose file was never read (the backlog).
  knownWorkflowBlobs: `SELECT DISTINCT repository, path, blob_sha
FROM ${table("workflow_definitions")}
WHERE _extracted_at >= @horizon
  AND SUBSTR(_batch_id, 1, ${EXTRACT_ID_LENGTH}) IN (SELECT extract_id FROM ${table("_extracts")} WHERE loaded_at >= @horizon)`,
  knownWorkflowRefs: `SELECT DISTINCT repository, path, commit_sha
FROM ${table("workflow_definition_refs")}
WHERE _extracted_at >= @horizon
  AND SUBSTR(_batch_id, 1, ${EXTRACT_ID_LENGTH}) IN (SELECT extract_id FROM ${table("_extracts")} WHERE loaded_at >= @horizon)
  AND (_extracted_at >= @created_from
       OR commit_sha IN (SELECT head_sha FROM ${table("workflow_runs")} WHERE created_at >= @created_from AND repository IN UNNEST(@repositories)))`,
  pendingWorkflowFiles: `SELECT r.repository, r.workflow_path AS path, r.head_sha AS commit_sha, UNIX_MILLIS(MAX(r.created_at)) AS created_ms,
  ANY_VALUE(TO_JSON_STRING(JSON_QUERY(r.payload, '$.referenced_workflows'))) AS referenced
FROM ${table("workflow_runs")} r
LEFT JOIN (
  SELECT DISTINCT repository, path, commit_sha FROM ${table("workflow_definition_refs")}
  WHERE _extracted_at >= @created_from
    AND SUBSTR(_batch_id, 1, ${EXTRACT_ID_LENGTH}) IN (SELECT extract_id FROM ${table("_extracts")} WHERE loaded_at >= @created_from)
) d ON d.repository = r.repository AND d.path = r.workflow_path AND d.commit_sha = r.head_sha
WHERE r.created_at >= @created_from
  AND r.repository IN UNNEST(@repositories)
  AND STARTS_WITH(r.workflow_path, @workflow_dir)
  AND SUBSTR(r._batch_id, 1, ${EXTRACT_ID_LENGTH}) IN (SELECT extract_id FROM ${table("_extracts")} WHERE loaded_at >= @created_from)
  AND (d.commit_sha IS NULL OR ARRAY_LENGTH(JSON_QUERY_ARRAY(r.payload, '$.referenced_workflows')) > 0)
GROUP BY 1, 2, 3`,
  // BigQuery keeps every observation (append-only); the newest per URL counts.
  httpCache: `SELECT url, etag, next_url, total_count, keys
FROM ${table("_http_cache")}
WHERE recorded_at >= @horizon
QUALIFY ROW_NUMBER() OVER (PARTITION BY url ORDER BY recorded_at DESC, extract_id DESC) = 1`,
} as const;

export interface StateQueryStats {
  query: keyof typeof stateQueries;
  bytesProcessed: number;
  rows: number;
}

export interface BigQueryStateOptions {
  bigquery: BigQuery;
  location: string;
  log: Logger;
  now?: () => Date;
  /** Every state query's dry-run bytes, for the run summary and the benchmark. */
  stats?: StateQueryStats[];
}

/** BigQuery's client returns TIMESTAMP as `{ value: ISO string }` and INT64 as a number (or string). */
const asDate = (v: unknown): Date => new Date(typeof v === "object" && v !== null && "value" in v ? String((v as { value: unknown }).value) : String(v));

export function bigQueryExtractState(options: BigQueryStateOptions): ExtractState {
  const { bigquery, location, log } = options;
  const now = options.now ?? (() => new Date());
  // Parameter types are inferred from the values (Date -> TIMESTAMP, string[] -> ARRAY<STRING>); no call
  // passes an empty array or a null, the two cases that would need explicit `types`.
  const run = async (name: keyof typeof stateQueries, params: Record<string, unknown>): Promise<Record<string, unknown>[]> => {
    const query: Query = { query: stateQueries[name], params, location, useLegacySql: false };
    const [dry] = await bigquery.createQueryJob({ ...query, dryRun: true });
    const bytes = Number((dry.metadata as { statistics?: { totalBytesProcessed?: string } }).statistics?.totalBytesProcessed ?? 0);
    const [rows] = (await bigquery.query(query)) as [Record<string, unknown>[], ...unknown[]];
    log.info("state query", { query: name, bytes_processed: bytes, rows: rows.length });
    options.stats?.push({ query: name, bytesProcessed: bytes, rows: rows.length });
    return rows;
  };
  return {
    watermarks: async (repositories) => {
      if (repositories.length === 0) return new Map();
      const horizon = new Date(now().getTime() - WATERMARK_HORIZON_DAYS * DAY_MS);
      const rows = await run("watermarks", { horizon, repositories });
      return new Map(rows.map((r) => [String(r.repo), asDate(r.until)]));
    },
    knownRuns: async (repositories, createdFrom) => {
      if (repositories.length === 0) return new Map();
      const rows = await run("knownRuns", { created_from: createdFrom, repositories });
      const out = new Map<number, KnownRun>();
      for (const r of rows) out.set(Number(r.run_id), { runAttempt: Number(r.run_attempt), status: String(r.status), updatedAt: Number(r.updated_ms) });
      return out;
    },
    knownArtifacts: async (repositories, createdFrom) => {
      if (repositories.length === 0) return new Set<number>();
      const rows = await run("knownArtifacts", { created_from: createdFrom, repositories });
      return new Set(rows.map((r) => Number(r.artifact_id)));
    },
    knownCompares: async (repositories) => {
      if (repositories.length === 0) return new Set<string>();
      const horizon = new Date(now().getTime() - WATERMARK_HORIZON_DAYS * DAY_MS);
      const rows = await run("knownCompares", { horizon, repositories });
      return new Set(rows.map((r) => compareKey(String(r.repository), String(r.base_sha), String(r.head_sha))));
    },
    knownWorkflowDefinitions: async (repositories, createdFrom) => {
      const known = emptyKnownWorkflowDefinitions();
      if (repositories.length === 0) return known;
      const horizon = new Date(now().getTime() - WATERMARK_HORIZON_DAYS * DAY_MS);
      // A warehouse bootstrapped before these tables existed holds none: nothing is known, every file is new.
      const tableMissing = (e: unknown) => e instanceof Error && /Not found: Table/i.test(e.message);
      let blobs: Record<string, unknown>[];
      try {
        blobs = await run("knownWorkflowBlobs", { horizon });
      } catch (e) {
        if (!tableMissing(e)) throw e;
        log.info("workflow definition tables not in BigQuery yet (run bootstrap): every workflow file counts as new");
        return known;
      }
      for (const r of blobs) known.blobs.add(blobKey(String(r.repository), String(r.path), String(r.blob_sha)));
      for (const r of await run("knownWorkflowRefs", { horizon, created_from: createdFrom, repositories })) known.refs.add(refKey(String(r.repository), String(r.path), String(r.commit_sha)));
      for (const r of await run("pendingWorkflowFiles", { created_from: createdFrom, repositories, workflow_dir: WORKFLOW_DIR })) known.pending.push(...pendingFromRow(r));
      return known;
    },
    httpCache: async () => {
      const horizon = new Date(now().getTime() - HTTP_CACHE_HORIZON_DAYS * DAY_MS);
      const rows = await run("httpCache", { horizon });
      const out = new Map<string, HttpCacheEntry>();
      for (const r of rows) {
        const keys = Array.isArray(r.keys) ? r.keys.map(String) : null;
        out.set(String(r.url), {
          url: String(r.url),
          etag: String(r.etag),
          next_url: r.next_url === null || r.next_url === undefined ? null : String(r.next_url),
          total_count: r.total_count === null || r.total_count === undefined ? null : Number(r.total_count),
          keys,
        });
      }
      return out;
    },
  };
}
