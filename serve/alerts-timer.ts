/**
 * `serve` evaluates the alert rules itself (issue 13): every `--alerts-every` (default 1m, when an
 * alerts.yml is present) it runs what `actions-warehouse alerts evaluate` runs, on the warehouse it owns.
 *
 * - First a flush with a due transform (`flusher.flush()`), so the rules see the deliveries acknowledged
 *   so far in the models, then the evaluation alone on the DuckDB file (`flusher.exclusive`, as the
 *   scheduled extract of serve/poll.ts): flushes and live reads wait for it, deliveries keep being
 *   acknowledged into the spool. It writes only the alert tables, so it does not count as new raw data
 *   (no extra full transform).
 * - Notifications go through the outbox (alerts/notify.ts), Slack and the JSON webhook only. A channel
 *   that is down is tried once per evaluation (10 s timeout) and a Slack 429 is waited for at most
 *   `MAX_RETRY_AFTER_SECONDS`, because flushes wait meanwhile; what was not sent waits for the next minute.
 * - One evaluation at a time (serve/periodic.ts). A failing evaluation
 *   is a warning and `<prefix>alert_evaluations_total{outcome="failed"}`: serve keeps serving, the next
 *   period tries again. Before the first transform has built the models there is nothing to evaluate.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { Channel } from "../alerts/channels/channel.js";
import { evaluateAndNotify, type AlertCycleResult } from "../alerts/notify.js";
import { duckDbRunner, ensureAlertTables } from "../alerts/state.js";
import type { ChannelName, Rule } from "../alerts/types.js";
import { datasets } from "../load/datasets.js";
import { openDuckDb } from "../load/duckdb-connection.js";
import type { Logger } from "../log/logger.js";
import { SERVE_DUCKDB, type Flusher } from "./flusher.js";
import { Periodic } from "./periodic.js";

/** A Slack Retry-After longer than this leaves the message in the outbox for the next evaluation. */
export const MAX_RETRY_AFTER_SECONDS = 5;

export interface AlertsTimerOptions {
  everyMs: number;
  rules: Rule[];
  channels: ReadonlyMap<ChannelName, Channel>;
  duckdbPath: string;
  flusher: Flusher;
  log: Logger;
  /** The clock (tests). */
  now?: () => Date;
}

/** What the last evaluation did, for GET /api/alerts. */
export interface AlertsEvaluationStatus {
  at: string;
  ok: boolean;
  error?: string;
  /** Why nothing was evaluated (the models are not built yet). */
  skipped?: string;
  firing?: number;
  notified?: number;
  waiting?: number;
}

export class AlertsTimer {
  last: AlertsEvaluationStatus | undefined;
  private readonly periodic: Periodic<AlertCycleResult | undefined>;
  private readonly evaluations = new Map<"ok" | "failed" | "skipped", number>();
  private firing = 0;
  private counter: Counter<"outcome"> | undefined;

  constructor(private readonly options: AlertsTimerOptions) {
    this.periodic = new Periodic({ what: "alert evaluation", everyMs: options.everyMs, work: () => this.evaluateOnce(), log: options.log });
  }

  get everyMs(): number {
    return this.options.everyMs;
  }

  /** Evaluates every `everyMs`, the first time one period after the start (the first flush has loaded the spool by then). */
  start(): void {
    this.periodic.start();
  }

  /**
   * One evaluation now (or the one under way). Never throws: a failure is logged, counted and kept in
   * `last`; the result is undefined when it failed or the models do not exist yet.
   */
  evaluate(): Promise<AlertCycleResult | undefined> {
    return this.periodic.run();
  }

  stop(): Promise<void> {
    return this.periodic.stop();
  }

  /** `<prefix>alert_evaluations_total{outcome}` and `<prefix>alerts_firing` on serve's registry. */
  registerMetrics(registry: Registry, prefix: string): void {
    this.counter = new Counter({
      name: `${prefix}alert_evaluations_total`,
      help: "Alert evaluations run by serve, by outcome: ok, failed (a warning in the log; retried next period) or skipped (the models are not built yet).",
      labelNames: ["outcome"],
      registers: [registry],
    });
    for (const outcome of ["ok", "failed", "skipped"] as const) this.counter.inc({ outcome }, this.evaluations.get(outcome) ?? 0);
    const firing: Gauge = new Gauge({
      name: `${prefix}alerts_firing`,
      help: "Alerts firing after serve's last alert evaluation.",
      registers: [registry],
      collect: () => firing.set(this.firing),
    });
  }

  private count(outcome: "ok" | "failed" | "skipped"): void {
    this.evaluations.set(outcome, (this.evaluations.get(outcome) ?? 0) + 1);
    this.counter?.inc({ outcome });
  }

  private async evaluateOnce(): Promise<AlertCycleResult | undefined> {
    const { flusher, log, duckdbPath, rules, channels } = this.options;
    try {
      // The models as of now: load what was acknowledged and run the transform if it is due. A failing
      // flush is reported by serve's flush timer; the rules still run on the models as they are.
      await flusher.flush().catch(() => undefined);
      const now = (this.options.now ?? (() => new Date()))();
      const result = await flusher.exclusive(
        async () => {
          const warehouse = await openDuckDb(duckdbPath, SERVE_DUCKDB);
          try {
            if (!(await modelsBuilt(warehouse.connection))) return undefined;
            await ensureAlertTables(duckDbRunner(warehouse.connection));
            return await evaluateAndNotify({ connection: warehouse.connection, rules, now, channels, log });
          } finally {
            await warehouse.closeAsync();
          }
        },
        { rawChanged: false },
      );
      if (!result) {
        this.count("skipped");
        log.debug("alert evaluation skipped: the models are not built yet (the first transform builds them)");
        this.last = { at: now.toISOString(), ok: true, skipped: "the models are not built yet (the first transform builds them)" };
        return undefined;
      }
      this.count("ok");
      const firing = result.plan.transitions.filter((t) => t.to === "firing").length;
      this.firing = firing;
      this.last = { at: now.toISOString(), ok: true, firing, notified: result.delivery.sent, waiting: result.delivery.failed + result.delivery.waiting };
      return result;
    } catch (error) {
      this.count("failed");
      const message = error instanceof Error ? error.message.split("\n")[0] ?? "" : String(error);
      this.last = { at: new Date().toISOString(), ok: false, error: message };
      log.warn("alert evaluation failed: serve keeps running and evaluates again at the next period", { error: message });
      return undefined;
    }
  }
}

async function modelsBuilt(connection: Parameters<typeof duckDbRunner>[0]): Promise<boolean> {
  const reader = await connection.runAndReadAll(`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $schema AND table_name IN ('fct_workflow_runs', 'fct_workflow_jobs')`, { schema: datasets.models });
  return Number(reader.getRowObjectsJS()[0]?.n) === 2;
}
