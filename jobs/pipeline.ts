/**
 * extract → load → transform, the job the cron runs. Each stage is also a command of its own.
 */
import { QuarantineThresholdError, runExtract, type ExtractResult } from "../extract/run.js";
import { duckDbExtractState } from "../load/watermark-duckdb.js";
import type { ExtractConfigInput } from "../extract/config.js";
import { loadIntoDuckDb, readManifests, type LoadResult } from "../load/duckdb-load.js";
import { runTransform, type TransformResult } from "../transform/run.js";
import type { Logger } from "../log/logger.js";
import { formatTable, seconds } from "./summary.js";
import { checkTargets, targetId } from "../load/targets.js";
import { createTransformProgress } from "./transform-progress.js";
import { explainDuckDbLock, withWarehouseLock } from "../load/warehouse-lock.js";

export interface PipelineOptions {
  extract: ExtractConfigInput;
  duckdbPath: string;
  tags?: string[];
  fullRefresh?: boolean;
  vars?: Record<string, string>;
  log: Logger;
  /** The caller already holds the warehouse's lock (the demo takes it before it clears its files). */
  lockHeld?: boolean;
}

export interface PipelineResult {
  extract: ExtractResult;
  load: LoadResult;
  transform: TransformResult;
  durationMs: number;
}

/**
 * Runs the three stages holding the warehouse's lock, taken before the first API call: a second run on
 * the same warehouse stops at once, naming the holder (load/warehouse-lock.ts).
 */
export async function runPipeline(options: PipelineOptions): Promise<PipelineResult> {
  if (options.lockHeld) {
    try {
      return await lockedPipeline(options);
    } catch (error) {
      throw explainDuckDbLock(error, options.duckdbPath);
    }
  }
  return withWarehouseLock(options.duckdbPath, "pipeline", () => lockedPipeline(options), {
    onTakeover: (previous, reason) => options.log.warn("took over a stale warehouse lock", { warehouse: options.duckdbPath, previous_pid: previous.pid, previous_started: previous.started, reason }),
  });
}

async function lockedPipeline(options: PipelineOptions): Promise<PipelineResult> {
  const started = Date.now();
  const log = options.log;
  // Incremental: the watermark, known runs and ETags come from the warehouse being loaded.
  let extract: ExtractResult;
  try {
    // Before any API call: a staging folder holding another warehouse's extracts would make the load
    // refuse after the whole extract had spent its budget.
    checkTargets(readManifests(options.extract.stagingDir), { kind: "duckdb", path: options.duckdbPath });
    // The manifest names this warehouse, so no other warehouse's load takes it in (load/targets.ts).
    extract = await runExtract({ target: targetId({ kind: "duckdb", path: options.duckdbPath }), ...options.extract }, { log, state: duckDbExtractState(options.duckdbPath) });
  } catch (error) {
    // Too many quarantined records fail the run, but what was extracted (and the quarantine) is loaded first.
    if (error instanceof QuarantineThresholdError) await loadIntoDuckDb({ duckdbPath: options.duckdbPath, stagingDir: options.extract.stagingDir, log });
    throw error;
  }
  const load = await loadIntoDuckDb({ duckdbPath: options.duckdbPath, stagingDir: options.extract.stagingDir, log });
  const progress = createTransformProgress(log);
  const transform = await runTransform({
    duckdbPath: options.duckdbPath,
    ...(options.tags ? { tags: options.tags } : {}),
    ...(options.fullRefresh ? { fullRefresh: true } : {}),
    ...(options.vars ? { vars: options.vars } : {}),
    onProgress: progress.onProgress,
  }).finally(() => progress.stop());
  return { extract, load, transform, durationMs: Date.now() - started };
}

export function pipelineSummary(result: PipelineResult): string {
  const tables = [...new Set([...Object.keys(result.extract.manifest.counts), ...Object.keys(result.load.rows)])].sort();
  const rows = tables.map((t) => [t, result.extract.manifest.counts[t] ?? 0, result.load.rows[t] ?? 0]);
  const actions = result.transform.actions;
  return [
    formatTable(["raw table", "extracted", "loaded"], rows),
    "",
    `quarantined records  ${result.extract.manifest.quarantined}`,
    `API requests         ${result.extract.manifest.api.requests} (${result.extract.manifest.api.not_modified} not modified, ${result.extract.manifest.api.retries} retried)`,
    `models               ${actions.filter((a) => a.status === "done").length} built, ${actions.filter((a) => a.status === "failed").length} failed`,
    `time                 extract ${seconds(result.extract.durationMs)}, load ${seconds(result.load.durationMs)}, total ${seconds(result.durationMs)}`,
  ].join("\n");
}
