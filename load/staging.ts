/**
 * Staging: where extracts leave batches and manifests for the loader. Two places, one object layout
 * (`schemas/manifest.ts` `stagingLayout`): a local folder (the embedded default, and where every extract
 * writes first) and Cloud Storage (`gs://BUCKET/PREFIX/...`, what BigQuery load jobs read).
 *
 * `manifests/` holds only what is pending: once an extract is fully loaded its manifest moves to
 * `archive/manifests/`, so listing what to load reads in proportion to the backlog, not to history.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { manifestSchema, stagingLayout, type Manifest } from "../schemas/manifest.js";

export interface StagedManifest {
  path: string;
  manifest: Manifest;
  /** Cloud Storage generation of the manifest object as listed (preconditions on its archive). */
  generation?: string;
}

export interface Staging {
  readonly kind: "local" | "gcs";
  /** Where an object lives: `gs://bucket/prefix/raw/...` or an absolute file path. */
  uri(path: string): string;
  /** Pending manifests in extract order (their names start with the extract's UTC start time). */
  listManifests(): Promise<StagedManifest[]>;
  /** Moves a fully loaded manifest to `archive/manifests/`; safe to repeat and to race. */
  archiveManifest(staged: StagedManifest): Promise<void>;
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

export const archiveFolder = "archive";
/** Where a manifest goes once its extract is fully loaded: `archive/manifests/<extract id>.json`. */
export const archivedManifestPath = (manifestPath: string) => `${archiveFolder}/${manifestPath}`;

export class LocalStaging implements Staging {
  readonly kind = "local" as const;
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  uri(path: string): string {
    return join(this.root, path);
  }

  async listManifests(): Promise<StagedManifest[]> {
    const dir = join(this.root, stagingLayout.manifestsDir);
    if (!existsSync(dir)) return [];
    const paths = readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .sort()
      .map((f) => `${stagingLayout.manifestsDir}/${f}`);
    return paths.map((path) => ({ path, manifest: parseManifest(readFileSync(this.uri(path), "utf8"), this.uri(path)) }));
  }

  async archiveManifest({ path }: StagedManifest): Promise<void> {
    const target = this.uri(archivedManifestPath(path));
    mkdirSync(dirname(target), { recursive: true });
    if (existsSync(this.uri(path))) renameSync(this.uri(path), target);
  }
}
