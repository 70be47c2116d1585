/**
 * Loads staged batches into the DuckDB raw tables, exactly once.
 *
 * Only files listed in a manifest are loaded (a manifest is written after all its files are complete).
 * Each file is loaded in one transaction together with its row in `_loads`, after its checksum and
 * record count are verified, so a crash mid-load leaves nothing behind and a second load of the same
 * batch is a no-op: nothing is doubled.
 *
 * When every file of a manifest is in, one last transaction records the extract in `_extracts` (the
 * watermark of incremental extracts) and its list-page ETags in `_http_cache`: the warehouse itself holds
 * the extractor's state, so there is no separate state to lose, and an ETag is only ever trusted once the
 * data it stands for is loaded.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { columnsOf, type RawTableName } from "../schemas/raw-tables.js";
import { manifestSchema, stagingLayout, type BatchFile, type Manifest } from "../schemas/manifest.js";
import type { Logger } from "../log/logger.js";
import { createRawTables, openDuckDb, quoteIdent, rawTableRef, type DuckDbSettings } from "./duckdb-connection.js";
import { datasets } from "./datasets.js";
import { stateTableDdl } from "./state-tables.js";
import { checkTargets } from "./targets.js";

export interface LoadResult {
  loaded: { batch_id: string; table: string; records: number }[];
  skipped: number;
  rows: Record<string, number>;
  quarantined: number;
  durationMs: number;
}

export class LoadError extends Error {
  override readonly name = "LoadError";
  constructor(message: string, readonly file: string) {
    super(`${file}: ${message}`);
  }
}

const loadsTable = `${quoteIdent(datasets.raw)}."_loads"`;
const quarantineTable = `${quoteIdent(datasets.raw)}."_quarantine"`;
export const extractsTable = `${quoteIdent(datasets.raw)}."_extracts"`;
export const httpCacheTable = `${quoteIdent(datasets.raw)}."_http_cache"`;

export async function ensureBookkeeping(connection: DuckDBConnection): Promise<void> {
  await createRawTables(connection);
  await connection.run(`CREATE TABLE IF NOT EXISTS ${loadsTable} (
    batch_id VARCHAR PRIMARY KEY, table_name VARCHAR NOT NULL, extract_id VARCHAR NOT NULL,
    path VARCHAR NOT NULL, records BIGINT NOT NULL, sha256 VARCHAR NOT NULL, loaded_at TIMESTAMPTZ NOT NULL)`);
  await connection.run(`CREATE TABLE IF NOT EXISTS ${quarantineTable} (
    resource VARCHAR NOT NULL, source VARCHAR NOT NULL, reason VARCHAR NOT NULL, record JSON,
    _batch_id VARCHAR NOT NULL, _extracted_at TIMESTAMPTZ)`);
  // Declared once for DuckDB and BigQuery (load/state-tables.ts).
  await connection.run(stateTableDdl("_extracts"));
  await connection.run(stateTableDdl("_http_cache"));
}

async function completedExtractIds(connection: DuckDBConnection): Promise<Set<string>> {
  const reader = await connection.runAndReadAll(`SELECT extract_id FROM ${extractsTable}`);
  return new Set(reader.getRowObjects().map((r) => String(r.extract_id)));
}

/** Records a fully loaded extract and its ETags, in one transaction. */
async function completeExtract(connection: DuckDBConnection, stagingDir: string, manifest: Manifest): Promise<void> {
  const cache = manifest.http_cache ?? null;
  const cachePath = cache ? join(stagingDir, cache.path) : null;
  if (cache && cachePath) {
    if (!existsSync(cachePath)) throw new LoadError("listed in the manifest but missing from staging", cachePath);
    const actual = await sha256Of(cachePath);
    if (actual !== cache.sha256) throw new LoadError(`checksum mismatch (manifest ${cache.sha256}, file ${actual})`, cachePath);
  }
  const records = Object.values(manifest.counts).reduce((n, c) => n + c, 0);
  await connection.run("BEGIN TRANSACTION");
  try {
    if (cache && cachePath && cache.entries > 0) {
      await connection.run(
        `INSERT OR REPLACE INTO ${httpCacheTable}
         SELECT url, etag, next_url, total_count, keys, $1, $2::TIMESTAMPTZ
         FROM read_json(${sqlString(cachePath)}, format = 'newline_delimited', compression = 'gzip', hive_partitioning = false,
           columns = {'url': 'VARCHAR', 'etag': 'VARCHAR', 'next_url': 'VARCHAR', 'total_count': 'BIGINT', 'keys': 'VARCHAR[]'})`,
        [manifest.extract_id, manifest.finished_at],
      );
    }
    const list = (xs: string[]) => `[${xs.map(sqlString).join(", ")}]::VARCHAR[]`;
    await connection.run(
      `INSERT INTO ${extractsTable} VALUES ($1, $2::TIMESTAMPTZ, $3::TIMESTAMPTZ, $4::TIMESTAMPTZ, $5::TIMESTAMPTZ,
        ${list(manifest.scope.repositories)}, ${list(manifest.scope.organizations)}, ${list(manifest.scope.users)}, $6, $7, $8, now())`,
      [manifest.extract_id, manifest.started_at, manifest.finished_at, manifest.window.since, manifest.window.until, records, manifest.quarantined, manifest.api.requests],
    );
    await connection.run("COMMIT");
  } catch (error) {
    await connection.run("ROLLBACK");
    throw error;
  }
}

export function readManifests(stagingDir: string): { path: string; manifest: Manifest }[] {
  const dir = join(stagingDir, stagingLayout.manifestsDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => {
      const path = join(dir, f);
      const parsed = manifestSchema.safeParse(JSON.parse(readFileSync(path, "utf8")));
      if (!parsed.success) {
        throw new LoadError(`invalid manifest: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, path);
      }
      return { path, manifest: parsed.data };
    });
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** `read_json` with the schema's explicit column types: no sniffing, and a wrong type fails the load. */
export function readJsonSql(table: RawTableName, path: string): string {
  const columns = columnsOf(table)
    .map((c) => `${sqlString(c.name)}: ${sqlString(c.duckdbType)}`)
    .join(", ");
  return `read_json(${sqlString(path)}, format = 'newline_delimited', compression = 'gzip', hive_partitioning = false, columns = {${columns}})`;
}

async function loadedBatchIds(connection: DuckDBConnection): Promise<Set<string>> {
  const reader = await connection.runAndReadAll(`SELECT batch_id FROM ${loadsTable}`);
  return new Set(reader.getRowObjects().map((r) => String(r.batch_id)));
}

async function loadFile(connection: DuckDBConnection, stagingDir: string, manifest: Manifest, file: BatchFile): Promise<void> {
  const path = join(stagingDir, file.path);
  if (!existsSync(path)) throw new LoadError("listed in the manifest but missing from staging", path);
  const actual = await sha256Of(path);
  if (actual !== file.sha256) throw new LoadError(`checksum mismatch (manifest ${file.sha256}, file ${actual})`, path);
  const table = file.table as RawTableName;
  const names = columnsOf(table).map((c) => quoteIdent(c.name)).join(", ");
  await connection.run("BEGIN TRANSACTION");
  try {
    await connection.run(`DELETE FROM ${rawTableRef(table)} WHERE _batch_id = $1`, [file.batch_id]);
    const inserted = await connection.run(`INSERT INTO ${rawTableRef(table)} (${names}) SELECT ${names} FROM ${readJsonSql(table, path)}`);
    const count = Number(inserted.rowsChanged);
    if (count !== file.records) throw new LoadError(`manifest lists ${file.records} records but the file holds ${count}`, path);
    await connection.run(`INSERT INTO ${loadsTable} VALUES ($1, $2, $3, $4, $5, $6, now())`, [
      file.batch_id,
      file.table,
      manifest.extract_id,
      file.path,
      file.records,
      file.sha256,
    ]);
    await connection.run("COMMIT");
  } catch (error) {
    await connection.run("ROLLBACK");
    throw error;
  }
}

async function loadQuarantine(connection: DuckDBConnection, stagingDir: string, manifest: Manifest): Promise<number> {
  if (!manifest.quarantine_path) return 0;
  const batchId = `${manifest.extract_id}-quarantine`;
  const path = join(stagingDir, manifest.quarantine_path);
  await connection.run("BEGIN TRANSACTION");
  try {
    await connection.run(`DELETE FROM ${quarantineTable} WHERE _batch_id = $1`, [batchId]);
    await connection.run(
      `INSERT INTO ${quarantineTable} SELECT * FROM read_json(${sqlString(path)}, format = 'newline_delimited', compression = 'gzip', hive_partitioning = false,
        columns = {'resource': 'VARCHAR', 'source': 'VARCHAR', 'reason': 'VARCHAR', 'record': 'JSON', '_batch_id': 'VARCHAR', '_extracted_at': 'TIMESTAMPTZ'})`,
    );
    await connection.run(`INSERT INTO ${loadsTable} VALUES ($1, '_quarantine', $2, $3, $4, '', now())`, [batchId, manifest.extract_id, manifest.quarantine_path, manifest.quarantined]);
    await connection.run("COMMIT");
  } catch (error) {
    await connection.run("ROLLBACK");
    throw error;
  }
  return manifest.quarantined;
}

export interface LoadOptions {
  duckdbPath: string;
  stagingDir: string;
  log: Logger;
  /** Called before each transaction: the crash-injection point of the resilience tests. */
  beforeStep?: () => void;
  /** DuckDB settings of the opening (serve bounds threads and memory). */
  duckdb?: DuckDbSettings;
  /** An open connection to the warehouse to load through (left open): `serve` opens DuckDB once per flush. */
  connection?: DuckDBConnection;
}

export async function loadIntoDuckDb(options: LoadOptions): Promise<LoadResult> {
  const started = Date.now();
  const warehouse = options.connection ? { connection: options.connection, closeAsync: async () => {} } : await openDuckDb(options.duckdbPath, options.duckdb);
  const result: LoadResult = { loaded: [], skipped: 0, rows: {}, quarantined: 0, durationMs: 0 };
  try {
    await ensureBookkeeping(warehouse.connection);
    const manifests = readManifests(options.stagingDir);
    // Another warehouse's extracts in this folder: refuse before loading anything (load/targets.ts).
    checkTargets(manifests, { kind: "duckdb", path: options.duckdbPath });
    const done = await loadedBatchIds(warehouse.connection);
    const complete = await completedExtractIds(warehouse.connection);
    for (const { manifest } of manifests) {
      for (const file of manifest.files) {
        if (done.has(file.batch_id)) {
          result.skipped += 1;
          continue;
        }
        options.beforeStep?.();
        await loadFile(warehouse.connection, options.stagingDir, manifest, file);
        done.add(file.batch_id);
        result.loaded.push({ batch_id: file.batch_id, table: file.table, records: file.records });
        result.rows[file.table] = (result.rows[file.table] ?? 0) + file.records;
        options.log.debug("batch loaded", { batch_id: file.batch_id, table: file.table, records: file.records });
      }
      if (manifest.quarantine_path && !done.has(`${manifest.extract_id}-quarantine`)) {
        options.beforeStep?.();
        result.quarantined += await loadQuarantine(warehouse.connection, options.stagingDir, manifest);
      }
      if (!complete.has(manifest.extract_id)) {
        options.beforeStep?.();
        await completeExtract(warehouse.connection, options.stagingDir, manifest);
        complete.add(manifest.extract_id);
      }
    }
  } finally {
    await warehouse.closeAsync();
  }
  result.durationMs = Date.now() - started;
  options.log.info("load finished", { batches: result.loaded.length, already_loaded: result.skipped, rows: result.rows, quarantined: result.quarantined, duration_ms: result.durationMs });
  return result;
}
