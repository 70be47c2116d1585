/**
 * `serve` configuration: flags and the environment, checked with zod. Every error names the flag or the
 * environment variable, and `serve` refuses to start without a webhook secret (an unsigned endpoint would
 * let anyone write into the warehouse).
 */
import { existsSync } from "node:fs";
import { z } from "zod";
import { rulesOrConfigError } from "../alerts/cli.js";
import type { Channel } from "../alerts/channels/channel.js";
import { channelsFromEnv } from "../alerts/notify.js";
import type { ChannelName, Rule } from "../alerts/types.js";
import { ConfigError } from "../extract/config.js";
import { defaultStagingDir } from "../load/targets.js";
import { redeliverOptions } from "../jobs/redeliver.js";
import { silentLogger } from "../log/logger.js";
import type { RedeliverHook } from "./redeliver-timer.js";
import { liveFlushSeconds, parseServeBigQuery, type ServeBigQuery, type ServeBigQueryFlags } from "./bigquery-sink.js";

/** `--warehouse`, `--live-flush-seconds`, `--live-days` and the BigQuery flags come from ServeBigQueryFlags. */
export interface ServeFlags extends ServeBigQueryFlags {
  port?: string | number;
  duckdbPath: string;
  stagingDir?: string;
  flushSeconds?: string | number;
  transformSeconds?: string | number;
  metricsPrefix?: string;
  host?: string;
  refreshSeconds?: string | number;
  /** Run the scheduled extract every this long (`1h`, `30m`): the reconciliation of the webhooks. */
  pollEvery?: string;
  repo?: string[];
  org?: string[];
  user?: string[];
  /** First day of a poll scope the warehouse has never extracted (--initial-since). */
  initialSince?: string;
  /** Run `redeliver` for each --redeliver-hook every this long (`1h`, `15m`). */
  redeliverEvery?: string;
  /** `repo:OWNER/NAME:HOOK_ID`, `org:ORG:HOOK_ID` or `app` (repeatable). */
  redeliverHook?: string[];
  /** Alert rules file (default: alerts.yml in the working directory, when there is one). */
  rules?: string;
  /** Evaluate the alert rules every this long (`1m`, the default, `5m`). */
  alertsEvery?: string;
  /** false with `--no-alerts`. */
  alerts?: boolean;
}

/** The alert evaluation `serve` runs itself (serve/alerts-timer.ts). */
export interface ServeAlerts {
  rulesPath: string;
  rules: Rule[];
  everyMs: number;
}

/** The scheduled extract `serve` runs itself (`--poll-every`): its period, scope and GitHub credentials (from the environment). */
export interface ServePoll {
  everyMs: number;
  repos: string[];
  orgs: string[];
  users: string[];
  initialSince?: string | undefined;
  apiUrl?: string | undefined;
  token?: string | undefined;
  appId?: string | undefined;
  appPrivateKey?: string | undefined;
  appPrivateKeyFile?: string | undefined;
  packagesToken?: string | undefined;
}

export interface ServeConfig {
  port: number;
  host: string;
  /** Every accepted secret, newest first: signatures are checked against each in turn (rotation). */
  webhookSecrets: string[];
  /** Bearer token of `POST /api/ci-events`; the endpoint is off (404) without it. */
  ingestToken?: string | undefined;
  /** Bearer token of `GET /metrics`; open without it. */
  metricsToken?: string | undefined;
  duckdbPath: string;
  stagingDir: string;
  flushSeconds: number;
  transformSeconds: number;
  metricsPrefix: string;
  /** How often the status wall (`GET /`) refreshes itself from the /api endpoints. */
  refreshSeconds: number;
  /** The scheduled extract, when `--poll-every` is given. */
  poll?: ServePoll | undefined;
  /** The redelivery check of missed deliveries, when `--redeliver-every` is given. */
  redeliver?: ServeRedeliver | undefined;
  /**
   * `--warehouse bigquery`: deliveries also go to BigQuery every `bigquery.flushSeconds`, while
   * `flushSeconds` above stays the live DuckDB's cadence (`--live-flush-seconds`). Absent on duckdb.
   */
  bigquery?: ServeBigQuery | undefined;
  /** Alert evaluation every `alerts.everyMs`, when a rules file is present and `--no-alerts` is not given. */
  alerts?: ServeAlerts | undefined;
  /** Why a present rules file is not evaluated (`--warehouse bigquery`): logged once at start. */
  alertsSkipped?: string | undefined;
  /**
   * Bearer token of the alert write endpoints (`POST /api/alerts/{fingerprint}/ack`, `POST /api/alerts/test`);
   * they are off (404) without it. A token of its own, not INGEST_TOKEN: the CI systems that post events
   * must not be able to silence alerts.
   */
  alertsToken?: string | undefined;
  /** Slack and the JSON webhook as configured in the environment (their URLs are registered secrets). */
  alertChannels?: ReadonlyMap<ChannelName, Channel> | undefined;
}

/** `redeliver` run by the server itself (serve/redeliver-timer.ts). */
export interface ServeRedeliver {
  everyMs: number;
  hooks: RedeliverHook[];
}

const wholeNumber = (min: number, max: number) =>
  z
    .union([z.number(), z.string()])
    .transform((v, ctx) => {
      const s = String(v).trim();
      if (!/^\d+$/.test(s)) {
        ctx.addIssue({ code: "custom", message: `must be a whole number, got ${JSON.stringify(String(v))}` });
        return z.NEVER;
      }
      return Number(s);
    })
    .pipe(z.number().int().min(min).max(max));

const schema = z.object({
  port: wholeNumber(0, 65535),
  host: z.string().min(1),
  webhookSecrets: z
    .array(z.string())
    .min(1, "is required: a comma-separated list of webhook secrets (serve refuses to accept unsigned deliveries)"),
  ingestToken: z.string().min(1).optional(),
  metricsToken: z.string().min(1).optional(),
  duckdbPath: z.string().min(1),
  stagingDir: z.string().min(1),
  flushSeconds: wholeNumber(1, 3600),
  transformSeconds: wholeNumber(1, 86_400),
  refreshSeconds: wholeNumber(1, 3600),
  metricsPrefix: z.string().regex(/^([a-zA-Z_][a-zA-Z0-9_]*)?$/, "must be a Prometheus name prefix ([a-zA-Z_][a-zA-Z0-9_]*)"),
});

/** Field names as the operator types them. */
const fieldNames: Record<string, string> = {
  port: "--port / PORT",
  host: "--host",
  webhookSecrets: "GITHUB_WEBHOOK_SECRET",
  ingestToken: "INGEST_TOKEN",
  metricsToken: "METRICS_TOKEN",
  duckdbPath: "--duckdb-path",
  stagingDir: "--staging-dir",
  flushSeconds: "--flush-seconds",
  transformSeconds: "--transform-seconds",
  refreshSeconds: "--refresh-seconds",
  metricsPrefix: "--metrics-prefix",
};

const blankToUndefined = (v: string | undefined) => (v === undefined || v.trim() === "" ? undefined : v.trim());

export function parseServeConfig(flags: ServeFlags, env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const secrets = (env.GITHUB_WEBHOOK_SECRET ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const bigquery = parseServeBigQuery(flags, env);
  const input = {
    port: flags.port ?? blankToUndefined(env.PORT) ?? 8080,
    host: flags.host ?? "0.0.0.0",
    webhookSecrets: secrets,
    ingestToken: blankToUndefined(env.INGEST_TOKEN),
    metricsToken: blankToUndefined(env.METRICS_TOKEN),
    duckdbPath: flags.duckdbPath,
    // On bigquery --staging-dir is BigQuery's staging folder; the live DuckDB keeps its own beside it.
    stagingDir: (bigquery ? undefined : flags.stagingDir) ?? defaultStagingDir({ kind: "duckdb", path: flags.duckdbPath }),
    flushSeconds: liveFlushSeconds(flags),
    transformSeconds: flags.transformSeconds ?? 60,
    refreshSeconds: flags.refreshSeconds ?? 15,
    metricsPrefix: flags.metricsPrefix ?? "github_actions_",
  };
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const key = String(i.path[0] ?? "config");
        return { field: fieldNames[key] ?? key, message: i.message };
      }),
    );
  }
  return { ...parsed.data, poll: parsePoll(flags, env), redeliver: parseRedeliver(flags, env), ...(bigquery ? { bigquery } : {}), ...parseAlerts(flags, env, bigquery !== undefined) };
}

/** Evaluating the rules more often than this only repeats the same queries between two flushes of data. */
const MIN_ALERTS_MS = 30_000;
const DEFAULT_ALERTS_MS = 60_000;

/**
 * `--rules`, `--alerts-every`, `--no-alerts`, ALERTS_TOKEN and the channel variables. The rules are read
 * at startup, so a bad alerts.yml stops serve before it listens, naming the rule and field.
 */
function parseAlerts(flags: ServeFlags, env: NodeJS.ProcessEnv, onBigQuery: boolean): Pick<ServeConfig, "alerts" | "alertsSkipped" | "alertsToken" | "alertChannels"> {
  // Only Slack and the JSON webhook: GitHub annotations mean something inside a workflow step, not in a server.
  const channels = new Map(channelsFromEnv(env));
  channels.delete("github");
  const common = { alertsToken: blankToUndefined(env.ALERTS_TOKEN), alertChannels: channels };
  if (flags.alerts === false) return common;
  const path = flags.rules ?? "alerts.yml";
  if (!existsSync(path)) {
    if (flags.rules !== undefined) throw new ConfigError([{ field: "--rules", message: `${path} does not exist: give the path of your alerts.yml, or pass --no-alerts` }]);
    if (flags.alertsEvery !== undefined) throw new ConfigError([{ field: "--alerts-every", message: "needs alert rules: alerts.yml in the working directory or --rules FILE" }]);
    return common;
  }
  const everyMs = flags.alertsEvery === undefined ? DEFAULT_ALERTS_MS : parseDuration(flags.alertsEvery);
  if (everyMs === undefined || everyMs < MIN_ALERTS_MS) throw new ConfigError([{ field: "--alerts-every", message: `must be a duration of at least 30s, e.g. 1m or 5m, got ${JSON.stringify(flags.alertsEvery)}` }]);
  const rules = rulesOrConfigError(path);
  if (onBigQuery) return { ...common, alertsSkipped: `alerts: ${path} is not evaluated by serve --warehouse bigquery: its live DuckDB keeps only --live-days of history, too little for the weekly rules; evaluate them on BigQuery with the scheduled ELT (alerts evaluate --warehouse bigquery), or pass --no-alerts to silence this` };
  return { ...common, alerts: { rulesPath: path, rules, everyMs } };
}

/** `30s`, `15m`, `1h`, `1d` (or a bare number of seconds) → milliseconds; undefined when not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)\s*(s|m|h|d)?$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? "s").toLowerCase() as "s" | "m" | "h" | "d"];
  return Number(m[1]) * unit;
}

const MIN_POLL_MS = 60_000;

/** `--poll-every` with its scope; the scope flags mean nothing without it. */
function parsePoll(flags: ServeFlags, env: NodeJS.ProcessEnv): ServePoll | undefined {
  const repos = flags.repo ?? [];
  const orgs = flags.org ?? [];
  const users = flags.user ?? [];
  if (flags.pollEvery === undefined) {
    if (repos.length + orgs.length + users.length > 0) throw new ConfigError([{ field: "--poll-every", message: "is required with --repo, --org or --user (the scope of the scheduled extract serve runs)" }]);
    return undefined;
  }
  const everyMs = parseDuration(flags.pollEvery);
  if (everyMs === undefined || everyMs < MIN_POLL_MS) throw new ConfigError([{ field: "--poll-every", message: `must be a duration of at least 1m, e.g. 1h or 30m, got ${JSON.stringify(flags.pollEvery)}` }]);
  if (repos.length + orgs.length + users.length === 0) throw new ConfigError([{ field: "--poll-every", message: "needs a scope: give at least one --repo OWNER/NAME, --org ORG or --user USER" }]);
  return {
    everyMs,
    repos,
    orgs,
    users,
    initialSince: flags.initialSince,
    apiUrl: blankToUndefined(env.GITHUB_API_URL),
    token: blankToUndefined(env.GITHUB_TOKEN),
    appId: blankToUndefined(env.GITHUB_APP_ID),
    appPrivateKey: env.GITHUB_APP_PRIVATE_KEY || undefined,
    appPrivateKeyFile: blankToUndefined(env.GITHUB_APP_PRIVATE_KEY_FILE),
    packagesToken: blankToUndefined(env.GITHUB_PACKAGES_TOKEN),
  };
}

/** GitHub answers a delivery list in pages of 100; checking more often than this only spends API budget. */
const MIN_REDELIVER_MS = 5 * 60_000;

/**
 * `--redeliver-every` with its hooks. Each `--redeliver-hook` is checked as `redeliver` checks it
 * (jobs/redeliver.ts `redeliverOptions`: the target's syntax and a credential for it), at startup, so a
 * typo stops serve before it listens rather than an hour later.
 */
function parseRedeliver(flags: ServeFlags, env: NodeJS.ProcessEnv): ServeRedeliver | undefined {
  const specs = flags.redeliverHook ?? [];
  if (flags.redeliverEvery === undefined) {
    if (specs.length > 0) throw new ConfigError([{ field: "--redeliver-every", message: "is required with --redeliver-hook (how often serve checks the hook for failed deliveries, e.g. 1h)" }]);
    return undefined;
  }
  const everyMs = parseDuration(flags.redeliverEvery);
  if (everyMs === undefined || everyMs < MIN_REDELIVER_MS) throw new ConfigError([{ field: "--redeliver-every", message: `must be a duration of at least 5m, e.g. 1h or 15m, got ${JSON.stringify(flags.redeliverEvery)}` }]);
  if (specs.length === 0) throw new ConfigError([{ field: "--redeliver-every", message: "needs at least one --redeliver-hook: repo:OWNER/NAME:HOOK_ID, org:ORG:HOOK_ID or app" }]);
  const apiUrl = blankToUndefined(env.GITHUB_API_URL) ?? "https://api.github.com";
  const credentials = {
    apiUrl,
    token: blankToUndefined(env.GITHUB_TOKEN),
    appId: blankToUndefined(env.GITHUB_APP_ID),
    appPrivateKey: env.GITHUB_APP_PRIVATE_KEY || undefined,
    appPrivateKeyFile: blankToUndefined(env.GITHUB_APP_PRIVATE_KEY_FILE),
  };
  const hooks: RedeliverHook[] = [];
  for (const spec of specs) {
    const field = `--redeliver-hook ${spec}`;
    const m = /^(repo|org):(.+):(\d+)$/.exec(spec.trim());
    const flagsOf = spec.trim() === "app" ? { app: true } : m ? { [m[1] === "repo" ? "repo" : "org"]: m[2], hookId: Number(m[3]) } : undefined;
    if (!flagsOf) throw new ConfigError([{ field, message: "must be repo:OWNER/NAME:HOOK_ID, org:ORG:HOOK_ID or app" }]);
    try {
      const { log: _log, sinceHours: _since, dryRun: _dry, ...hook } = redeliverOptions({ ...flagsOf, sinceHours: 1, perPage: 100, dryRun: false }, credentials, silentLogger);
      hooks.push(hook);
    } catch (error) {
      if (error instanceof ConfigError) throw new ConfigError(error.issues.map((i) => ({ field: `${field} (${i.field})`, message: i.message })));
      throw error;
    }
  }
  return { everyMs, hooks };
}
