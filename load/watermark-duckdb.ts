/** `ExtractState` read from a DuckDB warehouse (`github_raw._extracts`, `_loads`, `_http_cache`, raw tables). */
import { existsSync } from "node:fs";
import type { DuckDBConnection } from "@duckdb/node-api";
import { openDuckDb, rawTableRef, type Warehouse } from "./duckdb-connection.js";
import { ensureBookkeeping, extractsTable, httpCacheTable } from "./duckdb-load.js";
import { datasets } from "./datasets.js";
import { emptyExtractState, type ExtractState, type KnownRun } from "./watermark.js";
import type { HttpCacheEntry } from "../schemas/manifest.js";
import { blobKey, emptyKnownWorkflowDefinitions, pendingFromRow, refKey, WORKFLOW_DIR } from "../extract/workflow-definitions.js";
import { compareKey } from "../extract/deployments.js";

const loadsTable = `"${datasets.raw}"."_loads"`;
const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;
const list = (xs: string[]) => `[${xs.map(sqlString).join(", ")}]::VARCHAR[]`;

/** Reads the extract state of a DuckDB file; a file that does not exist yet is an empty warehouse. */
export function duckDbExtractState(path: string): ExtractState {
  if (path !== ":memory:" && !existsSync(path)) return emptyExtractState;
  // One connection for the extract's three questions, opened on the first and closed by `close`.
  let opened: Promise<Warehouse> | undefined;
  const withWarehouse = async <T>(_path: string, read: (c: DuckDBConnection) => Promise<T>): Promise<T> => {
    opened ??= openDuckDb(path).then(async (w) => {
      await ensureBookkeeping(w.connection);
      return w;
    });
    return read((await opened).connection);
  };
  return {
    close: () => {
      void opened?.then((w) => w.close());
      opened = undefined;
    },
    watermarks: (repositories) =>
      withWarehouse(path, async (c) => {
        if (repositories.length === 0) return new Map();
        const reader = await c.runAndReadAll(
          `SELECT repo, MAX(window_until) AS until
           FROM (SELECT UNNEST(repositories) AS repo, window_until FROM ${extractsTable})
           WHERE repo IN (SELECT UNNEST(${list(repositories)}))
           GROUP BY repo`,
        );
        return new Map(reader.getRowObjectsJS().map((r) => [String(r.repo), r.until as Date]));
      }),
    knownRuns: (repositories, createdFrom) =>
      withWarehouse(path, async (c) => {
        if (repositories.length === 0) return new Map();
        // Only rows of fully loaded extracts: a run whose jobs batch is not in yet counts as unknown.
        const reader = await c.runAndReadAll(
          `SELECT run_id, run_attempt, status, epoch_ms(updated_at) AS updated_ms
           FROM ${rawTableRef("workflow_runs")}
           WHERE repository IN (SELECT UNNEST(${list(repositories)}))
             AND created_at >= $1::TIMESTAMPTZ
             AND _batch_id IN (SELECT l.batch_id FROM ${loadsTable} l JOIN ${extractsTable} e USING (extract_id))
           QUALIFY ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY run_attempt DESC, updated_at DESC, _extracted_at DESC) = 1`,
          [createdFrom.toISOString()],
        );
        const out = new Map<number, KnownRun>();
        for (const r of reader.getRowObjectsJS())
          out.set(Number(r.run_id), { runAttempt: Number(r.run_attempt), status: String(r.status), updatedAt: Number(r.updated_ms) });
        return out;
      }),
    knownArtifacts: (repositories, createdFrom) =>
      withWarehouse(path, async (c) => {
        if (repositories.length === 0) return new Set<number>();
        // A warehouse loaded before the table existed has none: nothing is known.
        const exists = await c.runAndReadAll(`SELECT 1 FROM duckdb_tables() WHERE schema_name = $1 AND table_name = 'workflow_artifacts'`, [datasets.raw]);
        if (exists.getRows().length === 0) return new Set<number>();
        // Only rows of fully loaded extracts, like knownRuns: a crash before the load means downloading again.
        const reader = await c.runAndReadAll(
          `SELECT DISTINCT artifact_id
           FROM ${rawTableRef("workflow_artifacts")}
           WHERE repository IN (SELECT UNNEST(${list(repositories)}))
             AND created_at >= $1::TIMESTAMPTZ
             AND _batch_id IN (SELECT l.batch_id FROM ${loadsTable} l JOIN ${extractsTable} e USING (extract_id))`,
          [createdFrom.toISOString()],
        );
        return new Set(reader.getRowObjectsJS().map((r) => Number(r.artifact_id)));
      }),
    knownCompares: (repositories) =>
      withWarehouse(path, async (c) => {
        if (repositories.length === 0) return new Set<string>();
        const exists = await c.runAndReadAll(`SELECT 1 FROM duckdb_tables() WHERE schema_name = $1 AND table_name = 'deployment_commits'`, [datasets.raw]);
        if (exists.getRows().length === 0) return new Set<string>();
        // Only rows of fully loaded extracts, like knownRuns: a crash before the load means comparing again.
        const reader = await c.runAndReadAll(
          `SELECT DISTINCT repository, base_sha, head_sha
           FROM ${rawTableRef("deployment_commits")}
           WHERE repository IN (SELECT UNNEST(${list(repositories)}))
             AND _batch_id IN (SELECT l.batch_id FROM ${loadsTable} l JOIN ${extractsTable} e USING (extract_id))`,
        );
        return new Set(reader.getRowObjectsJS().map((r) => compareKey(String(r.repository), String(r.base_sha), String(r.head_sha))));
      }),
    knownWorkflowDefinitions: (repositories, createdFrom) =>
      withWarehouse(path, async (c) => {
        const known = emptyKnownWorkflowDefinitions();
        if (repositories.length === 0) return known;
        const tables = await c.runAndReadAll(`SELECT table_name FROM duckdb_tables() WHERE schema_name = $1`, [datasets.raw]);
        const has = new Set(tables.getRowObjectsJS().map((r) => String(r.table_name)));
        if (!has.has("workflow_runs")) return known;
        const loaded = `_batch_id IN (SELECT l.batch_id FROM ${loadsTable} l JOIN ${extractsTable} e USING (extract_id))`;
        const repos = `repository IN (SELECT UNNEST(${list(repositories)}))`;
        if (has.has("workflow_definitions")) {
          const blobs = await c.runAndReadAll(`SELECT DISTINCT repository, path, blob_sha FROM ${rawTableRef("workflow_definitions")} WHERE ${loaded}`);
          for (const r of blobs.getRowObjectsJS()) known.blobs.add(blobKey(String(r.repository), String(r.path), String(r.blob_sha)));
        }
        const refs = rawTableRef("workflow_definition_refs");
        if (has.has("workflow_definition_refs")) {
          // Files read recently, and any read at a commit the window's runs ran on (an old commit run again).
          const rows = await c.runAndReadAll(
            `SELECT DISTINCT repository, path, commit_sha FROM ${refs}
             WHERE ${loaded}
               AND (_extracted_at >= $1::TIMESTAMPTZ
                    OR commit_sha IN (SELECT head_sha FROM ${rawTableRef("workflow_runs")} WHERE ${repos} AND created_at >= $1::TIMESTAMPTZ))`,
            [createdFrom.toISOString()],
          );
          for (const r of rows.getRowObjectsJS()) known.refs.add(refKey(String(r.repository), String(r.path), String(r.commit_sha)));
        }
        // The backlog: runs of the window (fully loaded) whose file at their commit was never read.
        const missing = has.has("workflow_definition_refs")
          ? `NOT EXISTS (SELECT 1 FROM ${refs} d WHERE d.repository = r.repository AND d.path = r.workflow_path AND d.commit_sha = r.head_sha AND d.${loaded})`
          : "TRUE";
        // Runs that reference reusable workflows come too: the extract skips what `refs` holds already.
        const referenced = `json_extract(r.payload, '$.referenced_workflows')`;
        const pending = await c.runAndReadAll(
          `SELECT repository, workflow_path AS path, head_sha AS commit_sha, epoch_ms(MAX(created_at)) AS created_ms, ANY_VALUE(CAST(${referenced} AS VARCHAR)) AS referenced
           FROM ${rawTableRef("workflow_runs")} r
           WHERE r.${repos} AND r.created_at >= $1::TIMESTAMPTZ AND starts_with(r.workflow_path, $2) AND r.${loaded}
             AND (${missing} OR COALESCE(json_array_length(${referenced}), 0) > 0)
           GROUP BY 1, 2, 3`,
          [createdFrom.toISOString(), WORKFLOW_DIR],
        );
        for (const r of pending.getRowObjectsJS()) known.pending.push(...pendingFromRow(r));
        return known;
      }),
    httpCache: () =>
      withWarehouse(path, async (c) => {
        const reader = await c.runAndReadAll(`SELECT url, etag, next_url, total_count, keys FROM ${httpCacheTable}`);
        const out = new Map<string, HttpCacheEntry>();
        for (const r of reader.getRowObjectsJS()) {
          const keys = r.keys as unknown[] | null;
          out.set(String(r.url), {
            url: String(r.url),
            etag: String(r.etag),
            next_url: r.next_url === null ? null : String(r.next_url),
            total_count: r.total_count === null ? null : Number(r.total_count),
            keys: keys === null ? null : keys.map(String),
          });
        }
        return out;
      }),
  };
}
