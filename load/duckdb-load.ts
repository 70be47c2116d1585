/**
 * Loads staged batches into the DuckDB raw tables, exactly once.
 *
 * Only files listed in a manifest are loaded (a manifest is written after all its files are complete).
 * Each file is loaded in one transaction together with its row in `_loads`, after its checksum and
 * record count are verified, so a crash mid-load leaves nothing behind and a second load of the same
 * batch is a no-op: nothing is doubled.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { columnsOf, type RawTableName } from "../schemas/raw-tables.js";
import { manifestSchema, stagingLayout, type BatchFile, type Manifest } from "../schemas/manifest.js";
import type { Logger } from "../log/logger.js";
import { createRawTables, openDuckDb, quoteIdent, rawTableRef } from "./duckdb-connection.js";
import { datasets } from "./datasets.js";

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

async function ensureBookkeeping(connection: DuckDBConnection): Promise<void> {
  await createRawTables(connection);
  await connection.run(`CREATE TABLE IF NOT EXISTS ${loadsTable} (
    batch_id VARCHAR PRIMARY KEY, table_name VARCHAR NOT NULL, extract_id VARCHAR NOT NULL,
    path VARCHAR NOT NULL, records BIGINT NOT NULL, sha256 VARCHAR NOT NULL, loaded_at TIMESTAMPTZ NOT NULL)`);
  await connection.run(`CREATE TABLE IF NOT EXISTS ${quarantineTable} (
    resource VARCHAR NOT NULL, source VARCHAR NOT NULL, reason VARCHAR NOT NULL, record JSON,
    _batch_id VARCHAR NOT NULL, _extracted_at TIMESTAMPTZ)`);
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
      `INSERT INTO ${quarantineTable} SELECT * FROM read_json(${sqlString(path)}, format = 'newline_delimited', compression = 'gzip',
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

export async function loadIntoDuckDb(options: { duckdbPath: string; stagingDir: string; log: Logger }): Promise<LoadResult> {
  const started = Date.now();
  const warehouse = await openDuckDb(options.duckdbPath);
  const result: LoadResult = { loaded: [], skipped: 0, rows: {}, quarantined: 0, durationMs: 0 };
  try {
    await ensureBookkeeping(warehouse.connection);
    const done = await loadedBatchIds(warehouse.connection);
    for (const { manifest } of readManifests(options.stagingDir)) {
      for (const file of manifest.files) {
        if (done.has(file.batch_id)) {
          result.skipped += 1;
          continue;
        }
        await loadFile(warehouse.connection, options.stagingDir, manifest, file);
        done.add(file.batch_id);
        result.loaded.push({ batch_id: file.batch_id, table: file.table, records: file.records });
        result.rows[file.table] = (result.rows[file.table] ?? 0) + file.records;
        options.log.debug("batch loaded", { batch_id: file.batch_id, table: file.table, records: file.records });
      }
      if (manifest.quarantine_path && !done.has(`${manifest.extract_id}-quarantine`)) {
        result.quarantined += await loadQuarantine(warehouse.connection, options.stagingDir, manifest);
      }
    }
  } finally {
    warehouse.close();
  }
  result.durationMs = Date.now() - started;
  options.log.info("load finished", { batches: result.loaded.length, already_loaded: result.skipped, rows: result.rows, quarantined: result.quarantined, duration_ms: result.durationMs });
  return result;
}
