/**
 * Staging: where extracts leave batches and manifests for the loader. Two places, one object layout
 * (`schemas/manifest.ts` `stagingLayout`): a local folder (the embedded default, and where every extract
 * writes first) and Cloud Storage (`gs://BUCKET/PREFIX/...`, what BigQuery load jobs read).
 *
 * Besides extract manifests, staging keeps the BigQuery loader's own records (`loads/<job_id>.json`), so
 * the record of what was loaded lives beside the data it describes and survives ephemeral CI runners.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { manifestSchema, stagingLayout, type Manifest } from "../schemas/manifest.js";

export interface StagedManifest {
  path: string;
  manifest: Manifest;
}

export interface Staging {
  readonly kind: "local" | "gcs";
  /** Where an object lives: `gs://bucket/prefix/raw/...` or an absolute file path. */
  uri(path: string): string;
  /** Manifests in extract order (their names start with the extract's UTC start time). */
  listManifests(): Promise<StagedManifest[]>;
  /** Paths (relative to the staging root) of the JSON objects under a folder, sorted. */
  listJson(folder: string): Promise<string[]>;
  readJson(path: string): Promise<unknown>;
  writeJson(path: string, value: unknown): Promise<void>;
}

export class StagingError extends Error {
  override readonly name = "StagingError";
  constructor(message: string, readonly object: string) {
    super(`${object}: ${message}`);
  }
}

/** Parses a manifest, naming the object and each invalid field. */
export function parseManifest(text: string, where: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new StagingError(`manifest is not JSON (${(error as Error).message})`, where);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) throw new StagingError(`invalid manifest: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, where);
  return parsed.data;
}

export const loadsFolder = "loads";
export const loadRecordPath = (jobId: string) => `${loadsFolder}/${jobId}.json`;

export class LocalStaging implements Staging {
  readonly kind = "local" as const;
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  uri(path: string): string {
    return join(this.root, path);
  }

  async listJson(folder: string): Promise<string[]> {
    const dir = join(this.root, folder);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .sort()
      .map((f) => `${folder}/${f}`);
  }

  async listManifests(): Promise<StagedManifest[]> {
    const paths = await this.listJson(stagingLayout.manifestsDir);
    return paths.map((path) => ({ path, manifest: parseManifest(readFileSync(this.uri(path), "utf8"), this.uri(path)) }));
  }

  async readJson(path: string): Promise<unknown> {
    return JSON.parse(readFileSync(this.uri(path), "utf8"));
  }

  async writeJson(path: string, value: unknown): Promise<void> {
    const file = this.uri(path);
    mkdirSync(dirname(file), { recursive: true });
    // Write then rename, so a reader never sees half a record.
    writeFileSync(`${file}.partial`, `${JSON.stringify(value, null, 2)}\n`);
    renameSync(`${file}.partial`, file);
  }
}
