/**
 * Cloud Storage staging with `@google-cloud/storage`: `gs://BUCKET/PREFIX/<stagingLayout path>`.
 *
 * `publish` copies what an extract left in the local staging folder: every batch and quarantine file
 * first, each manifest last, so a manifest in the bucket (the loader's commit marker) never names an
 * object that is not there yet. Uploads are checksummed twice over: the local file must still match the
 * manifest's SHA-256 before it leaves, and its MD5 is sent with the upload (GCS rejects a mismatch) and
 * checked again by the client against the stored object. Objects already in the bucket with the same
 * MD5 are skipped (the upload is create-only; a 412 means it is there), so re-publishing after a crash
 * uploads only what is missing.
 *
 * Credentials: Application Default Credentials (Workload Identity Federation on GitHub Actions);
 * STORAGE_EMULATOR_HOST points the client at a local stand-in in tests.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { join } from "node:path";
import { Storage, type Bucket } from "@google-cloud/storage";
import { stagingLayout } from "../schemas/manifest.js";
import type { Logger } from "../log/logger.js";
import { archivedManifestPath, LocalStaging, parseManifest, StagingError, type StagedManifest, type Staging } from "./staging.js";
import { writeStateObjects } from "./state-objects.js";
import { checkTargets, type Target } from "./targets.js";

export interface GcsLocation {
  bucket: string;
  /** Folder inside the bucket, without leading or trailing slash; "" for the bucket root. */
  prefix: string;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

/** Validates a bucket name and normalises a prefix; errors name the setting. */
export function gcsLocation(bucket: string | undefined, prefix = ""): GcsLocation {
  const name = (bucket ?? "").replace(/^gs:\/\//, "").replace(/\/+$/, "");
  if (!name) throw new StagingError("a bucket is required for --warehouse bigquery (--bucket or GCS_BUCKET)", "--bucket");
  if (!BUCKET_NAME.test(name)) throw new StagingError(`"${name}" is not a valid Cloud Storage bucket name`, "--bucket");
  const clean = prefix.replace(/^\/+|\/+$/g, "");
  if (clean.split("/").some((part) => part === "." || part === "..")) throw new StagingError(`"${prefix}" may not contain . or .. segments`, "--prefix");
  return { bucket: name, prefix: clean };
}

async function fileDigests(path: string): Promise<{ sha256: string; md5: string; bytes: number }> {
  const sha = createHash("sha256");
  const md5 = createHash("md5");
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    sha.update(chunk as Buffer);
    md5.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: sha.digest("hex"), md5: md5.digest("base64"), bytes };
}

/** Above this, uploads are resumable (survive a dropped connection); below, one request is cheaper. */
const RESUMABLE_FROM_BYTES = 8 * 1024 * 1024;

export interface PublishResult {
  uploaded: number;
  alreadyStaged: number;
  bytes: number;
  manifests: number;
}

export class GcsStaging implements Staging {
  readonly kind = "gcs" as const;
  private readonly bucket: Bucket;

  constructor(
    readonly location: GcsLocation,
    storage: Storage = new Storage(),
  ) {
    this.bucket = storage.bucket(location.bucket);
  }

  private objectName(path: string): string {
    return this.location.prefix ? `${this.location.prefix}/${path}` : path;
  }

  uri(path: string): string {
    return `gs://${this.location.bucket}/${this.objectName(path)}`;
  }

  /**
   * Pending manifests only: one list call with a delimiter (objects directly under `manifests/`, not
   * the archive), then one download per pending manifest.
   */
  async listManifests(): Promise<StagedManifest[]> {
    const start = this.objectName(`${stagingLayout.manifestsDir}/`);
    const [files] = await this.bucket.getFiles({ prefix: start, delimiter: "/", autoPaginate: true });
    const listed = files
      .filter((f) => f.name.endsWith(".json") && !f.name.slice(start.length).includes("/"))
      .map((f) => ({ path: f.name.slice(this.location.prefix ? this.location.prefix.length + 1 : 0), generation: String(f.metadata.generation ?? "") }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const out: StagedManifest[] = [];
    for (const { path, generation } of listed) {
      const [content] = await this.bucket.file(this.objectName(path)).download();
      out.push({ path, generation, manifest: parseManifest(content.toString("utf8"), this.uri(path)) });
    }
    return out;
  }

  /**
   * Copies the manifest to `archive/manifests/` only if no object is there yet (`ifGenerationMatch: 0`,
   * https://cloud.google.com/storage/docs/request-preconditions#special-case), then deletes the original.
   * Two loaders finishing the same extract: one copy wins, the other gets 412 and only deletes; a delete
   * that finds nothing (404) means the other loader got there first. Either way the manifest ends up
   * archived exactly once, and a write to one object name happens once, not once per loader.
   * The delete names the generation that was listed: with that precondition the client retries it on
   * 429/5xx (its default retries only conditionally idempotent calls:
   * https://cloud.google.com/storage/docs/retry-strategy#node.js), and a manifest written less than a
   * second earlier meets the one-mutation-per-second-per-object limit.
   */
  async archiveManifest({ path, generation }: StagedManifest): Promise<void> {
    const source = this.bucket.file(this.objectName(path));
    const target = this.bucket.file(this.objectName(archivedManifestPath(path)));
    try {
      await source.copy(target, { preconditionOpts: { ifGenerationMatch: 0 } });
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code !== 412 && code !== 404) throw error;
    }
    try {
      await source.delete(generation ? { ifGenerationMatch: generation } : {});
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
    }
  }

  /** Uploads one local file unless an identical object is already there; returns the bytes sent, or null. */
  private async upload(localPath: string, path: string, expectedSha256: string | undefined, metadata: Record<string, string>): Promise<number | null> {
    if (!existsSync(localPath)) throw new StagingError("listed in a manifest but missing from the local staging folder", localPath);
    const sums = await fileDigests(localPath);
    if (expectedSha256 && sums.sha256 !== expectedSha256) {
      throw new StagingError(`checksum mismatch before upload (manifest ${expectedSha256}, file ${sums.sha256})`, localPath);
    }
    const file = this.bucket.file(this.objectName(path));
    try {
      await this.bucket.upload(localPath, {
        destination: file,
        resumable: sums.bytes >= RESUMABLE_FROM_BYTES,
        validation: "md5",
        contentType: path.endsWith(".json") ? "application/json" : "application/gzip",
        metadata: { md5Hash: sums.md5, metadata: { sha256: sums.sha256, ...metadata } },
        // Create only: staged objects are never overwritten. The precondition also makes the upload
        // retryable by the client (it retries only conditionally idempotent writes, and an upload without
        // one turns retries off for the whole Storage instance in @google-cloud/storage 7:
        // https://cloud.google.com/storage/docs/retry-strategy#node.js).
        preconditionOpts: { ifGenerationMatch: 0 },
      });
    } catch (error) {
      if ((error as { code?: number }).code !== 412) throw error;
      // Already there (an earlier publish, or our own lost response): fine if the bytes are ours.
      const [current] = await file.getMetadata();
      if (current.md5Hash === sums.md5) return null;
      throw new StagingError(`a different object already exists at this path (md5 ${String(current.md5Hash)}, local ${sums.md5})`, this.uri(path));
    }
    return sums.bytes;
  }

  /** Copies every manifest in a local staging folder (and what it lists) to the bucket, manifests last. */
  async publish(localDir: string, log: Logger, target?: Target): Promise<PublishResult> {
    const local = new LocalStaging(localDir);
    const result: PublishResult = { uploaded: 0, alreadyStaged: 0, bytes: 0, manifests: 0 };
    const manifests = await local.listManifests();
    // Nothing of another warehouse leaves this machine for this one's bucket.
    if (target) checkTargets(manifests, target);
    const count = (bytes: number | null) => {
      if (bytes !== null) {
        result.uploaded += 1;
        result.bytes += bytes;
      } else result.alreadyStaged += 1;
    };
    for (const { path, manifest } of manifests) {
      for (const file of manifest.files) {
        count(await this.upload(join(local.root, file.path), file.path, file.sha256, { extract_id: manifest.extract_id, batch_id: file.batch_id, records: String(file.records) }));
      }
      if (manifest.quarantine_path) {
        count(await this.upload(join(local.root, manifest.quarantine_path), manifest.quarantine_path, undefined, { extract_id: manifest.extract_id, records: String(manifest.quarantined) }));
      }
      // The extractor's state for BigQuery (`_extracts`, `_http_cache`), loaded after the extract's rows.
      for (const statePath of writeStateObjects(local.root, manifest)) {
        count(await this.upload(join(local.root, statePath), statePath, undefined, { extract_id: manifest.extract_id }));
      }
      count(await this.upload(join(local.root, path), path, undefined, { extract_id: manifest.extract_id }));
      // Published: out of the local queue, so the next publish reads only what is new.
      await local.archiveManifest({ path, manifest });
      result.manifests += 1;
    }
    log.info("staged to Cloud Storage", { bucket: this.location.bucket, prefix: this.location.prefix, ...result });
    return result;
  }
}
