/**
 * `serve --redeliver-every <duration> --redeliver-hook <hook>`: the server runs `actions-warehouse
 * redeliver` (jobs/redeliver.ts) itself for each configured hook, so a delivery that failed while serve
 * (or the network in front of it) was down comes back without anyone running the command. GitHub never
 * retries a failed delivery on its own (https://docs.github.com/en/webhooks/using-webhooks/handling-failed-webhook-deliveries).
 *
 * - The first run starts right after serve listens: a restart after downtime recovers what it missed at
 *   once. It checks GitHub's whole retention (72 h on github.com, 168 h on GHES).
 * - Later runs check twice the period (at least one hour, at most the retention), so a failure is seen by
 *   two runs before it leaves the window, and a busy hook is not listed back three days every period.
 * - A run is idempotent (a GUID with a successful attempt or a queued redelivery is left alone), and the
 *   redeliveries land through POST /webhook like any delivery, deduplicated on (hook id, GUID).
 * - One run at a time (serve/periodic.ts). A failing run is a
 *   warning and a processing error in /metrics: serve keeps serving, the next period tries again.
 */
import { maxSinceHours, runRedeliver, type RedeliverOptions, type RedeliverResult } from "../jobs/redeliver.js";
import type { Logger } from "../log/logger.js";
import { Periodic } from "./periodic.js";

/** One hook to watch: the options of `redeliver` without the window and logger, fixed at startup. */
export type RedeliverHook = Omit<RedeliverOptions, "log" | "sinceHours" | "dryRun">;

export interface RedeliverTimerOptions {
  everyMs: number;
  hooks: RedeliverHook[];
  log: Logger;
  /** Counts each redelivery request (outcome redelivered / failed) and failed runs. */
  onResult?: (result: RedeliverResult) => void;
  onError?: (error: unknown) => void;
}

export interface RedeliverRun {
  at: Date;
  sinceHours: number;
  results: { hook: RedeliverHook["target"]; result?: RedeliverResult; error?: string }[];
}

const HOUR_MS = 3_600_000;

export class RedeliverTimer {
  lastRun: RedeliverRun | undefined;
  private runs = 0;
  private readonly periodic: Periodic<RedeliverRun>;

  constructor(private readonly options: RedeliverTimerOptions) {
    this.periodic = new Periodic({ what: "redelivery check", everyMs: options.everyMs, runAtStart: true, work: () => this.runOnce(), log: options.log });
  }

  /** Runs once now, then every `everyMs`. */
  start(): void {
    this.periodic.start();
  }

  /** The window of the next run: the whole retention first, then twice the period (1 h to the retention). */
  sinceHours(apiUrl: string): number {
    const max = maxSinceHours(apiUrl);
    if (this.runs === 0) return max;
    return Math.min(max, Math.max(1, Math.ceil((2 * this.options.everyMs) / HOUR_MS)));
  }

  /** Checks every hook now (or waits for the check under way); never throws. */
  run(): Promise<RedeliverRun> {
    return this.periodic.run();
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }

  private async runOnce(): Promise<RedeliverRun> {
    const { hooks, log } = this.options;
    const run: RedeliverRun = { at: new Date(), sinceHours: 0, results: [] };
    for (const hook of hooks) {
      const sinceHours = this.sinceHours(hook.apiUrl);
      run.sinceHours = Math.max(run.sinceHours, sinceHours);
      try {
        const result = await runRedeliver({ ...hook, sinceHours, dryRun: false, log });
        run.results.push({ hook: hook.target, result });
        this.options.onResult?.(result);
        if (result.redelivered > 0 || result.failedToRedeliver > 0) {
          log.info("redelivery requested for failed deliveries", { hook: hook.target, redelivered: result.redelivered, failed_to_redeliver: result.failedToRedeliver, since_hours: sinceHours });
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        run.results.push({ hook: hook.target, error: message });
        this.options.onError?.(error);
        log.warn("redelivery check failed; the next period tries again", { hook: hook.target, error: message });
      }
    }
    this.runs += 1;
    this.lastRun = run;
    return run;
  }
}
