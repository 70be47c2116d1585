/**
 * The durable spool of `serve`: every accepted delivery is appended as one JSON line to the active
 * segment file of `<warehouse name>.spool/` (beside the DuckDB file), and the HTTP answer is sent only
 * once the line is on disk (fdatasync). Appends arriving while a sync is under way wait for the next one
 * and share it (group commit), so the cost of a sync is spread over every concurrent delivery.
 *
 * Segments: `seg-<UTC time>-<random>.ndjson`, names unique across restarts and sorting by time. The
 * flusher seals the active segment (`rotate`), turns each sealed segment into one staged extract
 * (manifest id `webhook-<segment>`), loads it, records its delivery keys in `github_raw._deliveries`
 * and only then deletes the segment. At start every segment present is sealed: a crash leaves at most a
 * torn last line (never acknowledged, since its sync did not complete), which is ignored.
 *
 * Duplicates: a delivery key (`gh:<hook id>:<delivery GUID>` or `ci:<event_id>`) is known when it is in a
 * spool segment or in `_deliveries` (both read at start). A duplicate that arrives while the original is
 * still being synced waits for that sync and is then answered as a duplicate; if the original's append
 * fails, the key is forgotten so a retry is stored.
 */
import { randomBytes } from "node:crypto";
import { closeSync, createReadStream, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, accessSync, constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";

export interface SpoolEntry {
  /** ISO instant of receipt: becomes `_extracted_at` of the rows. */
  received_at: string;
  source: "webhook" | "ci-events";
  /** `X-GitHub-Event` (or the ci-event's GitHub object kind). */
  event: string;
  /** `X-GitHub-Delivery` GUID, or the ci-event's `event_id`. */
  delivery: string;
  hook_id: string | null;
  /** Dedupe key. */
  key: string;
  body: Record<string, unknown>;
}

export const spoolDirOf = (duckdbPath: string): string => join(dirname(duckdbPath), `${basename(duckdbPath, extname(duckdbPath))}.spool`);

export const webhookKey = (hookId: string | null | undefined, delivery: string): string => `gh:${hookId ?? ""}:${delivery}`;
export const ciEventKey = (eventId: string): string => `ci:${eventId}`;

interface Pending {
  line: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function segmentName(): string {
  const t = new Date().toISOString().replace(/[-:.]/g, "").replace("T", "T");
  return `seg-${t}-${randomBytes(4).toString("hex")}.ndjson`;
}

/** Makes a directory's entries (a new or renamed file) durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Reads a segment's complete lines; a torn or unreadable line (a crash mid-write) is skipped. */
export function readSegment(path: string): { entries: SpoolEntry[]; torn: number } {
  const text = readFileSync(path, "utf8");
  const lines = text.split("\n");
  // The text after the last newline was never completely written (or is empty).
  const tail = lines.pop() ?? "";
  let torn = tail.length > 0 ? 1 : 0;
  const entries: SpoolEntry[] = [];
  for (const line of lines) {
    if (line.length === 0) continue;
    try {
      entries.push(JSON.parse(line) as SpoolEntry);
    } catch {
      torn += 1;
    }
  }
  return { entries, torn };
}

/**
 * A segment's entries one at a time, read in 1 MB chunks: the flusher stages a segment of any size with
 * only a chunk and a few entries in the heap. A torn or unreadable line (a crash mid-write, never
 * acknowledged) is skipped, as by `readSegment`.
 */
export async function* readSegmentEntries(path: string): AsyncGenerator<SpoolEntry> {
  let rest = "";
  for await (const chunk of createReadStream(path, { encoding: "utf8", highWaterMark: 1024 * 1024 })) {
    const text = rest + String(chunk);
    let start = 0;
    for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n", start)) {
      const line = text.slice(start, end);
      start = end + 1;
      if (line.length === 0) continue;
      let entry: SpoolEntry;
      try {
        entry = JSON.parse(line) as SpoolEntry;
      } catch {
        continue;
      }
      yield entry;
    }
    rest = text.slice(start);
  }
  // `rest` is the text after the last newline: never completely written, never acknowledged.
}

/**
 * An entry as one NDJSON line. `bodyJson`, when given, is the text `entry.body` was parsed from (the
 * delivery's raw bytes): it is written as it came instead of serialising the parsed object again, which
 * was a second pass over every body on the acknowledgement path. A raw newline or carriage return in
 * JSON text can only be whitespace between tokens (RFC 8259 §7: inside strings they must be escaped),
 * so replacing them with spaces keeps the same value on one line.
 */
export function spoolLine(entry: SpoolEntry, bodyJson?: string): string {
  if (bodyJson === undefined) return `${JSON.stringify(entry)}\n`;
  const { body: _body, ...rest } = entry;
  const head = JSON.stringify(rest);
  const oneLine = /[\r\n]/.test(bodyJson) ? bodyJson.replace(/[\r\n]/g, " ") : bodyJson;
  return `${head.slice(0, -1)},"body":${oneLine}}\n`;
}

export class Spool {
  private handle: FileHandle | undefined;
  private active = "";
  private activeCount = 0;
  private activeSize = 0;
  private pending: Pending[] = [];
  private rotateWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private pumping = false;
  private closed = false;
  /** Key → the durable append of its first delivery, then (settled) the time it was known from, in ms. */
  private readonly keys = new Map<string, Promise<void> | number>();
  /** Entries per sealed segment not yet removed. */
  private readonly sealed = new Map<string, number>();
  /** fdatasync calls made (group commit: fewer than appends under concurrency). */
  syncs = 0;
  /** Last append error (cleared by a successful sync): the health check reports it. */
  lastError: Error | undefined;

  private constructor(readonly dir: string) {}

  /** Opens the spool: seals what a previous process left, reads its keys, starts a fresh segment. */
  static async open(dir: string, loadedKeys: Iterable<string> = []): Promise<Spool> {
    mkdirSync(dir, { recursive: true });
    const spool = new Spool(dir);
    const now = Date.now();
    for (const key of loadedKeys) spool.keys.set(key, now);
    for (const name of spool.segmentFiles()) {
      const { entries } = readSegment(join(dir, name));
      for (const e of entries) spool.keys.set(e.key, Date.parse(e.received_at) || now);
      spool.sealed.set(name, entries.length);
    }
    await spool.startSegment();
    return spool;
  }

  private segmentFiles(): string[] {
    return readdirSync(this.dir)
      .filter((f) => f.startsWith("seg-") && f.endsWith(".ndjson"))
      .sort();
  }

  private async startSegment(): Promise<void> {
    this.active = segmentName();
    this.handle = await open(join(this.dir, this.active), "a");
    // The new file's directory entry must be durable before anything in it is acknowledged.
    fsyncDir(this.dir);
    this.activeCount = 0;
    this.activeSize = 0;
  }

  /** Deliveries accepted but not yet loaded (active segment plus sealed ones). */
  get backlog(): number {
    let n = this.activeCount;
    for (const c of this.sealed.values()) n += c;
    return n;
  }

  /** Whether a new delivery could be written now (for /health). */
  writable(): boolean {
    if (this.closed || this.lastError) return false;
    try {
      accessSync(this.dir, constants.W_OK);
      return existsSync(join(this.dir, this.active));
    } catch {
      return false;
    }
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** Forgets settled keys known for longer than `maxAgeMs` (memory stays flat; GitHub redelivers for 3 days). Returns how many. */
  pruneKeys(maxAgeMs: number, now = Date.now()): number {
    let removed = 0;
    for (const [key, value] of this.keys) {
      if (typeof value === "number" && now - value > maxAgeMs) {
        this.keys.delete(key);
        removed += 1;
      }
    }
    return removed;
  }

  /** Keys known (for tests and health). */
  get knownKeys(): number {
    return this.keys.size;
  }

  /**
   * Appends a delivery and resolves once it is durable; `duplicate` when its key was seen before (it is
   * then not written again, and resolves once the first copy is durable).
   */
  async append(entry: SpoolEntry, bodyJson?: string): Promise<{ duplicate: boolean }> {
    const known = this.keys.get(entry.key);
    if (known !== undefined) {
      if (typeof known !== "number") await known;
      return { duplicate: true };
    }
    if (this.closed) throw new Error("spool is closed");
    const line = spoolLine(entry, bodyJson);
    const durable = new Promise<void>((resolve, reject) => {
      this.pending.push({ line, resolve, reject });
    });
    this.keys.set(entry.key, durable);
    void this.pump();
    try {
      await durable;
    } catch (error) {
      this.keys.delete(entry.key);
      throw error;
    }
    this.keys.set(entry.key, Date.now());
    return { duplicate: false };
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.pending.length > 0 || this.rotateWaiters.length > 0) {
        if (this.pending.length > 0) {
          const batch = this.pending.splice(0);
          const data = batch.map((p) => p.line).join("");
          const handle = this.handle;
          try {
            if (!handle) throw new Error("spool has no open segment");
            // A segment removed under us (the folder deleted) would swallow acknowledged deliveries.
            if (!existsSync(join(this.dir, this.active))) throw new Error(`spool segment ${join(this.dir, this.active)} is gone`);
            await handle.write(data);
            await handle.datasync();
            this.syncs += 1;
            this.activeSize += Buffer.byteLength(data);
            this.activeCount += batch.length;
            this.lastError = undefined;
            for (const p of batch) p.resolve();
          } catch (error) {
            this.lastError = error instanceof Error ? error : new Error(String(error));
            // Nothing of a failed batch may stay behind unacknowledged: cut the file back.
            await handle?.truncate(this.activeSize).catch(() => {});
            for (const p of batch) p.reject(error);
          }
          continue;
        }
        const waiters = this.rotateWaiters.splice(0);
        try {
          if (this.activeCount > 0) {
            await this.handle?.close();
            this.sealed.set(this.active, this.activeCount);
            await this.startSegment();
          }
          for (const w of waiters) w.resolve();
        } catch (error) {
          for (const w of waiters) w.reject(error);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Seals the active segment (if it holds anything) once every pending append is synced. */
  async rotate(): Promise<void> {
    if (this.closed) return;
    const done = new Promise<void>((resolve, reject) => this.rotateWaiters.push({ resolve, reject }));
    void this.pump();
    await done;
  }

  /** Sealed segments, oldest first. */
  sealedSegments(): string[] {
    return [...this.sealed.keys()].sort();
  }

  read(segment: string): SpoolEntry[] {
    return readSegment(join(this.dir, segment)).entries;
  }

  /** A sealed segment's entries one at a time (`readSegmentEntries`). */
  entries(segment: string): AsyncGenerator<SpoolEntry> {
    return readSegmentEntries(join(this.dir, segment));
  }


  /** Deletes a sealed segment whose deliveries are in the warehouse (their keys stay known). */
  remove(segment: string): void {
    rmSync(join(this.dir, segment), { force: true });
    this.sealed.delete(segment);
  }

  /** Waits for pending appends, seals the active segment, and refuses new appends. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.rotate();
    this.closed = true;
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
    // An empty active segment is left from the rotation: remove it.
    if (this.activeCount === 0) rmSync(join(this.dir, this.active), { force: true });
  }
}
