/**
 * Reading an artifact zip with limits, entry by entry, straight into the parsers: nothing is extracted
 * to disk, so no entry name can ever decide where a file lands.
 *
 * Before any entry is read, the central directory is checked as a whole: entry count, each entry's path
 * (no absolute, drive-letter or `..` paths, no NUL), declared sizes against the limits and each large
 * entry's compression ratio (zip bombs). While an entry is read, the bytes actually inflated are counted
 * against the same limits, and yauzl checks them against the declared size, so a zip that lies in its
 * headers is stopped too.
 */
import { Transform, type Readable } from "node:stream";
import yauzl, { type Entry, type ZipFile } from "yauzl";

export interface UnzipLimits {
  /** Largest artifact zip downloaded, in bytes. */
  maxCompressedBytes: number;
  /** Largest sum of the entries' uncompressed sizes, in bytes. */
  maxUncompressedBytes: number;
  /** Largest uncompressed / compressed ratio of an entry bigger than `ratioFloorBytes`. */
  maxRatio: number;
  /** Entries smaller than this are not ratio-checked (a small file of repeated text compresses very well). */
  ratioFloorBytes: number;
  /** Most entries (files and folders) in one zip. */
  maxEntries: number;
}

/**
 * Real JUnit and coverage XML inflates 5-50x; deflate tops out near 1,030x, which is where bombs sit.
 * 200x leaves room for very repetitive reports while a 1 MB zip can still never become more than 200 MB.
 */
export const DEFAULT_UNZIP_LIMITS: UnzipLimits = {
  maxCompressedBytes: 256 * 1024 * 1024,
  maxUncompressedBytes: 1024 * 1024 * 1024,
  maxRatio: 200,
  ratioFloorBytes: 1024 * 1024,
  maxEntries: 10_000,
};

/** A zip refused by a limit or a structural check; `entry` names the offending entry when there is one. */
export class ZipRejected extends Error {
  override readonly name = "ZipRejected";
  constructor(readonly reason: string, readonly entry?: string) {
    super(reason);
  }
}

export interface ZipEntryInfo {
  name: string;
  compressedSize: number;
  uncompressedSize: number;
  isDirectory: boolean;
}

/** Why a path may not be used, or null. Backslashes count as separators (Windows-made zips). */
export function unsafeEntryPath(name: string): string | null {
  if (name.includes("\0")) return "contains a NUL character";
  const p = name.replaceAll("\\", "/");
  if (p.startsWith("/") || /^[A-Za-z]:/.test(p)) return "is an absolute path";
  if (p.split("/").includes("..")) return "contains a '..' segment (path traversal)";
  return null;
}

const openZip = (path: string): Promise<ZipFile> =>
  new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true, autoClose: false, validateEntrySizes: true, decodeStrings: true }, (error, zip) => (error ? reject(error) : resolve(zip)));
  });

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

/** Lists and checks every entry of the central directory; throws `ZipRejected` on the first violation. */
async function checkedEntries(zip: ZipFile, limits: UnzipLimits): Promise<Entry[]> {
  if (zip.entryCount > limits.maxEntries) throw new ZipRejected(`holds ${zip.entryCount} entries, above the limit of ${limits.maxEntries}`);
  const entries: Entry[] = [];
  let total = 0;
  await new Promise<void>((resolve, reject) => {
    zip.on("error", (error: Error) => {
      // yauzl validates names itself ("invalid relative path: ../x", "absolute path: /x"): same reason text as ours.
      const m = /^(invalid relative path|absolute path): (.*)$/.exec(error.message);
      reject(m ? new ZipRejected(`entry ${JSON.stringify(m[2])} ${m[1] === "absolute path" ? "is an absolute path" : "contains a '..' segment (path traversal)"}`, m[2]) : new ZipRejected(`is not a readable zip: ${error.message}`));
    });
    zip.on("end", () => resolve());
    zip.on("entry", (entry: Entry) => {
      const name = entry.fileName;
      const unsafe = unsafeEntryPath(name);
      if (unsafe) return reject(new ZipRejected(`entry ${JSON.stringify(name)} ${unsafe}`, name));
      total += entry.uncompressedSize;
      if (total > limits.maxUncompressedBytes) return reject(new ZipRejected(`entries inflate to more than ${mb(limits.maxUncompressedBytes)} (at entry ${JSON.stringify(name)}), above the uncompressed size limit`, name));
      if (entry.uncompressedSize > limits.ratioFloorBytes && entry.uncompressedSize > limits.maxRatio * Math.max(1, entry.compressedSize))
        return reject(
          new ZipRejected(`entry ${JSON.stringify(name)} inflates ${entry.compressedSize} bytes to ${entry.uncompressedSize} (ratio ${Math.round(entry.uncompressedSize / Math.max(1, entry.compressedSize))}:1), above the limit of ${limits.maxRatio}:1 (zip bomb)`, name),
        );
      entries.push(entry);
      zip.readEntry();
    });
    zip.readEntry();
  });
  return entries;
}

/** Counts inflated bytes against the limits, whatever the headers said. */
function guard(name: string, compressedSize: number, limits: UnzipLimits, totals: { bytes: number }): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      totals.bytes += chunk.length;
      if (totals.bytes > limits.maxUncompressedBytes) return callback(new ZipRejected(`entries inflate to more than ${mb(limits.maxUncompressedBytes)} (at entry ${JSON.stringify(name)}), above the uncompressed size limit`, name));
      if (seen > limits.ratioFloorBytes && seen > limits.maxRatio * Math.max(1, compressedSize))
        return callback(new ZipRejected(`entry ${JSON.stringify(name)} inflated past ${limits.maxRatio}:1 of its ${compressedSize} compressed bytes (zip bomb)`, name));
      callback(null, chunk);
    },
  });
}

/**
 * Opens the zip at `path`, checks it whole, then calls `visit` for each file entry in zip order with a
 * function that opens its inflated bytes as a stream. Entries `visit` does not open are never inflated.
 */
export async function readZip(path: string, limits: UnzipLimits, visit: (entry: ZipEntryInfo, open: () => Promise<Readable>) => Promise<void>): Promise<{ entries: number }> {
  let zip: ZipFile;
  try {
    zip = await openZip(path);
  } catch (error) {
    throw new ZipRejected(`is not a readable zip: ${(error as Error).message}`);
  }
  try {
    const entries = await checkedEntries(zip, limits);
    const totals = { bytes: 0 };
    for (const entry of entries) {
      const info: ZipEntryInfo = { name: entry.fileName, compressedSize: entry.compressedSize, uncompressedSize: entry.uncompressedSize, isDirectory: entry.fileName.endsWith("/") };
      if (info.isDirectory) continue;
      await visit(info, () =>
        new Promise<Readable>((resolve, reject) => {
          zip.openReadStream(entry, (error, stream) => {
            if (error) return reject(new ZipRejected(`entry ${JSON.stringify(entry.fileName)} cannot be read: ${error.message}`, entry.fileName));
            const guarded = guard(entry.fileName, entry.compressedSize, limits, totals);
            // Errors of the inflater (corrupt data, size mismatch) surface on the stream the parser reads.
            stream.on("error", (e: Error) => guarded.destroy(e instanceof ZipRejected ? e : new ZipRejected(`entry ${JSON.stringify(entry.fileName)} is corrupt: ${e.message}`, entry.fileName)));
            resolve(stream.pipe(guarded));
          });
        }),
      );
    }
    return { entries: entries.length };
  } finally {
    zip.close();
  }
}
