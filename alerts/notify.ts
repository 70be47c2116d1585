/**
 * One alert cycle: record an evaluation's findings (alerts/state.ts: state and outbox in one
 * transaction), then deliver the outbox (this run's notifications and every earlier one not sent yet).
 *
 * Delivery guarantees:
 * - a notification is in the outbox before anything is sent (written with the state change that caused it);
 * - it is sent from the outbox only, oldest first and in order within each (channel, fingerprint): when one
 *   fails, that fingerprint's later notifications on that channel wait too, so a resolve never overtakes
 *   its firing; a receiver that is unavailable (refused connection, 5xx, 429 beyond the wait) is not tried
 *   again in this run;
 * - a failed send stays unsent (`attempts`, `last_error`) and is retried at the next evaluation, never dropped;
 * - a sent one is marked `sent_at` right after the receiver's 2xx and is never selected again.
 * The one window for a duplicate: the process dies after the receiver accepted a message and before the
 * `sent_at` update commits. The next evaluation sends it again, with the same notification id (the JSON
 * webhook's Idempotency-Key lets its receiver drop it; Slack has no such key, so Slack would show it twice).
 *
 * `runAlertCycle` takes a `SqlRunner` (an open connection), not a file, so `serve` can run it inside its
 * flusher, which owns the warehouse while it runs.
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import { ConfigError } from "../extract/config.js";
import { duckDbConnectionSource } from "../report/build.js";
import { evaluateRules } from "./evaluate.js";
import { registerSecret, type Logger } from "../log/logger.js";
import type { Channel, Fetch, Sleep } from "./channels/channel.js";
import { createGitHubChannel } from "./channels/github.js";
import { createSlackChannel } from "./channels/slack.js";
import { createWebhookChannel } from "./channels/webhook.js";
import { duckDbRunner, markFailed, markSent, recordEvaluation, unsentNotifications, type CyclePlan, type OutboxRow, type SqlRunner, type Transition } from "./state.js";
import type { ChannelName, Finding, Rule } from "./types.js";

export interface ChannelEnvOptions {
  fetch?: Fetch;
  sleep?: Sleep;
  maxRetryAfterSeconds?: number;
  write?: (line: string) => void;
}

/**
 * The channels this environment can deliver to: Slack with SLACK_WEBHOOK_URL, the JSON webhook with
 * ALERT_WEBHOOK_URL (and its ALERT_WEBHOOK_SECRET, required: an unsigned alert could be forged), GitHub
 * annotations when GITHUB_ACTIONS=true. The URLs hold tokens: they are registered as secrets first.
 */
export function channelsFromEnv(env: NodeJS.ProcessEnv = process.env, options: ChannelEnvOptions = {}): Map<ChannelName, Channel> {
  const channels = new Map<ChannelName, Channel>();
  const slackUrl = env.SLACK_WEBHOOK_URL?.trim();
  const webhookUrl = env.ALERT_WEBHOOK_URL?.trim();
  const secret = env.ALERT_WEBHOOK_SECRET ?? "";
  registerSecret(slackUrl);
  registerSecret(webhookUrl);
  registerSecret(secret);
  const issues: { field: string; message: string }[] = [];
  const checkUrl = (name: string, url: string) => {
    if (!/^https?:\/\/[^\s]+$/.test(url)) issues.push({ field: name, message: "must be an http(s) URL (Slack: https://hooks.slack.com/services/…)" });
  };
  if (slackUrl) {
    checkUrl("SLACK_WEBHOOK_URL", slackUrl);
    channels.set("slack", createSlackChannel({ url: slackUrl, ...(options.fetch ? { fetch: options.fetch } : {}), ...(options.sleep ? { sleep: options.sleep } : {}), ...(options.maxRetryAfterSeconds !== undefined ? { maxRetryAfterSeconds: options.maxRetryAfterSeconds } : {}) }));
  }
  if (webhookUrl) {
    checkUrl("ALERT_WEBHOOK_URL", webhookUrl);
    if (secret.length < 16) issues.push({ field: "ALERT_WEBHOOK_SECRET", message: "must be set, at least 16 characters, with ALERT_WEBHOOK_URL: notifications are signed with it (X-Hub-Signature-256)" });
    channels.set("webhook", createWebhookChannel({ url: webhookUrl, secret, ...(options.fetch ? { fetch: options.fetch } : {}) }));
  }
  if (env.GITHUB_ACTIONS === "true") channels.set("github", createGitHubChannel({ env, ...(options.write ? { write: options.write } : {}) }));
  if (issues.length) throw new ConfigError(issues);
  return channels;
}

export interface Delivery {
  row: OutboxRow;
  /** sent: delivered now; failed: tried and failed (stays queued); waiting: not tried this run (queued behind a failure, or its channel is not configured here). */
  outcome: "sent" | "failed" | "waiting";
  /** Sent now after an earlier failed attempt or an earlier run. */
  retried: boolean;
  error?: string;
  /** The receiver refused this message (a 4xx other than 429): retrying will not help until someone fixes it. */
  rejected?: boolean;
}

export interface DeliveryReport {
  deliveries: Delivery[];
  sent: number;
  failed: number;
  waiting: number;
  retried: number;
  rejected: number;
}

/** Sends every unsent notification it can, in order (see the guarantees above). */
export async function deliverOutbox(runner: SqlRunner, channels: ReadonlyMap<ChannelName, Channel>, now: Date, log: Logger): Promise<DeliveryReport> {
  const rows = await unsentNotifications(runner);
  const deliveries: Delivery[] = [];
  const unavailable = new Map<ChannelName, string>();
  const blocked = new Set<string>();
  const unconfigured = new Set<ChannelName>();
  // Two outbox rows with one id and channel: two evaluations that opened the same episode at once on
  // BigQuery, whose transactions only inserted and so did not conflict. Send it once (markSent marks both).
  const seen = new Set<string>();
  for (const row of rows) {
    if (seen.has(`${row.id}\u0000${row.channel}`)) continue;
    seen.add(`${row.id}\u0000${row.channel}`);
    const channel = channels.get(row.channel);
    const key = `${row.channel}\u0000${row.fingerprint}`;
    if (!channel) {
      unconfigured.add(row.channel);
      deliveries.push({ row, outcome: "waiting", retried: false, error: `channel ${row.channel} is not configured in this run` });
      continue;
    }
    const down = unavailable.get(row.channel);
    if (down !== undefined || blocked.has(key)) {
      deliveries.push({ row, outcome: "waiting", retried: false, error: down ?? "queued behind an earlier notification of this alert that failed" });
      continue;
    }
    const retried = row.attempts > 0 || row.createdAt < now.toISOString();
    const result = await channel.send(row.payload);
    if (result.ok) {
      await markSent(runner, row, now);
      deliveries.push({ row, outcome: "sent", retried });
      log.info("alert notification sent", { id: row.id, channel: row.channel, kind: row.kind, rule: row.payload.rule, ...(retried ? { retried: true, attempt: row.attempts + 1 } : {}) });
      continue;
    }
    await markFailed(runner, row, result.error);
    blocked.add(key);
    if (result.unavailable) unavailable.set(row.channel, result.error);
    deliveries.push({ row, outcome: "failed", retried, error: result.error, ...(result.retryable ? {} : { rejected: true }) });
    log.warn("alert notification not delivered: kept in the outbox, retried at the next evaluation", { id: row.id, channel: row.channel, kind: row.kind, attempts: row.attempts + 1, error: result.error });
  }
  for (const channel of channels.values()) channel.finish?.();
  for (const name of unconfigured) {
    const count = deliveries.filter((d) => d.row.channel === name && d.outcome === "waiting").length;
    log.warn(`alert notifications waiting for channel ${name}, which is not configured in this run`, { channel: name, waiting: count, configure: channelVariable[name] });
  }
  const count = (o: Delivery["outcome"]) => deliveries.filter((d) => d.outcome === o).length;
  return {
    deliveries,
    sent: count("sent"),
    failed: count("failed"),
    waiting: count("waiting"),
    retried: deliveries.filter((d) => d.outcome === "sent" && d.retried).length,
    rejected: deliveries.filter((d) => d.rejected).length,
  };
}

export const channelVariable: Record<ChannelName, string> = {
  slack: "SLACK_WEBHOOK_URL",
  webhook: "ALERT_WEBHOOK_URL and ALERT_WEBHOOK_SECRET",
  github: "GITHUB_ACTIONS=true (set by GitHub Actions)",
};

export interface AlertCycleInput {
  runner: SqlRunner;
  rules: Rule[];
  findings: Finding[];
  now: Date;
  channels: ReadonlyMap<ChannelName, Channel>;
  log: Logger;
}

export interface AlertCycleResult {
  plan: CyclePlan;
  delivery: DeliveryReport;
}

/** Records an evaluation and delivers the outbox. */
export async function runAlertCycle(input: AlertCycleInput): Promise<AlertCycleResult> {
  const plan = await recordEvaluation(input.runner, { now: input.now, rules: input.rules, findings: input.findings, channels: new Set(input.channels.keys()) });
  const missing = new Map<ChannelName, string[]>();
  for (const rule of input.rules) for (const c of rule.channels) if (!input.channels.has(c) && c !== "github") missing.set(c, [...(missing.get(c) ?? []), rule.name]);
  for (const [channel, rules] of missing) {
    if (plan.transitions.some((t) => t.queued.length && rules.includes(t.rule))) {
      input.log.warn(`rules list channel ${channel}, which is not configured: their notifications are not queued for it`, { channel, rules, configure: channelVariable[channel] });
    }
  }
  for (const t of plan.transitions) logTransition(input.log, t);
  const delivery = await deliverOutbox(input.runner, input.channels, input.now, input.log);
  return { plan, delivery };
}

function logTransition(log: Logger, t: Transition): void {
  if (t.from === t.to && t.queued.length === 0) return;
  log.info(`alert ${t.from === t.to ? t.to : `${t.from} → ${t.to}`}`, { rule: t.rule, fingerprint: t.fingerprint, episode: t.episode, ...(t.queued.length ? { queued: t.queued.join(",") } : {}), ...(t.suppressed ? { suppressed: t.suppressed } : {}) });
}

export interface DuckDbAlertEvaluation {
  /** An open read-write connection to the warehouse (the CLI's under the lock, serve's flusher's). */
  connection: DuckDBConnection;
  rules: Rule[];
  now: Date;
  channels: ReadonlyMap<ChannelName, Channel>;
  log: Logger;
}

/**
 * Evaluates the rules on the models of an open DuckDB connection and runs the alert cycle on the same
 * connection: what `alerts evaluate` does once the warehouse is open, and what `serve` calls from its
 * flusher (which owns the file while it runs).
 */
export async function evaluateAndNotify(input: DuckDbAlertEvaluation): Promise<AlertCycleResult> {
  const findings = await evaluateRules(input.rules, duckDbConnectionSource(input.connection), input.now);
  return runAlertCycle({ runner: duckDbRunner(input.connection), rules: input.rules, findings, now: input.now, channels: input.channels, log: input.log });
}
