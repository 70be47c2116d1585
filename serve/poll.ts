/**
 * `serve --poll-every <duration>`: the scheduled extract as the reconciliation of the webhooks, run by the
 * server itself. Every period it runs `runExtract` for the configured scope (--repo/--org/--user) with the
 * warehouse's own extract state (watermark minus the lookback, known runs, list-page ETags), staging into the
 * warehouse's staging folder, then loads the manifest, so a run whose webhook never arrived lands in the same
 * raw tables; the staging models' newest-version rule makes it one truth with the webhook rows.
 *
 * It runs under the warehouse lock `serve` holds for its whole life, and alone on the DuckDB file
 * (`Flusher.exclusive`): flushes and live reads wait for it, while deliveries keep being acknowledged into
 * the spool. The next due transform builds the models. One poll at a time: a tick that finds the previous
 * poll still running is skipped.
 */
import { runExtract, type ExtractResult } from "../extract/run.js";
import type { ExtractConfigInput } from "../extract/config.js";
import { loadIntoDuckDb, type LoadResult } from "../load/duckdb-load.js";
import { targetId } from "../load/targets.js";
import { duckDbExtractState } from "../load/watermark-duckdb.js";
import type { Logger } from "../log/logger.js";
import type { Flusher } from "./flusher.js";
import { Periodic } from "./periodic.js";

export interface PollResult {
  extract: ExtractResult;
  load: LoadResult;
}

export interface PollerOptions {
  everyMs: number;
  duckdbPath: string;
  stagingDir: string;
  /** The scope, credentials and API URL of the extract (stagingDir and target are set here). */
  extract: Omit<ExtractConfigInput, "stagingDir" | "target">;
  flusher: Flusher;
  log: Logger;
  onError?: (error: unknown) => void;
}

export class Poller {
  lastPollAt: Date | undefined;
  private readonly periodic: Periodic<PollResult>;

  constructor(private readonly options: PollerOptions) {
    this.periodic = new Periodic({
      what: "scheduled extract",
      everyMs: options.everyMs,
      work: () => this.pollOnce(),
      log: options.log,
      onTickError: (error) => {
        options.log.error("scheduled extract failed", { error: error instanceof Error ? error.message : String(error) });
        options.onError?.(error);
      },
    });
  }

  /** Polls every `everyMs`, the first time one period after the start. */
  start(): void {
    this.periodic.start();
  }

  /** Runs one extract and load now (or waits for the one under way). */
  poll(): Promise<PollResult> {
    return this.periodic.run();
  }

  /** Stops the timer and waits for a poll under way. */
  stop(): Promise<void> {
    return this.periodic.stop();
  }

  private pollOnce(): Promise<PollResult> {
    const { duckdbPath, stagingDir, log, flusher } = this.options;
    return flusher.exclusive(async () => {
      const state = duckDbExtractState(duckdbPath);
      let extract: ExtractResult;
      try {
        extract = await runExtract({ ...this.options.extract, stagingDir, target: targetId({ kind: "duckdb", path: duckdbPath }) }, { log, state });
      } finally {
        state.close?.();
        // The state's DuckDB instance closes asynchronously: let it go before the load opens the file.
        await new Promise((resolve) => setImmediate(resolve));
      }
      const load = await loadIntoDuckDb({ duckdbPath, stagingDir, log });
      this.lastPollAt = new Date();
      log.info("scheduled extract loaded", { extract_id: extract.manifest.extract_id, rows: load.rows });
      return { extract, load };
    });
  }
}
