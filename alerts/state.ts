/**
 * Alert state in the warehouse (issue 13): the episodes (`alert_events`), the mutes (`alert_mutes`) and
 * the outbox of notifications (`alert_outbox`), all in the raw dataset beside the raw tables, and the
 * state machine that moves an episode from pending to firing to resolved.
 *
 * The state machine is a pure function (`planCycle`): open episodes, mutes and this evaluation's
 * findings in, the rows to write and the notifications to queue out. `applyPlan` writes them in one
 * transaction, so an episode's new state and the notifications it causes are durable together or not at
 * all. Sending is alerts/notify.ts's job, from the outbox only.
 *
 * The SQL is written through `SqlRunner`: `@name` parameters, `CAST(@x AS TIMESTAMP)` for instants and
 * plain INSERT/UPDATE/SELECT, which BigQuery and DuckDB read alike, so a BigQuery runner can follow. Only
 * the DDL differs per engine (`alertTablesDdl`). Time arithmetic is done here in TypeScript, not in SQL
 * (DuckDB has no TIMESTAMP_DIFF, BigQuery no date_diff), so `now` is one injectable clock.
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import { z } from "zod";
import { datasets } from "../load/datasets.js";
import { quoteIdent } from "../load/duckdb-connection.js";
import { toIsoInstant } from "../report/data.js";
import { ALERT_COLUMNS, alertTablesDdl as tablesDdl, type AlertColumn, type AlertTable } from "./tables.js";
import { CHANNELS, RULE_KINDS, SEVERITIES, type AlertState, type ChannelName, type Finding, type NotificationKind, type Offender, type Rule, type RuleKind, type Severity } from "./types.js";

// The tables' columns and DDL live in alerts/tables.ts (also read by load, bootstrap, check and Dataform).
export { ALERT_TABLES, type AlertTable } from "./tables.js";

export type SqlParam = string | number | null;
export type SqlParams = Record<string, SqlParam>;

/** Where the alert state lives: a DuckDB connection now, a BigQuery client later (same SQL). */
export interface SqlRunner {
  readonly engine: "duckdb" | "bigquery";
  /** A table of the raw dataset, quoted for the engine. */
  table(name: AlertTable): string;
  all(sql: string, params?: SqlParams): Promise<Record<string, unknown>[]>;
  run(sql: string, params?: SqlParams): Promise<void>;
  /** Runs `work` in one transaction: every write in it is committed together or rolled back. */
  transaction<T>(work: () => Promise<T>): Promise<T>;
}

/** `@name` (GoogleSQL) as DuckDB's `$name`; the alert SQL has no `@` anywhere else. */
function bindDuckDb(sql: string, params: SqlParams): { sql: string; values: Record<string, string | number | null> } {
  const values: Record<string, string | number | null> = {};
  const text = sql.replace(/@([A-Za-z_]\w*)/g, (_whole, name: string) => {
    if (!(name in params)) throw new Error(`alert state SQL: parameter @${name} has no value`);
    values[name] = params[name] ?? null;
    return `$${name}`;
  });
  return { sql: text, values };
}

/** A runner over an open DuckDB connection (the CLI's, under the warehouse lock, or serve's flusher's). */
export function duckDbRunner(connection: DuckDBConnection): SqlRunner {
  const exec = async (sql: string, params: SqlParams = {}) => {
    const bound = bindDuckDb(sql, params);
    return Object.keys(bound.values).length ? connection.runAndReadAll(bound.sql, bound.values) : connection.runAndReadAll(bound.sql);
  };
  let inTransaction = false;
  return {
    engine: "duckdb",
    table: (name) => `${quoteIdent(datasets.raw)}.${quoteIdent(name)}`,
    all: async (sql, params) => (await exec(sql, params)).getRowObjectsJson() as Record<string, unknown>[],
    run: async (sql, params) => {
      await exec(sql, params);
    },
    transaction: async (work) => {
      // Nested calls join the outer transaction (DuckDB has no savepoints).
      if (inTransaction) return work();
      inTransaction = true;
      await connection.run("BEGIN TRANSACTION");
      try {
        const result = await work();
        await connection.run("COMMIT");
        return result;
      } catch (error) {
        await connection.run("ROLLBACK");
        throw error;
      } finally {
        inTransaction = false;
      }
    },
  };
}

type ColumnSpec = AlertColumn;
const COLUMNS = ALERT_COLUMNS;

/** CREATE statements for the alert tables (idempotent), per engine (alerts/tables.ts). */
export function alertTablesDdl(engine: SqlRunner["engine"], table: (name: AlertTable) => string): string[] {
  return tablesDdl(engine, table);
}

export async function ensureAlertTables(runner: SqlRunner): Promise<void> {
  if (runner.engine === "duckdb") await runner.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(datasets.raw)}`);
  for (const ddl of alertTablesDdl(runner.engine, (n) => runner.table(n))) await runner.run(ddl);
}

// ---- rows -------------------------------------------------------------------------------------------

/** One alert episode, as stored in alert_events. Instants are ISO-8601 UTC strings. */
export interface Episode {
  fingerprint: string;
  episode: number;
  rule: string;
  kind: RuleKind;
  severity: Severity;
  scope: Record<string, string>;
  channels: ChannelName[];
  state: AlertState;
  value: number;
  threshold: number;
  unit: Finding["unit"];
  summary: string;
  firstSeenAt: string;
  lastSeenAt: string;
  firedAt: string | null;
  resolvedAt: string | null;
  lastNotifiedAt: string | null;
  notifications: number;
  acknowledgedBy: string | null;
  acknowledgedUntil: string | null;
}

/**
 * What a channel renders: channel-neutral and complete, stored as the outbox row's payload so a retry
 * days later sends exactly what was decided at the time.
 */
export interface AlertNotification {
  /** `fingerprint:episode:kind:sequence` (deterministic; the JSON webhook's Idempotency-Key). */
  id: string;
  kind: NotificationKind;
  fingerprint: string;
  episode: number;
  sequence: number;
  rule: string;
  ruleKind: RuleKind | "test";
  description?: string | undefined;
  severity: Severity;
  state: AlertState;
  scope: Record<string, string>;
  value: number;
  threshold: number;
  unit: Finding["unit"];
  summary: string;
  offenders: Offender[];
  firstSeenAt: string;
  firedAt: string | null;
  resolvedAt: string | null;
  /** When the evaluation that queued this ran. */
  evaluatedAt: string;
  acknowledgedBy: string | null;
  acknowledgedUntil: string | null;
}

export const notificationId = (fingerprint: string, episode: number, kind: NotificationKind, sequence: number): string => `${fingerprint}:${episode}:${kind}:${sequence}`;

export interface OutboxRow {
  id: string;
  fingerprint: string;
  episode: number;
  sequence: number;
  kind: NotificationKind;
  channel: ChannelName;
  payload: AlertNotification;
  createdAt: string;
  attempts: number;
  lastError: string | null;
  sentAt: string | null;
}

const num = z.coerce.number().refine(Number.isFinite, "not a finite number");
const instant = z.string().transform((s) => toIsoInstant(s));
const optInstant = z.union([z.null(), instant]);
const optStr = z.union([z.null(), z.string()]);
const jsonText = <T extends z.ZodType>(schema: T) => z.string().transform((s) => schema.parse(JSON.parse(s)) as z.output<T>);
const scopeSchema = z.record(z.string(), z.string());

const episodeRow = z.object({
  fingerprint: z.string(),
  episode: num,
  rule: z.string(),
  kind: z.enum(RULE_KINDS),
  severity: z.enum(SEVERITIES),
  scope: jsonText(scopeSchema),
  channels: jsonText(z.array(z.enum(CHANNELS))),
  state: z.enum(["pending", "firing", "resolved"]),
  value: num,
  threshold: num,
  unit: z.enum(["ratio", "seconds", "count", "usd"]),
  summary: z.string(),
  first_seen_at: instant,
  last_seen_at: instant,
  fired_at: optInstant,
  resolved_at: optInstant,
  last_notified_at: optInstant,
  notifications: num,
  acknowledged_by: optStr,
  acknowledged_until: optInstant,
});

function toEpisode(row: Record<string, unknown>, where: string): Episode {
  const parsed = episodeRow.safeParse(row);
  if (!parsed.success) throw new Error(`${where}: row of fingerprint ${String(row.fingerprint)} does not parse: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const r = parsed.data;
  return {
    fingerprint: r.fingerprint, episode: r.episode, rule: r.rule, kind: r.kind, severity: r.severity, scope: r.scope, channels: r.channels, state: r.state,
    value: r.value, threshold: r.threshold, unit: r.unit, summary: r.summary,
    firstSeenAt: r.first_seen_at, lastSeenAt: r.last_seen_at, firedAt: r.fired_at, resolvedAt: r.resolved_at, lastNotifiedAt: r.last_notified_at,
    notifications: r.notifications, acknowledgedBy: r.acknowledged_by, acknowledgedUntil: r.acknowledged_until,
  };
}

/** Instants read as text so both engines return them alike (parsed by toIsoInstant). */
const selectColumns = (cols: ColumnSpec[]) => cols.map((c) => (c.duckdb === "TIMESTAMPTZ" ? `CAST(${c.name} AS STRING) AS ${c.name}` : c.name)).join(", ");

export type ListFilter = AlertState | "open" | "all";

export async function readEpisodes(runner: SqlRunner, filter: ListFilter = "open"): Promise<Episode[]> {
  const where = filter === "all" ? "" : filter === "open" ? "WHERE state IN ('pending', 'firing')" : "WHERE state = @state";
  const rows = await runner.all(
    `SELECT ${selectColumns(COLUMNS.alert_events)} FROM ${runner.table("alert_events")} ${where} ORDER BY last_seen_at DESC, fingerprint ASC, episode DESC`,
    filter === "all" || filter === "open" ? {} : { state: filter },
  );
  return rows.map((r) => toEpisode(r, `alert_events`));
}

/** The rules muted at `now`, with the end of their mute (the latest when muted twice). */
export async function activeMutes(runner: SqlRunner, now: Date): Promise<Map<string, string>> {
  const rows = await runner.all(`SELECT rule, CAST(MAX(until) AS STRING) AS until FROM ${runner.table("alert_mutes")} WHERE until > CAST(@now AS TIMESTAMP) GROUP BY rule`, { now: now.toISOString() });
  return new Map(rows.map((r) => [String(r.rule), toIsoInstant(String(r.until))]));
}

async function lastEpisodes(runner: SqlRunner): Promise<Map<string, number>> {
  const rows = await runner.all(`SELECT fingerprint, MAX(episode) AS episode FROM ${runner.table("alert_events")} GROUP BY fingerprint`);
  return new Map(rows.map((r) => [String(r.fingerprint), Number(r.episode)]));
}

const outboxRow = z.object({
  id: z.string(),
  fingerprint: z.string(),
  episode: num,
  sequence: num,
  kind: z.enum(["firing", "repeat", "resolved", "test"]),
  channel: z.enum(CHANNELS),
  payload: z.string(),
  created_at: instant,
  attempts: num,
  last_error: optStr,
  sent_at: optInstant,
});

/** Notifications not sent yet, oldest first and in order within each episode. */
export async function unsentNotifications(runner: SqlRunner): Promise<OutboxRow[]> {
  const rows = await runner.all(
    `SELECT ${selectColumns(COLUMNS.alert_outbox)} FROM ${runner.table("alert_outbox")} WHERE sent_at IS NULL ORDER BY created_at ASC, fingerprint ASC, episode ASC, sequence ASC, channel ASC`,
  );
  return rows.map((r) => {
    const o = outboxRow.parse(r);
    return {
      id: o.id, fingerprint: o.fingerprint, episode: o.episode, sequence: o.sequence, kind: o.kind, channel: o.channel,
      payload: JSON.parse(o.payload) as AlertNotification, createdAt: o.created_at, attempts: o.attempts, lastError: o.last_error, sentAt: o.sent_at,
    };
  });
}

export async function markSent(runner: SqlRunner, row: Pick<OutboxRow, "id" | "channel">, now: Date): Promise<void> {
  await runner.run(`UPDATE ${runner.table("alert_outbox")} SET sent_at = CAST(@now AS TIMESTAMP), attempts = attempts + 1, last_error = NULL WHERE id = @id AND channel = @channel AND sent_at IS NULL`, {
    now: now.toISOString(),
    id: row.id,
    channel: row.channel,
  });
}

export async function markFailed(runner: SqlRunner, row: Pick<OutboxRow, "id" | "channel">, error: string): Promise<void> {
  await runner.run(`UPDATE ${runner.table("alert_outbox")} SET attempts = attempts + 1, last_error = @error WHERE id = @id AND channel = @channel AND sent_at IS NULL`, {
    error: error.slice(0, 1000),
    id: row.id,
    channel: row.channel,
  });
}

export async function outboxCounts(runner: SqlRunner): Promise<{ unsent: number; sent: number }> {
  const [row] = await runner.all(`SELECT COUNTIF(sent_at IS NULL) AS unsent, COUNTIF(sent_at IS NOT NULL) AS sent FROM ${runner.table("alert_outbox")}`);
  return { unsent: Number(row?.unsent ?? 0), sent: Number(row?.sent ?? 0) };
}

// ---- the state machine ---------------------------------------------------------------------------------

/** What happened to one alert in one evaluation (the CLI's table, the log). */
export interface Transition {
  fingerprint: string;
  episode: number;
  rule: string;
  scope: Record<string, string>;
  from: AlertState | "new";
  to: AlertState;
  /** Notifications queued by this transition (one per channel each). */
  queued: NotificationKind[];
  /** Why a due notification was not queued. */
  suppressed?: "muted" | "acknowledged";
}

export interface CyclePlan {
  /** Episodes to insert (new) or update (existing), keyed by fingerprint and episode. */
  inserts: Episode[];
  updates: Episode[];
  outbox: OutboxRow[];
  transitions: Transition[];
}

export interface PlanInput {
  now: Date;
  rules: Rule[];
  findings: Finding[];
  open: Episode[];
  lastEpisode: Map<string, number>;
  mutes: Map<string, string>;
  /** Channels that can deliver in this run; a rule's other channels get nothing queued. */
  channels: ReadonlySet<ChannelName>;
}

const secondsBetween = (from: string, to: Date) => (to.getTime() - Date.parse(from)) / 1000;

/**
 * One evaluation at `now`:
 * - a finding without an open episode opens one (`pending`, first seen now; episode = the last + 1);
 * - a pending episode fires once it has held for the rule's `for` (0: in the same evaluation);
 * - a firing episode notifies when it fires, again each `repeat_interval` after the last notification,
 *   and once when it resolves (the finding is gone); a pending one that clears is closed silently;
 * - acknowledged (until T): no repeats before T; muted rule (until T): nothing queued before T, the state
 *   still moves. An episode that fired while muted notifies `firing` at the first evaluation after the
 *   mute; a resolve is sent only for an episode whose firing was sent.
 */
export function planCycle(input: PlanInput): CyclePlan {
  const { now } = input;
  const nowIso = now.toISOString();
  const rules = new Map(input.rules.map((r) => [r.name, r]));
  const open = new Map(input.open.map((e) => [e.fingerprint, e]));
  const plan: CyclePlan = { inserts: [], updates: [], outbox: [], transitions: [] };
  const seen = new Set<string>();

  const queue = (episode: Episode, kind: NotificationKind, finding: Finding | undefined, rule: Rule | undefined) => {
    const sequence = episode.notifications;
    const id = notificationId(episode.fingerprint, episode.episode, kind, sequence);
    const payload: AlertNotification = {
      id, kind, fingerprint: episode.fingerprint, episode: episode.episode, sequence,
      rule: episode.rule, ruleKind: episode.kind, ...(rule?.description ? { description: rule.description } : {}),
      severity: episode.severity, state: episode.state, scope: episode.scope,
      value: episode.value, threshold: episode.threshold, unit: episode.unit, summary: episode.summary,
      offenders: finding?.offenders ?? [],
      firstSeenAt: episode.firstSeenAt, firedAt: episode.firedAt, resolvedAt: episode.resolvedAt, evaluatedAt: nowIso,
      acknowledgedBy: episode.acknowledgedBy, acknowledgedUntil: episode.acknowledgedUntil,
    };
    for (const channel of episode.channels) {
      if (!input.channels.has(channel)) continue;
      plan.outbox.push({ id, fingerprint: episode.fingerprint, episode: episode.episode, sequence, kind, channel, payload, createdAt: nowIso, attempts: 0, lastError: null, sentAt: null });
    }
    episode.notifications += 1;
    episode.lastNotifiedAt = nowIso;
  };

  for (const finding of input.findings) {
    if (seen.has(finding.fingerprint)) continue;
    seen.add(finding.fingerprint);
    const rule = rules.get(finding.rule);
    if (!rule) throw new Error(`finding of rule ${JSON.stringify(finding.rule)}, which is not among the rules evaluated (alerts.yml)`);
    const muted = (input.mutes.get(rule.name) ?? "") > nowIso;
    const previous = open.get(finding.fingerprint);
    const fresh = {
      rule: rule.name, kind: finding.kind, severity: finding.severity, scope: finding.scope, channels: [...rule.channels],
      value: finding.value, threshold: finding.threshold, unit: finding.unit, summary: finding.summary, lastSeenAt: nowIso,
    };
    const episode: Episode = previous
      ? { ...previous, ...fresh }
      : {
          fingerprint: finding.fingerprint, episode: (input.lastEpisode.get(finding.fingerprint) ?? 0) + 1, ...fresh, state: "pending",
          firstSeenAt: nowIso, firedAt: null, resolvedAt: null, lastNotifiedAt: null, notifications: 0, acknowledgedBy: null, acknowledgedUntil: null,
        };
    const transition: Transition = { fingerprint: episode.fingerprint, episode: episode.episode, rule: rule.name, scope: finding.scope, from: previous?.state ?? "new", to: "pending", queued: [] };
    let fired = false;
    if (episode.state === "pending" && secondsBetween(episode.firstSeenAt, now) >= rule.forSeconds) {
      episode.state = "firing";
      episode.firedAt = nowIso;
      fired = true;
    }
    transition.to = episode.state;
    if (episode.state === "firing") {
      const acknowledged = episode.acknowledgedUntil !== null && episode.acknowledgedUntil > nowIso;
      // The first message of an episode is `firing`, also when it fired during a mute that has ended.
      const due: NotificationKind | undefined =
        fired || episode.notifications === 0 ? "firing" : episode.lastNotifiedAt === null || secondsBetween(episode.lastNotifiedAt, now) >= rule.repeatIntervalSeconds ? "repeat" : undefined;
      if (due && muted) transition.suppressed = "muted";
      else if (due === "repeat" && acknowledged) transition.suppressed = "acknowledged";
      else if (due) {
        queue(episode, due, finding, rule);
        transition.queued.push(due);
      }
    }
    (previous ? plan.updates : plan.inserts).push(episode);
    plan.transitions.push(transition);
  }

  for (const previous of input.open) {
    if (seen.has(previous.fingerprint)) continue;
    const episode: Episode = { ...previous, state: "resolved", resolvedAt: nowIso };
    const transition: Transition = { fingerprint: episode.fingerprint, episode: episode.episode, rule: episode.rule, scope: episode.scope, from: previous.state, to: "resolved", queued: [] };
    if (previous.state === "firing" && previous.notifications > 0) {
      if ((input.mutes.get(episode.rule) ?? "") > nowIso) transition.suppressed = "muted";
      else {
        queue(episode, "resolved", undefined, rules.get(episode.rule));
        transition.queued.push("resolved");
      }
    }
    plan.updates.push(episode);
    plan.transitions.push(transition);
  }
  return plan;
}

const episodeParams = (e: Episode): SqlParams => ({
  fingerprint: e.fingerprint, episode: e.episode, rule: e.rule, kind: e.kind, severity: e.severity, scope: JSON.stringify(e.scope), channels: JSON.stringify(e.channels), state: e.state,
  value: e.value, threshold: e.threshold, unit: e.unit, summary: e.summary,
  first_seen_at: e.firstSeenAt, last_seen_at: e.lastSeenAt, fired_at: e.firedAt, resolved_at: e.resolvedAt, last_notified_at: e.lastNotifiedAt,
  notifications: e.notifications, acknowledged_by: e.acknowledgedBy, acknowledged_until: e.acknowledgedUntil,
});

const isTs = (name: string, table: AlertTable) => COLUMNS[table].find((c) => c.name === name)?.duckdb === "TIMESTAMPTZ";

/**
 * Rows per multi-row statement. BigQuery caps a query at 10,000 parameters and 1 MB of text
 * (https://cloud.google.com/bigquery/quotas#query_jobs): 200 rows of 20 columns is 4,000 parameters.
 */
export const ROWS_PER_STATEMENT = 200;

const inChunks = <T>(items: T[], size: number): T[][] => Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/** `INSERT INTO t (cols) VALUES (...), (...)`: one statement for many rows, parameters suffixed with the row index. */
function multiRowInsert(runner: SqlRunner, table: AlertTable, rows: SqlParams[]): { sql: string; params: SqlParams } {
  const columns = COLUMNS[table].map((c) => c.name);
  const params: SqlParams = {};
  const tuples = rows.map((row, i) => {
    for (const c of columns) params[`${c}_${i}`] = row[c] ?? null;
    return `(${columns.map((c) => (isTs(c, table) ? `CAST(@${c}_${i} AS TIMESTAMP)` : `@${c}_${i}`)).join(", ")})`;
  });
  return { sql: `INSERT INTO ${runner.table(table)} (${columns.join(", ")}) VALUES\n${tuples.join(",\n")}`, params };
}

/**
 * Writes a plan in one transaction: episodes and the notifications they queued, together. A handful of
 * statements whatever the plan's size (BigQuery bills and queues each DML statement as a job, and limits
 * concurrent mutating DML per table: https://cloud.google.com/bigquery/quotas#data-manipulation-language-statements):
 * the updated episodes are deleted in one DELETE and written back with the new ones in one multi-row
 * INSERT (an episode row holds every column, so this is the UPDATE it replaces), the outbox rows in
 * another. Both engines run the same SQL.
 */
export async function applyPlan(runner: SqlRunner, plan: CyclePlan): Promise<void> {
  const events = runner.table("alert_events");
  await runner.transaction(async () => {
    for (const chunk of inChunks(plan.updates, ROWS_PER_STATEMENT)) {
      const params: SqlParams = {};
      const keys = chunk.map((e, i) => {
        params[`fingerprint_${i}`] = e.fingerprint;
        params[`episode_${i}`] = e.episode;
        return `(fingerprint = @fingerprint_${i} AND episode = @episode_${i})`;
      });
      await runner.run(`DELETE FROM ${events} WHERE ${keys.join(" OR ")}`, params);
    }
    for (const chunk of inChunks([...plan.inserts, ...plan.updates], ROWS_PER_STATEMENT)) {
      const insert = multiRowInsert(runner, "alert_events", chunk.map(episodeParams));
      await runner.run(insert.sql, insert.params);
    }
    const outboxRows = plan.outbox.map((o): SqlParams => ({
      id: o.id, fingerprint: o.fingerprint, episode: o.episode, sequence: o.sequence, kind: o.kind, channel: o.channel, payload: JSON.stringify(o.payload),
      created_at: o.createdAt, attempts: 0, last_error: null, sent_at: null,
    }));
    for (const chunk of inChunks(outboxRows, ROWS_PER_STATEMENT)) {
      const insert = multiRowInsert(runner, "alert_outbox", chunk);
      await runner.run(insert.sql, insert.params);
    }
  });
}

/** Reads the state, plans one evaluation and writes it (one transaction). */
export async function recordEvaluation(runner: SqlRunner, input: Omit<PlanInput, "open" | "lastEpisode" | "mutes">): Promise<CyclePlan> {
  await ensureAlertTables(runner);
  return runner.transaction(async () => {
    const plan = planCycle({ ...input, open: await readEpisodes(runner, "open"), lastEpisode: await lastEpisodes(runner), mutes: await activeMutes(runner, input.now) });
    await applyPlan(runner, plan);
    return plan;
  });
}

/** Acknowledges the open episode of a fingerprint until `until`; returns it, or undefined when none is open. */
export async function acknowledge(runner: SqlRunner, fingerprint: string, until: Date, by: string): Promise<Episode | undefined> {
  await ensureAlertTables(runner);
  const [episode] = (await readEpisodes(runner, "open")).filter((e) => e.fingerprint === fingerprint);
  if (!episode) return undefined;
  await runner.run(`UPDATE ${runner.table("alert_events")} SET acknowledged_by = @by, acknowledged_until = CAST(@until AS TIMESTAMP) WHERE fingerprint = @fingerprint AND episode = @episode`, {
    by,
    until: until.toISOString(),
    fingerprint,
    episode: episode.episode,
  });
  return { ...episode, acknowledgedBy: by, acknowledgedUntil: until.toISOString() };
}

export async function mute(runner: SqlRunner, rule: string, until: Date, by: string, now: Date): Promise<void> {
  await ensureAlertTables(runner);
  await runner.run(`INSERT INTO ${runner.table("alert_mutes")} (rule, until, muted_by, created_at) VALUES (@rule, CAST(@until AS TIMESTAMP), @by, CAST(@now AS TIMESTAMP))`, {
    rule,
    until: until.toISOString(),
    by,
    now: now.toISOString(),
  });
}
