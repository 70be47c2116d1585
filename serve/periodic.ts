/**
 * A task `serve` runs on a timer, one run at a time: the scheduled extract (serve/poll.ts), the
 * redelivery check (serve/redeliver-timer.ts) and the alert evaluation (serve/alerts-timer.ts).
 *
 * - `run()` starts a run now, or returns the one under way (callers and the timer share it).
 * - A tick that finds the previous run still going is skipped, with a warning naming the task: a slow
 *   run never piles up copies of itself.
 * - The timer is unref'd (it never keeps the process alive); `stop()` clears it and waits for a run
 *   under way, whose failure it swallows (the run reported it).
 */
import type { Logger } from "../log/logger.js";

export interface PeriodicOptions<T> {
  /** What the task is, for the log ("scheduled extract", "redelivery check", ...). */
  what: string;
  everyMs: number;
  /** Run once as soon as the timer starts (default: first run after one period). */
  runAtStart?: boolean;
  work: () => Promise<T>;
  log: Logger;
  /** A timer-started run that threw (runs that report their own failures never get here). */
  onTickError?: (error: unknown) => void;
}

export class Periodic<T> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<T> | undefined;

  constructor(private readonly options: PeriodicOptions<T>) {}

  get everyMs(): number {
    return this.options.everyMs;
  }

  start(): void {
    if (this.timer) return;
    const tick = () => {
      if (this.running) {
        this.options.log.warn(`${this.options.what} skipped: the previous one is still running`);
        return;
      }
      this.run().catch((error: unknown) => this.options.onTickError?.(error));
    };
    if (this.options.runAtStart) setImmediate(tick);
    this.timer = setInterval(tick, this.options.everyMs);
    this.timer.unref();
  }

  /** Runs the task now, or returns the run under way. */
  run(): Promise<T> {
    this.running ??= this.options.work().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }
}
