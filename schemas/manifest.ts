/**
 * The manifest an extract writes last, after every batch file is complete. It is the commit marker:
 * the loader only loads batch files listed in a manifest, so a batch cut short by a crash is never loaded.
 */
import { z } from "zod";
import { rawTableNames } from "./raw-tables.js";

export const batchFileSchema = z.object({
  table: z.enum(rawTableNames as [string, ...string[]]),
  batch_id: z.string(),
  /** Path relative to the staging root, same layout locally and in Cloud Storage. */
  path: z.string(),
  records: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

export const manifestSchema = z.object({
  version: z.literal(1),
  extract_id: z.string(),
  started_at: z.iso.datetime(),
  finished_at: z.iso.datetime(),
  api_url: z.string(),
  scope: z.object({
    repositories: z.array(z.string()),
    organizations: z.array(z.string()),
    users: z.array(z.string()),
  }),
  window: z.object({ since: z.iso.datetime(), until: z.iso.datetime() }),
  counts: z.record(z.string(), z.number().int().nonnegative()),
  quarantined: z.number().int().nonnegative(),
  quarantine_path: z.string().nullable(),
  api: z.object({
    requests: z.number().int().nonnegative(),
    not_modified: z.number().int().nonnegative(),
    retries: z.number().int().nonnegative(),
    rate_limit_remaining: z.number().int().nullable(),
  }),
  files: z.array(batchFileSchema),
});

export type BatchFile = z.infer<typeof batchFileSchema>;
export type Manifest = z.infer<typeof manifestSchema>;

/** Object layout shared by the local folder and Cloud Storage (under an optional prefix). */
export const stagingLayout = {
  batch: (table: string, date: string, batchId: string) => `raw/${table}/dt=${date}/${batchId}.ndjson.gz`,
  manifest: (extractId: string) => `manifests/${extractId}.json`,
  quarantine: (date: string, extractId: string) => `quarantine/dt=${date}/${extractId}.ndjson.gz`,
  manifestsDir: "manifests",
};
