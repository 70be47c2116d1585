/**
 * What an incremental extract asks the warehouse, behind one small interface so the DuckDB default
 * (`load/watermark-duckdb.ts`) and a BigQuery implementation (the same three queries) are
 * interchangeable. The answers come only from fully loaded extracts (`_extracts`), so a crash anywhere
 * before that point simply makes the next extract do the work again.
 */
import type { HttpCacheEntry } from "../schemas/manifest.js";
import type { KnownWorkflowDefinitions } from "../extract/workflow-definitions.js";

/** The warehouse's copy of a run's latest attempt. */
export interface KnownRun {
  runAttempt: number;
  status: string;
  /** `updated_at`, epoch milliseconds. */
  updatedAt: number;
}

export interface ExtractState {
  /** Per repository: the end of the window of the newest fully loaded extract that covered it. */
  watermarks(repositories: string[]): Promise<Map<string, Date>>;
  /** Latest attempt of every run of these repositories created at or after `createdFrom`, by run id. */
  knownRuns(repositories: string[], createdFrom: Date): Promise<Map<number, KnownRun>>;
  /**
   * Ids of the artifacts of these repositories' runs created at or after `createdFrom` that the
   * warehouse holds (`workflow_artifacts`, any outcome): they are never downloaded again. Optional: a
   * state without it knows no artifact.
   */
  knownArtifacts?(repositories: string[], createdFrom: Date): Promise<Set<number>>;
  /**
   * The (repository, base_sha, head_sha) pairs of these repositories that `deployment_commits` holds from
   * fully loaded extracts, as `compareKey` (extract/deployments.ts) spells them: never compared again.
   * Optional: a state without it knows no pair.
   */
  knownCompares?(repositories: string[]): Promise<Set<string>>;
  /**
   * Workflow files read already (`workflow_definition_refs` keys: recent ones, and those of the window's
   * commits), blobs parsed already (`workflow_definitions`), and the window's runs whose file was never
   * read (extract/workflow-definitions.ts). Optional: a state without it knows none.
   */
  knownWorkflowDefinitions?(repositories: string[], createdFrom: Date): Promise<KnownWorkflowDefinitions>;
  /** The ETag of every list page whose content is in the warehouse, by URL. */
  httpCache(): Promise<Map<string, HttpCacheEntry>>;
  /** Releases the connection; the extractor calls it once it has read what it needs. */
  close?(): void;
}

/** An extract against an empty warehouse, or with `--refetch`: no watermark, nothing known. */
export const emptyExtractState: ExtractState = {
  watermarks: () => Promise.resolve(new Map()),
  knownRuns: () => Promise.resolve(new Map()),
  httpCache: () => Promise.resolve(new Map()),
};
