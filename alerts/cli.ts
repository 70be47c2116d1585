/**
 * `actions-warehouse alerts …`: evaluate, list, ack, mute and test. Every command that opens the DuckDB
 * warehouse takes its lock first (load/warehouse-lock.ts), so it stops at once, naming the holder, while a
 * pipeline or `serve` has the file.
 *
 * Exit codes of `alerts evaluate`: 0 when the evaluation and its state were recorded, also when a channel
 * was unavailable (5xx, refused, 429 beyond the wait): those notifications stay in the outbox, are
 * retried at the next evaluation, and the run says so in a warning and the `waiting`/`failed` counts; a
 * Slack outage must not turn the scheduled ELT red. 1 when a channel refused a notification (a 4xx other
 * than 429: a revoked or mistyped webhook), which needs a person. 3 for a bad alerts.yml or channel
 * variable.
 */
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { Command, Option } from "commander";
import { ConfigError } from "../extract/config.js";
import { defaults } from "../jobs/options.js";
import { formatTable } from "../jobs/summary.js";
import { openDuckDb } from "../load/duckdb-connection.js";
import { bigQueryOptions, type BigQueryFlags } from "../jobs/bigquery-commands.js";
import { bigQuerySettings, createBigQuery } from "../load/bigquery-client.js";
import { withWarehouseLock } from "../load/warehouse-lock.js";
import type { Logger } from "../log/logger.js";
import { requireWarehouse } from "../transform/run.js";
import { formatScope, formatValue, type Channel } from "./channels/channel.js";
import { channelsFromEnv, channelVariable, evaluateAndNotify, type AlertCycleResult } from "./notify.js";
import { AlertRulesError, loadRules, parseDuration } from "./rules.js";
import { acknowledge, duckDbRunner, ensureAlertTables, mute, readEpisodes, type AlertNotification, type ListFilter, type SqlRunner } from "./state.js";
import { bigQueryRunner, evaluateAndNotifyOnBigQuery } from "./state-bigquery.js";
import type { ChannelName, Rule } from "./types.js";

const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;

const ENVIRONMENT_HELP = `\nEnvironment:\n  SLACK_WEBHOOK_URL     Slack incoming webhook (never logged)\n  ALERT_WEBHOOK_URL     JSON webhook receiving every notification (never logged)\n  ALERT_WEBHOOK_SECRET  HMAC-SHA256 key of its X-Hub-Signature-256 header (required with ALERT_WEBHOOK_URL)\n  GITHUB_ACTIONS=true   inside GitHub Actions: annotations and a job summary table\n`;

/** `--now`: an ISO instant for reproducible runs; default the clock. */
function parseNow(value: string | undefined): Date {
  if (value === undefined) return new Date();
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(ms)) throw new ConfigError([{ field: "--now", message: `must be an ISO-8601 instant such as 2026-11-30T08:00:00Z, got ${JSON.stringify(value)}` }]);
  return new Date(ms);
}

/** `2h`, `1h30m`, `7d` from now, or an ISO instant. */
export function parseUntil(field: string, value: string, now: Date): Date {
  const seconds = parseDuration(value);
  if (seconds !== undefined && seconds > 0) return new Date(now.getTime() + seconds * 1000);
  const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw new ConfigError([{ field, message: `must be a duration (2h, 30m, 1d) or an ISO-8601 instant, got ${JSON.stringify(value)}` }]);
  if (ms <= now.getTime()) throw new ConfigError([{ field, message: `must lie in the future, got ${new Date(ms).toISOString()}` }]);
  return new Date(ms);
}

/** alerts.yml problems are configuration errors (exit 3), each naming the rule and field. */
export function rulesOrConfigError(path: string): Rule[] {
  try {
    return loadRules(path);
  } catch (error) {
    if (error instanceof AlertRulesError) throw new ConfigError(error.issues.map((i) => ({ field: `${path}: ${i.rule === "(file)" ? "" : `rule ${i.rule}, `}${i.field}`, message: i.message })));
    throw error;
  }
}

/** Opens the warehouse read-write under its lock, with the alert tables in place. */
async function withAlertState<T>(duckdbPath: string, command: string, work: (runner: SqlRunner, warehouse: Awaited<ReturnType<typeof openDuckDb>>) => Promise<T>): Promise<T> {
  requireWarehouse(duckdbPath);
  return withWarehouseLock(duckdbPath, command, async () => {
    const warehouse = await openDuckDb(duckdbPath);
    try {
      const runner = duckDbRunner(warehouse.connection);
      await ensureAlertTables(runner);
      return await work(runner, warehouse);
    } finally {
      warehouse.close();
    }
  });
}

/** `--warehouse duckdb|bigquery` and, for BigQuery, `--project` and `--location` (no bucket: nothing is staged). */
interface WarehouseFlags extends BigQueryFlags {
  warehouse: "duckdb" | "bigquery";
  duckdbPath: string;
}

function warehouseOptions(cmd: Command): Command {
  cmd.addOption(new Option("--warehouse <kind>", "where the models and the alert state live: duckdb (--duckdb-path) or bigquery (--project, --location; state in github_raw.alert_*)").choices(["duckdb", "bigquery"]).default("duckdb"));
  return bigQueryOptions(cmd, { bucket: false });
}

/** The BigQuery client, project and location of `--warehouse bigquery` (flags, else environment, else dataform.json). */
function bigQueryState(flags: WarehouseFlags) {
  const settings = bigQuerySettings({ ...(flags.project ? { project: flags.project } : {}), ...(flags.location ? { location: flags.location } : {}) }, process.env, { bucket: false });
  return { bigquery: createBigQuery(settings), projectId: settings.projectId, location: settings.location };
}

/**
 * The alert state of `--warehouse`: the DuckDB file under its lock, or BigQuery's github_raw (no lock:
 * BigQuery's transactions keep concurrent evaluations apart), with the alert tables in place.
 */
async function withWarehouseState<T>(flags: WarehouseFlags, command: string, work: (runner: SqlRunner) => Promise<T>): Promise<T> {
  if (flags.warehouse !== "bigquery") return withAlertState(flags.duckdbPath, command, (runner) => work(runner));
  const target = bigQueryState(flags);
  const runner = bigQueryRunner(target.bigquery, target);
  await ensureAlertTables(runner);
  return work(runner);
}

/**
 * `alerts evaluate --warehouse bigquery` for `pipeline --warehouse bigquery`, after its transform: the
 * alert tables in place, the rules on the BigQuery models, the state in github_raw (no lock: BigQuery's
 * transactions keep concurrent evaluations apart, see alerts/state-bigquery.ts).
 */
export async function evaluateAlertsOnBigQuery(flags: BigQueryFlags, input: Omit<LockedEvaluation, "duckdbPath">): Promise<AlertCycleResult> {
  return withWarehouseState({ ...flags, warehouse: "bigquery", duckdbPath: "" }, "pipeline", () => evaluateAndNotifyOnBigQuery({ ...bigQueryState({ ...flags, warehouse: "bigquery", duckdbPath: "" }), ...input }));
}

/**
 * The rules `pipeline` evaluates as its last step: `--rules FILE` (which must exist), else `alerts.yml` in
 * the working directory when there is one (a project without alerting runs its pipeline as before).
 * Read before the pipeline starts, so a bad file stops the run (exit 3, rule and field named) before
 * any API budget is spent.
 */
export function pipelineAlertRules(path: string | undefined, log: Logger): { path: string; rules: Rule[] } | undefined {
  const file = path ?? "alerts.yml";
  if (!existsSync(file)) {
    if (path !== undefined) throw new ConfigError([{ field: "--rules", message: `${file} does not exist: give the path of your alerts.yml, or pass --no-alerts to run without alert evaluation` }]);
    log.debug("no alerts.yml in the working directory: the pipeline evaluates no alerts");
    return undefined;
  }
  return { path: file, rules: rulesOrConfigError(file) };
}

export interface LockedEvaluation {
  duckdbPath: string;
  rules: Rule[];
  now: Date;
  channels: ReadonlyMap<ChannelName, Channel>;
  log: Logger;
}

/**
 * `alerts evaluate` for a caller that already holds the warehouse lock (`pipeline`, after its transform):
 * opens the file, makes sure the alert tables exist, evaluates and delivers the outbox.
 */
export async function evaluateAlertsLocked(input: LockedEvaluation): Promise<AlertCycleResult> {
  const warehouse = await openDuckDb(input.duckdbPath);
  try {
    await ensureAlertTables(duckDbRunner(warehouse.connection));
    return await evaluateAndNotify({ connection: warehouse.connection, rules: input.rules, now: input.now, channels: input.channels, log: input.log });
  } finally {
    warehouse.close();
  }
}

const shortScope = (scope: Record<string, string>) => {
  const text = formatScope(scope);
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
};

/** The table `alerts evaluate` prints: what fired, resolved, notified and was retried. */
export function evaluationSummary(result: AlertCycleResult): string {
  const { plan, delivery } = result;
  const lines: string[] = [];
  const changed = plan.transitions.filter((t) => t.from !== t.to || t.queued.length || t.suppressed);
  if (changed.length) {
    lines.push(
      formatTable(
        ["rule", "scope", "fingerprint", "state", "notified"],
        changed.map((t) => [t.rule, shortScope(t.scope), t.fingerprint, t.from === t.to ? t.to : `${t.from} → ${t.to}`, t.queued.join(", ") || (t.suppressed ? `- (${t.suppressed})` : "-")]),
      ),
    );
  } else lines.push("no alert changed state");
  if (delivery.deliveries.length) {
    lines.push(
      "",
      formatTable(
        ["notification", "channel", "delivery", "attempts"],
        delivery.deliveries.map((d) => [d.row.id, d.row.channel, d.outcome === "sent" ? (d.retried ? "sent (retried)" : "sent") : `${d.outcome}: ${(d.error ?? "").slice(0, 80)}`, d.row.attempts + (d.outcome === "waiting" ? 0 : 1)]),
      ),
    );
  }
  const fired = plan.transitions.filter((t) => t.to === "firing" && t.from !== "firing").length;
  const resolved = plan.transitions.filter((t) => t.to === "resolved" && t.from === "firing").length;
  const firing = plan.transitions.filter((t) => t.to === "firing").length;
  lines.push(
    "",
    `alerts: ${fired} fired, ${resolved} resolved, ${firing} firing, ${plan.transitions.filter((t) => t.to === "pending").length} pending; notifications: ${plan.outbox.length} queued, ${delivery.sent} sent (${delivery.retried} retried), ${delivery.failed} failed, ${delivery.waiting} waiting in the outbox`,
  );
  return lines.join("\n");
}

export function registerAlertsCommands(program: Command, log: Logger): void {
  const alerts = program
    .command("alerts")
    .description("alert rules (alerts.yml) over the models: evaluate them, notify Slack, a JSON webhook and GitHub Actions, list, acknowledge and mute alerts")
    .addHelpText(
      "after",
      examples([
        "SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T000/B000/XXXX actions-warehouse alerts evaluate --duckdb-path .warehouse/acme.duckdb",
        "actions-warehouse alerts list --state firing",
        "actions-warehouse alerts test --channel slack",
      ]),
    );

  alerts
    .command("evaluate")
    .description("evaluate alerts.yml against the warehouse's models, record alert state (alert_events) and send due notifications through the outbox (unsent ones from earlier runs first)")
    .option("--rules <file>", "alert rules file", "alerts.yml")
    .option("--duckdb-path <file>", "DuckDB warehouse file (opened read-write under the warehouse lock)", defaults.duckdbPath)
    .option("--now <iso>", "evaluate as of this instant (reproducible runs; default: now)")
    .option("--max-retry-after-seconds <n>", "wait at most this long for a Slack 429 Retry-After within the run; longer leaves the message in the outbox", "30")
    .addHelpText(
      "after",
      `${ENVIRONMENT_HELP}${examples([
        "SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T000/B000/XXXX actions-warehouse alerts evaluate --rules alerts.yml --duckdb-path .warehouse/acme.duckdb",
        "actions-warehouse alerts evaluate --duckdb-path .warehouse/demo.duckdb --now 2026-11-30T08:00:00Z",
        "actions-warehouse alerts evaluate --warehouse bigquery --project acme-data --location EU",
      ])}`,
    )
    .action(async (flags: WarehouseFlags & { rules: string; now?: string; maxRetryAfterSeconds: string }) => {
      const now = parseNow(flags.now);
      const maxWait = Number(flags.maxRetryAfterSeconds);
      if (!Number.isInteger(maxWait) || maxWait < 0) throw new ConfigError([{ field: "--max-retry-after-seconds", message: `must be a whole number of seconds, got ${JSON.stringify(flags.maxRetryAfterSeconds)}` }]);
      const rules = rulesOrConfigError(flags.rules);
      const channels = channelsFromEnv(process.env, { maxRetryAfterSeconds: maxWait });
      if (channels.size === 0) log.warn(`no notification channel is configured: alert state is recorded, nothing is sent (set ${channelVariable.slack} or ${channelVariable.webhook})`);
      const result =
        flags.warehouse === "bigquery"
          ? await withWarehouseState(flags, "alerts evaluate", () => evaluateAndNotifyOnBigQuery({ ...bigQueryState(flags), rules, now, channels, log }))
          : await withAlertState(flags.duckdbPath, "alerts evaluate", (_runner, warehouse) => evaluateAndNotify({ connection: warehouse.connection, rules, now, channels, log }));
      console.log(evaluationSummary(result));
      if (result.delivery.rejected > 0) {
        throw new Error(`alerts evaluate: ${result.delivery.rejected} notification(s) refused by their channel (see the warnings above): check the webhook URL; they stay in the outbox and are retried at the next evaluation`);
      }
    });

  alerts
    .command("list")
    .description("list alerts from the warehouse's alert state (alert_events)")
    .addOption(new Option("--state <state>", "which alerts: open (pending and firing), firing, pending, resolved or all").choices(["open", "firing", "pending", "resolved", "all"]).default("open"))
    .option("--duckdb-path <file>", "DuckDB warehouse file", defaults.duckdbPath)
    .addHelpText("after", examples(["actions-warehouse alerts list", "actions-warehouse alerts list --state all --duckdb-path .warehouse/acme.duckdb", "actions-warehouse alerts list --warehouse bigquery --project acme-data"]))
    .action(async (flags: WarehouseFlags & { state: ListFilter }) => {
      const episodes = await withWarehouseState(flags, "alerts list", (runner) => readEpisodes(runner, flags.state));
      if (!episodes.length) {
        console.log(`no ${flags.state === "all" ? "" : `${flags.state} `}alerts`);
        return;
      }
      console.log(
        formatTable(
          ["fingerprint", "rule", "severity", "state", "scope", "value", "first seen", "last notified", "acknowledged"],
          episodes.map((e) => [e.fingerprint, e.rule, e.severity, e.state, shortScope(e.scope), `${formatValue(e.value, e.unit)} / ${formatValue(e.threshold, e.unit)}`, e.firstSeenAt, e.lastNotifiedAt ?? "-", e.acknowledgedUntil ? `${e.acknowledgedBy ?? "?"} until ${e.acknowledgedUntil}` : "-"]),
        ),
      );
    });

  alerts
    .command("ack")
    .description("acknowledge an open alert: no repeat notifications until --until (its resolve message still goes)")
    .argument("<fingerprint>", "the alert's fingerprint (alerts list shows it, and every notification carries it)")
    .option("--until <when>", "a duration from now (2h, 30m, 1d) or an ISO-8601 instant", "24h")
    .option("--by <name>", "who acknowledges (default: the user name)")
    .option("--now <iso>", "as of this instant (default: now)")
    .option("--duckdb-path <file>", "DuckDB warehouse file", defaults.duckdbPath)
    .addHelpText("after", examples(["actions-warehouse alerts ack 3f2a9c0d1b7e4a55 --until 2h --by alice", "actions-warehouse alerts ack 3f2a9c0d1b7e4a55 --warehouse bigquery --project acme-data"]))
    .action(async (fingerprint: string, flags: WarehouseFlags & { until: string; by?: string; now?: string }) => {
      const now = parseNow(flags.now);
      const until = parseUntil("--until", flags.until, now);
      const by = flags.by ?? userInfo().username;
      const episode = await withWarehouseState(flags, "alerts ack", (runner) => acknowledge(runner, fingerprint, until, by));
      if (!episode) throw new ConfigError([{ field: "FINGERPRINT", message: `no open (pending or firing) alert has fingerprint ${JSON.stringify(fingerprint)}: \`actions-warehouse alerts list\` shows the open ones` }]);
      console.log(`acknowledged ${episode.rule} (${formatScope(episode.scope)}) until ${until.toISOString()} by ${by}: no repeat notifications until then`);
    });

  alerts
    .command("mute")
    .description("mute a rule: no notifications at all for it (state still tracked) for --for")
    .argument("<rule>", "the rule's name in alerts.yml")
    .requiredOption("--for <duration>", "how long: 2h, 30m, 1d")
    .option("--by <name>", "who mutes (default: the user name)")
    .option("--rules <file>", "alert rules file (the rule must be in it)", "alerts.yml")
    .option("--now <iso>", "as of this instant (default: now)")
    .option("--duckdb-path <file>", "DuckDB warehouse file", defaults.duckdbPath)
    .addHelpText("after", examples(["actions-warehouse alerts mute ci-failure-rate --for 2h", "actions-warehouse alerts mute ci-failure-rate --for 2h --warehouse bigquery --project acme-data"]))
    .action(async (rule: string, flags: WarehouseFlags & { for: string; by?: string; rules: string; now?: string }) => {
      const now = parseNow(flags.now);
      const seconds = parseDuration(flags.for);
      if (seconds === undefined || seconds <= 0) throw new ConfigError([{ field: "--for", message: `must be a duration such as 2h, 30m or 1d, got ${JSON.stringify(flags.for)}` }]);
      const names = rulesOrConfigError(flags.rules).map((r) => r.name);
      if (!names.includes(rule)) throw new ConfigError([{ field: "RULE", message: `${JSON.stringify(rule)} is not a rule of ${flags.rules} (rules: ${names.join(", ") || "none"})` }]);
      const until = new Date(now.getTime() + seconds * 1000);
      const by = flags.by ?? userInfo().username;
      await withWarehouseState(flags, "alerts mute", (runner) => mute(runner, rule, until, by, now));
      console.log(`muted ${rule} until ${until.toISOString()} by ${by}: no notifications for it until then`);
    });

  // --warehouse, --project and --location on every command that reads or writes the alert state.
  for (const command of alerts.commands.filter((c) => ["evaluate", "list", "ack", "mute"].includes(c.name()))) warehouseOptions(command);

  alerts
    .command("test")
    .description("send a test message to a channel now (not through the outbox; the warehouse is not opened)")
    .addOption(new Option("--channel <channel>", "slack or webhook").choices(["slack", "webhook"]).makeOptionMandatory())
    .addHelpText("after", `${ENVIRONMENT_HELP}${examples(["SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T000/B000/XXXX actions-warehouse alerts test --channel slack"])}`)
    .action(async (flags: { channel: Extract<ChannelName, "slack" | "webhook"> }) => {
      const channel = channelsFromEnv(process.env).get(flags.channel);
      if (!channel) {
        const message =
          flags.channel === "slack"
            ? "is not set: set it to your Slack incoming webhook URL (https://hooks.slack.com/services/…, from the Slack app's Incoming Webhooks page) and run again"
            : "is not set: set ALERT_WEBHOOK_URL to the receiver's URL and ALERT_WEBHOOK_SECRET to the shared signing secret (at least 16 characters) and run again";
        throw new ConfigError([{ field: flags.channel === "slack" ? "SLACK_WEBHOOK_URL" : "ALERT_WEBHOOK_URL", message }]);
      }
      const result = await channel.send(testNotification(new Date()));
      if (!result.ok) throw new Error(`alerts test: the ${flags.channel} test message was not delivered: ${result.error}`);
      console.log(`test message delivered to ${flags.channel}`);
    });
}

/** A recognisable message that goes through the same rendering as a real alert. */
export function testNotification(now: Date): AlertNotification {
  const iso = now.toISOString();
  return {
    id: `test:${iso}`, kind: "test", fingerprint: "test", episode: 0, sequence: 0, rule: "actions-warehouse test message", ruleKind: "test", severity: "info", state: "firing",
    scope: {}, value: 0, threshold: 0, unit: "count", summary: "This is a test of the actions-warehouse alert channel. No action needed.", offenders: [],
    firstSeenAt: iso, firedAt: iso, resolvedAt: null, evaluatedAt: iso, acknowledgedBy: null, acknowledgedUntil: null,
  };
}
