/**
 * Streams validated records into gzip NDJSON batch files, one per raw table per extract.
 *
 * Files are written as `<name>.partial` and renamed only when closed, and the manifest is written last
 * (atomically, via rename), so a crash at any instant leaves either no manifest (nothing is loaded) or a
 * manifest whose every file is complete. Records stream to disk; memory stays flat whatever the volume.
 */
import { createHash } from "node:crypto";
import { createWriteStream, mkdirSync, renameSync, writeFileSync, type WriteStream } from "node:fs";
import { dirname, join } from "node:path";
import { createGzip, type Gzip } from "node:zlib";
import { once } from "node:events";
import { rawTables, type RawTableName, type QuarantineRow } from "../schemas/raw-tables.js";
import { stagingLayout, type BatchFile, type Manifest } from "../schemas/manifest.js";

class NdjsonGzipFile {
  private readonly gzip: Gzip;
  private readonly out: WriteStream;
  private readonly hash = createHash("sha256");
  private draining: Promise<unknown> | undefined;
  bytes = 0;
  records = 0;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.gzip = createGzip({ level: 6 });
    this.out = createWriteStream(`${path}.partial`);
    this.gzip.on("data", (chunk: Buffer) => {
      this.hash.update(chunk);
      this.bytes += chunk.length;
    });
    this.gzip.pipe(this.out);
  }

  async write(record: unknown): Promise<void> {
    this.records += 1;
    // Many extractor tasks write concurrently; they share one wait for 'drain' (backpressure) rather
    // than each adding a listener. Each record is a single write call, so lines never interleave.
    if (!this.gzip.write(`${JSON.stringify(record)}\n`)) {
      this.draining ??= once(this.gzip, "drain").finally(() => {
        this.draining = undefined;
      });
    }
    if (this.draining) await this.draining;
  }

  async close(): Promise<{ bytes: number; sha256: string }> {
    this.gzip.end();
    await once(this.out, "finish");
    renameSync(`${this.path}.partial`, this.path);
    return { bytes: this.bytes, sha256: this.hash.digest("hex") };
  }
}

export type QuarantineEntry = Omit<QuarantineRow, "_batch_id" | "_extracted_at">;

export class BatchWriter {
  private readonly files = new Map<RawTableName, NdjsonGzipFile>();
  private quarantineFile: NdjsonGzipFile | undefined;
  readonly counts: Record<string, number> = {};
  quarantined = 0;

  constructor(
    private readonly stagingDir: string,
    readonly extractId: string,
    private readonly date: string,
  ) {}

  batchId(table: RawTableName): string {
    return `${this.extractId}-${table}`;
  }

  /** Validates and writes one raw row; a row failing its schema is quarantined with the reason. */
  async write<T extends RawTableName>(table: T, row: Record<string, unknown>, source: string): Promise<boolean> {
    const withLineage = { ...row, _batch_id: this.batchId(table) };
    const parsed = rawTables[table].schema.safeParse(withLineage);
    if (!parsed.success) {
      const reason = parsed.error.issues
        .map((i) => `${i.path.join(".") || "(record)"}: ${i.message}`)
        .join("; ");
      await this.quarantine({ resource: table, source, reason, record: row.payload ?? row }, String(row._extracted_at ?? ""));
      return false;
    }
    let file = this.files.get(table);
    if (!file) {
      file = new NdjsonGzipFile(join(this.stagingDir, stagingLayout.batch(table, this.date, this.batchId(table))));
      this.files.set(table, file);
    }
    await file.write(parsed.data);
    this.counts[table] = (this.counts[table] ?? 0) + 1;
    return true;
  }

  async quarantine(entry: QuarantineEntry, extractedAt: string): Promise<void> {
    this.quarantineFile ??= new NdjsonGzipFile(join(this.stagingDir, stagingLayout.quarantine(this.date, this.extractId)));
    this.quarantined += 1;
    await this.quarantineFile.write({
      ...entry,
      _batch_id: `${this.extractId}-quarantine`,
      _extracted_at: extractedAt || new Date().toISOString(),
    } satisfies QuarantineRow);
  }

  /** Closes every file and writes the manifest last; returns the manifest. */
  async finish(meta: Omit<Manifest, "files" | "counts" | "quarantined" | "quarantine_path" | "version" | "extract_id">): Promise<{ manifest: Manifest; path: string }> {
    const files: BatchFile[] = [];
    for (const [table, file] of this.files) {
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
      await this.quarantineFile.close();
      quarantinePath = stagingLayout.quarantine(this.date, this.extractId);
    }
    const manifest: Manifest = {
      version: 1,
      extract_id: this.extractId,
      ...meta,
      counts: { ...this.counts },
      quarantined: this.quarantined,
      quarantine_path: quarantinePath,
      files,
    };
    const path = join(this.stagingDir, stagingLayout.manifest(this.extractId));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(`${path}.partial`, `${JSON.stringify(manifest, null, 2)}\n`);
    renameSync(`${path}.partial`, path);
    return { manifest, path };
  }
}
