/**
 * The production pipeline: extract into the local staging folder, publish it to Cloud Storage, load
 * into BigQuery (one job per raw table), then `dataform run` on BigQuery. On GitHub Actions each shard of
 * the matrix runs it with `--no-transform` and one final job runs the models once for all shards.
 */
import { appendFileSync } from "node:fs";
import { runExtract, type ExtractResult } from "../extract/run.js";
import type { ExtractConfigInput } from "../extract/config.js";
import { checkStaging, createBigQuery, createGcsStaging, type BigQuerySettings } from "../load/bigquery-client.js";
import { bigQueryExtractState, type StateQueryStats } from "../load/watermark-bigquery.js";
import { checkTargets, targetId } from "../load/targets.js";
import { LocalStaging } from "../load/staging.js";
import { loadIntoBigQuery, type BigQueryLoadResult } from "../load/bigquery-load.js";
import type { PublishResult } from "../load/gcs-staging.js";
import { runDataformOnBigQuery, type DataformBigQueryOptions } from "../transform/dataform-bigquery.js";
import type { Logger } from "../log/logger.js";
import { formatTable, seconds } from "./summary.js";

export interface BigQueryPipelineOptions {
  extract: ExtractConfigInput;
  settings: BigQuerySettings;
  /** Dataform options, or false to stop after loading. */
  transform: Omit<DataformBigQueryOptions, "projectId" | "location"> | false;
  log: Logger;
  pollMs?: number;
}

export interface BigQueryPipelineResult {
  extract: ExtractResult;
  publish: PublishResult;
  load: BigQueryLoadResult;
  /** The incremental state queries and the bytes each scanned (dry run). */
  stateQueries: StateQueryStats[];
  transformed: boolean;
  durationMs: number;
}

export async function runBigQueryPipeline(options: BigQueryPipelineOptions): Promise<BigQueryPipelineResult> {
  const started = Date.now();
  const { log, settings } = options;
  const staging = createGcsStaging(settings);
  const bigquery = createBigQuery(settings);
  // Before spending any API budget: a bucket BigQuery cannot load from fails every load job, and a local
  // staging folder holding another warehouse's extracts would fail the publish.
  await checkStaging(settings, bigquery);
  checkTargets(await new LocalStaging(options.extract.stagingDir).listManifests(), { kind: "bigquery", project: settings.projectId });
  // Incremental: watermark, known runs and ETags from the warehouse's fully loaded extracts.
  const stateQueries: StateQueryStats[] = [];
  const state = bigQueryExtractState({ bigquery, location: settings.location, log, stats: stateQueries });
  const extract = await runExtract({ ...options.extract, target: targetId({ kind: "bigquery", project: settings.projectId }) }, { log, state });
  const publish = await staging.publish(options.extract.stagingDir, log, { kind: "bigquery", project: settings.projectId });
  const load = await loadIntoBigQuery({ bigquery, staging, location: settings.location, log, ...(options.pollMs ? { pollMs: options.pollMs } : {}) });
  if (options.transform) await runDataformOnBigQuery({ ...options.transform, projectId: settings.projectId, location: settings.location }, log);
  return { extract, publish, load, stateQueries, transformed: options.transform !== false, durationMs: Date.now() - started };
}

const stateBytes = (result: BigQueryPipelineResult) => result.stateQueries.reduce((n, q) => n + q.bytesProcessed, 0);

function tableRows(result: BigQueryPipelineResult): (string | number)[][] {
  const tables = [...new Set([...Object.keys(result.extract.manifest.counts), ...Object.keys(result.load.rows)])].sort();
  return tables.map((t) => [t, result.extract.manifest.counts[t] ?? 0, result.load.rows[t] ?? 0]);
}

export function bigQueryPipelineSummary(result: BigQueryPipelineResult): string {
  const api = result.extract.manifest.api;
  return [
    formatTable(["raw table", "extracted", "loaded"], tableRows(result)),
    "",
    `quarantined records  ${result.extract.manifest.quarantined}`,
    `API requests         ${api.requests} (${api.not_modified} not modified, ${api.retries} retried), ${api.rate_limit_remaining ?? "unknown"} left this hour`,
    `staged               ${result.publish.uploaded} objects uploaded (${result.publish.bytes} bytes), ${result.publish.alreadyStaged} already there`,
    `load jobs            ${result.load.jobs.length} for ${result.load.manifests.length} extracts (${result.load.reused} already submitted by another loader or an earlier run)`,
    `state queries        ${result.stateQueries.length} scanning ${stateBytes(result)} bytes`,
    `models               ${result.transformed ? "dataform run finished" : "not run (--no-transform)"}`,
    `time                 extract ${seconds(result.extract.durationMs)}, load ${seconds(result.load.durationMs)}, total ${seconds(result.durationMs)}`,
  ].join("\n");
}

/** Markdown for the GitHub Actions job summary: counts, quarantined records, API budget. */
export function bigQueryPipelineMarkdown(result: BigQueryPipelineResult): string {
  const api = result.extract.manifest.api;
  const rows = tableRows(result).map((r) => `| ${r.join(" | ")} |`);
  return [
    `### actions-warehouse: extract ${result.extract.manifest.extract_id}`,
    "",
    "| raw table | extracted | loaded |",
    "|---|---:|---:|",
    ...rows,
    "",
    `- **Quarantined records:** ${result.extract.manifest.quarantined}${result.extract.manifest.quarantined ? " (uploaded as the `quarantine` artifact)" : ""}`,
    `- **GitHub API budget:** ${api.requests} requests used (${api.not_modified} answered 304, ${api.retries} retried); ${api.rate_limit_remaining ?? "unknown"} left in this hour's window`,
    `- **BigQuery load jobs:** ${result.load.jobs.length} for ${result.load.manifests.length} extracts (${result.load.reused} already submitted by another loader); state queries scanned ${stateBytes(result)} bytes`,
    `- **Models:** ${result.transformed ? "built by dataform run" : "left to the transform job"}`,
    `- **Time:** ${seconds(result.durationMs)}`,
    "",
  ].join("\n");
}

/** Appends to the job summary when running on GitHub Actions; does nothing elsewhere. */
export function appendStepSummary(markdown: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const file = env.GITHUB_STEP_SUMMARY;
  if (!file) return false;
  appendFileSync(file, `${markdown}\n`);
  return true;
}
