/**
 * Streams validated records into gzip NDJSON batch files, one per raw table per extract.
 *
 * Files are written as `<name>.partial` and renamed only when closed, and the manifest is written last
 * (atomically, via rename), so a crash at any instant leaves either no manifest (nothing is loaded) or a
 * manifest whose every file is complete. Records stream to disk; memory stays flat whatever the volume.
 */
import { createHash } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, type WriteStream } from "node:fs";
import { dirname, join } from "node:path";
import { createGzip, type Gzip } from "node:zlib";
import { once } from "node:events";
import { rawTables, type RawTableName, type QuarantineRow } from "../schemas/raw-tables.js";
import { stagingLayout, type BatchFile, type HttpCacheEntry, type Manifest } from "../schemas/manifest.js";
import { unknownFields } from "./known-fields.js";
import { redact } from "../log/logger.js";

/** Largest record accepted (serialised bytes); bigger ones are quarantined. BigQuery rows may reach 100 MB, run and job objects are a few KB. */
export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;

const DEFAULT_GZIP_LEVEL = 6;

/** Characters of NDJSON gathered before they go to gzip in one write. */
const CHUNK_CHARS = 256 * 1024;

class NdjsonGzipFile {
  private readonly gzip: Gzip;
  private readonly out: WriteStream;
  private readonly hash = createHash("sha256");
  private draining: Promise<unknown> | undefined;
  private pending: string[] = [];
  private pendingBytes = 0;
  bytes = 0;
  records = 0;

  constructor(
    readonly path: string,
    level = DEFAULT_GZIP_LEVEL,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.gzip = createGzip({ level });
    this.out = createWriteStream(`${path}.partial`);
    this.gzip.on("data", (chunk: Buffer) => {
      this.hash.update(chunk);
      this.bytes += chunk.length;
    });
    this.gzip.pipe(this.out);
  }

  async write(record: unknown): Promise<void> {
    await this.writeLine(redact(JSON.stringify(record)));
  }

  async writeLine(line: string): Promise<void> {
    this.records += 1;
    // Lines are gathered and handed to gzip in chunks: each write to a zlib stream is one trip to the
    // thread pool and back through the event loop, and one per line (tens of thousands per `serve`
    // flush, steps included) cost the main thread more than the compression itself. A line is appended
    // whole in one synchronous step, so lines of concurrent writers never interleave.
    this.pending.push(`${line}\n`);
    this.pendingBytes += line.length + 1;
    if (this.pendingBytes >= CHUNK_CHARS) this.flushPending();
    // Many extractor tasks write concurrently; they share one wait for 'drain' (backpressure) rather
    // than each adding a listener.
    if (this.draining) await this.draining;
  }

  private flushPending(): void {
    if (this.pending.length === 0) return;
    const chunk = this.pending.join("");
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.gzip.write(chunk)) {
      this.draining ??= once(this.gzip, "drain").finally(() => {
        this.draining = undefined;
      });
    }
  }

  /** What a crash leaves: the `.partial` file stays, never renamed, never listed in a manifest. */
  abandon(): void {
    // Late writes and flushes after the destroy must not surface as unhandled stream errors.
    this.gzip.on("error", () => {});
    this.out.on("error", () => {});
    this.gzip.unpipe(this.out);
    this.gzip.destroy();
    this.out.destroy();
  }

  async close(): Promise<{ bytes: number; sha256: string }> {
    this.flushPending();
    this.gzip.end();
    await once(this.out, "finish");
    renameSync(`${this.path}.partial`, this.path);
    return { bytes: this.bytes, sha256: this.hash.digest("hex") };
  }
}

export type QuarantineEntry = Omit<QuarantineRow, "_batch_id" | "_extracted_at">;

export interface BatchWriterOptions {
  maxRecordBytes?: number;
  /** Called before each record and each step of `finish`: the crash-injection point of the resilience tests. */
  crashPoint?: () => void;
  /**
   * gzip level of the batch files (default 6). `serve` stages every few seconds what the warehouse reads
   * back at once, on the cores that answer deliveries, so it trades some size for a cheaper compression.
   */
  gzipLevel?: number;
}

export class BatchWriter {
  private readonly files = new Map<RawTableName, NdjsonGzipFile>();
  private quarantineFile: NdjsonGzipFile | undefined;
  readonly counts: Record<string, number> = {};
  readonly quarantineReasons: Record<string, number> = {};
  readonly unknownFields: Record<string, Record<string, number>> = {};
  quarantined = 0;
  private readonly maxRecordBytes: number;
  private readonly crashPoint: () => void;
  private readonly gzipLevel: number;

  constructor(
    private readonly stagingDir: string,
    readonly extractId: string,
    private readonly date: string,
    options: BatchWriterOptions = {},
  ) {
    this.maxRecordBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    this.crashPoint = options.crashPoint ?? (() => {});
    this.gzipLevel = options.gzipLevel ?? DEFAULT_GZIP_LEVEL;
  }

  batchId(table: RawTableName): string {
    return `${this.extractId}-${table}`;
  }

  /** Validates and writes one raw row; a row failing its schema is quarantined with the reason. */
  /**
   * Validates and writes one raw row; a row failing its schema, or too big, is quarantined with the
   * reason. Fields GitHub added that the extractor does not know are kept (in `payload`) and counted.
   */
  async write<T extends RawTableName>(table: T, row: Record<string, unknown>, source: string): Promise<boolean> {
    this.crashPoint();
    const withLineage = { ...row, _batch_id: this.batchId(table) };
    const parsed = rawTables[table].schema.safeParse(withLineage);
    if (!parsed.success) {
      const reason = parsed.error.issues
        .map((i) => `${i.path.join(".") || "(record)"}: ${i.message}`)
        .join("; ");
      await this.quarantine({ resource: table, source, reason, record: row.payload ?? row }, String(row._extracted_at ?? ""));
      return false;
    }
    // A registered secret (the token) echoed back inside an API object is masked like in the logs.
    const line = redact(JSON.stringify(parsed.data));
    const bytes = Buffer.byteLength(line);
    if (bytes > this.maxRecordBytes) {
      const reason = `record is ${bytes} bytes, above the limit of ${this.maxRecordBytes} (--max-record-bytes)`;
      await this.quarantine({ resource: table, source, reason, record: row.payload ?? row }, String(row._extracted_at ?? ""));
      return false;
    }
    for (const field of unknownFields(table, row.payload)) {
      const fields = (this.unknownFields[table] ??= {});
      fields[field] = (fields[field] ?? 0) + 1;
    }
    let file = this.files.get(table);
    if (!file) {
      file = new NdjsonGzipFile(join(this.stagingDir, stagingLayout.batch(table, this.date, this.batchId(table))), this.gzipLevel);
      this.files.set(table, file);
    }
    await file.writeLine(line);
    this.counts[table] = (this.counts[table] ?? 0) + 1;
    return true;
  }

  /** Records that reached the raw tables plus those quarantined. */
  get seen(): number {
    return Object.values(this.counts).reduce((n, c) => n + c, 0) + this.quarantined;
  }

  async quarantine(entry: QuarantineEntry, extractedAt: string): Promise<void> {
    this.quarantineFile ??= new NdjsonGzipFile(join(this.stagingDir, stagingLayout.quarantine(this.date, this.extractId)), this.gzipLevel);
    this.quarantined += 1;
    // Reasons are grouped without the offending values, so the manifest stays small.
    const key = `${entry.resource}: ${entry.reason.replace(/\d+ bytes/, "N bytes")}`;
    this.quarantineReasons[key] = (this.quarantineReasons[key] ?? 0) + 1;
    await this.quarantineFile.write({
      ...entry,
      _batch_id: `${this.extractId}-quarantine`,
      _extracted_at: extractedAt || new Date().toISOString(),
    } satisfies QuarantineRow);
  }

  /** Stops without a manifest (the extract failed): files stay `.partial`, exactly as after a crash. */
  abandon(): void {
    for (const file of this.files.values()) file.abandon();
    this.quarantineFile?.abandon();
  }

  /** Closes every file, writes the HTTP cache file, and writes the manifest last; returns the manifest. */
  async finish(
    meta: Omit<Manifest, "files" | "counts" | "quarantined" | "quarantine_path" | "version" | "extract_id" | "quarantine_reasons" | "unknown_fields" | "http_cache">,
    httpCache: HttpCacheEntry[] = [],
  ): Promise<{ manifest: Manifest; path: string }> {
    const files: BatchFile[] = [];
    for (const [table, file] of this.files) {
      this.crashPoint();
      const { bytes, sha256 } = await file.close();
      files.push({
        table,
        batch_id: this.batchId(table),
        path: stagingLayout.batch(table, this.date, this.batchId(table)),
        records: file.records,
        bytes,
        sha256,
      });
    }
    let quarantinePath: string | null = null;
    if (this.quarantineFile) {
      this.crashPoint();
      await this.quarantineFile.close();
      quarantinePath = stagingLayout.quarantine(this.date, this.extractId);
    }
    let cache: Manifest["http_cache"] = null;
    if (httpCache.length > 0) {
      this.crashPoint();
      const path = stagingLayout.httpCache(this.extractId);
      const file = new NdjsonGzipFile(join(this.stagingDir, path));
      for (const entry of httpCache) await file.write(entry);
      const { sha256 } = await file.close();
      cache = { path, entries: httpCache.length, sha256 };
    }
    const manifest: Manifest = {
      version: 1,
      extract_id: this.extractId,
      ...meta,
      counts: { ...this.counts },
      quarantined: this.quarantined,
      quarantine_path: quarantinePath,
      files,
      quarantine_reasons: { ...this.quarantineReasons },
      unknown_fields: structuredClone(this.unknownFields),
      http_cache: cache,
    };
    this.crashPoint();
    const path = join(this.stagingDir, stagingLayout.manifest(this.extractId));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(`${path}.partial`, `${JSON.stringify(manifest, null, 2)}\n`);
    renameSync(`${path}.partial`, path);
    return { manifest, path };
  }
}

/**
 * Removes what crashed extracts left in staging: `.partial` files, and batch, quarantine and HTTP cache
 * files of extracts that never wrote a manifest. The loader ignores them anyway (it reads only files a
 * manifest lists); this keeps staging from growing. Files younger than `graceMs` are left alone, since
 * they may belong to an extract still running.
 */
export function removeOrphans(stagingDir: string, graceMs: number, now = Date.now()): string[] {
  const manifests = new Set<string>();
  const manifestDir = join(stagingDir, stagingLayout.manifestsDir);
  if (existsSync(manifestDir)) for (const f of readdirSync(manifestDir)) if (f.endsWith(".json")) manifests.add(f.slice(0, -".json".length));
  const removed: string[] = [];
  const extractIdOf = (relative: string): string | null => {
    const name = relative.split("/").pop() ?? "";
    const base = name.replace(/\.partial$/, "").replace(/\.ndjson\.gz$/, "").replace(/\.json$/, "");
    if (relative.startsWith("raw/")) {
      const table = relative.split("/")[1] ?? "";
      return base.endsWith(`-${table}`) ? base.slice(0, -table.length - 1) : null;
    }
    return base;
  };
  const visit = (relative: string): void => {
    const full = join(stagingDir, relative);
    for (const entry of readdirSync(full, { withFileTypes: true })) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        visit(child);
        continue;
      }
      const partial = entry.name.endsWith(".partial");
      const id = extractIdOf(child);
      const orphan = partial || (id !== null && !manifests.has(id) && !child.startsWith(`${stagingLayout.manifestsDir}/`));
      if (!orphan) continue;
      if (now - statSync(join(stagingDir, child)).mtimeMs < graceMs) continue;
      rmSync(join(stagingDir, child), { force: true });
      removed.push(child);
    }
  };
  for (const root of ["raw", "quarantine", "http-cache", stagingLayout.manifestsDir]) if (existsSync(join(stagingDir, root))) visit(root);
  return removed;
}
