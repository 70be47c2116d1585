/**
 * The extractor's state as load-ready objects for BigQuery: one `_extracts` row and the `_http_cache`
 * rows of an extract, as NDJSON in the staging layout (`state/<table>/<extract id>.ndjson.gz`).
 *
 * They are built from the manifest and the extract's ETag file when the extract is published, by the one
 * process that ran the extract, and their bytes depend on nothing else (timestamps come from the
 * manifest, gzip carries no mtime), so publishing again after a crash produces identical objects and the
 * uploader skips them. On BigQuery `loaded_at` and `recorded_at` are the extract's `finished_at`: the
 * content of an object must not depend on when a loader got to it.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { httpCacheEntrySchema, type HttpCacheEntry, type Manifest } from "../schemas/manifest.js";
import { StagingError } from "./staging.js";
import type { StateTableName } from "./state-tables.js";

export function stateObjectPath(table: StateTableName, extractId: string): string {
  return `state/${table}/${extractId}.ndjson.gz`;
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** BigQuery has no NULL arrays (a JSON null in a REPEATED field is rejected): a page without keys has none. */
const entryRow = (entry: HttpCacheEntry) => ({ ...entry, keys: entry.keys ?? [] });

/** The `_extracts` row of a manifest, in `stateTables._extracts` column order. */
export function extractsRow(manifest: Manifest): Record<string, unknown> {
  return {
    extract_id: manifest.extract_id,
    started_at: manifest.started_at,
    finished_at: manifest.finished_at,
    window_since: manifest.window.since,
    window_until: manifest.window.until,
    repositories: manifest.scope.repositories,
    organizations: manifest.scope.organizations,
    users: manifest.scope.users,
    records: Object.values(manifest.counts).reduce((n, c) => n + c, 0),
    quarantined: manifest.quarantined,
    api_requests: manifest.api.requests,
    loaded_at: manifest.finished_at,
  };
}

/**
 * Writes the state objects of a manifest into a local staging folder and returns their paths (relative
 * to the staging root). The ETag file is checked against the manifest's checksum first.
 */
export function writeStateObjects(stagingDir: string, manifest: Manifest): string[] {
  const write = (path: string, body: Buffer) => {
    const file = join(stagingDir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, body);
    return path;
  };
  const paths: string[] = [];
  const cache = manifest.http_cache ?? null;
  if (cache && cache.entries > 0) {
    const source = join(stagingDir, cache.path);
    if (!existsSync(source)) throw new StagingError("listed in the manifest but missing from the local staging folder", source);
    const raw = readFileSync(source);
    if (sha256(raw) !== cache.sha256) throw new StagingError(`checksum mismatch (manifest ${cache.sha256}, file ${sha256(raw)})`, source);
    const lines = gunzipSync(raw)
      .toString("utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.stringify({ ...entryRow(httpCacheEntrySchema.parse(JSON.parse(l))), extract_id: manifest.extract_id, recorded_at: manifest.finished_at }));
    paths.push(write(stateObjectPath("_http_cache", manifest.extract_id), gzipSync(Buffer.from(`${lines.join("\n")}\n`))));
  }
  paths.push(write(stateObjectPath("_extracts", manifest.extract_id), gzipSync(Buffer.from(`${JSON.stringify(extractsRow(manifest))}\n`))));
  return paths;
}
