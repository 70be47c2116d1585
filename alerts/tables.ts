/**
 * The alert state tables (`alert_events`, `alert_mutes`, `alert_outbox` in the raw dataset): their columns,
 * typed for each engine and described, in one place. Everything that creates or declares them reads this
 * list: alerts/state.ts (`alertTablesDdl`, at evaluation), load/duckdb-connection.ts (`createRawTables`,
 * so every DuckDB warehouse has them before a model reads them), load/bigquery-bootstrap.ts (`bootstrap`),
 * check/catalog.ts (the ZetaSQL catalog) and the Dataform declaration definitions/sources/alert_events.sqlx
 * (`alertEventsDeclaration`, compared by test/report-alerts.test.ts).
 *
 * This module imports nothing from the rest of the project on purpose: load/duckdb-connection.ts imports
 * it, and alerts/state.ts imports load/duckdb-connection.ts, so anything more would be an import cycle.
 */

export const ALERT_TABLES = ["alert_events", "alert_mutes", "alert_outbox"] as const;
export type AlertTable = (typeof ALERT_TABLES)[number];

export interface AlertColumn {
  name: string;
  /** DuckDB type. */
  duckdb: string;
  /** BigQuery (GoogleSQL) type. */
  bigquery: "STRING" | "INT64" | "FLOAT64" | "TIMESTAMP";
  description: string;
}

const TS = (name: string, description: string): AlertColumn => ({ name, duckdb: "TIMESTAMPTZ", bigquery: "TIMESTAMP", description });
const STR = (name: string, description: string): AlertColumn => ({ name, duckdb: "VARCHAR", bigquery: "STRING", description });
const INT = (name: string, description: string): AlertColumn => ({ name, duckdb: "BIGINT", bigquery: "INT64", description });
const NUM = (name: string, description: string): AlertColumn => ({ name, duckdb: "DOUBLE", bigquery: "FLOAT64", description });

/**
 * The columns of each table. JSON travels as text (scope, channels, payload) so one INSERT works on both
 * engines. Beyond issue 13's list: `episode` (the n-th episode of a fingerprint, part of every
 * notification id), `unit` and `channels` on the episode (a resolve message of a rule since removed from
 * alerts.yml still knows where to go), `sequence` on the outbox (the order of an episode's messages). The
 * mute's author is `muted_by`, not `by`: BY is reserved in both engines and quoting differs between them.
 */
export const ALERT_COLUMNS: Record<AlertTable, AlertColumn[]> = {
  alert_events: [
    STR("fingerprint", "Stable id of the alert: hash of the rule name and its scope (repository, workflow, branch, runner label)."),
    INT("episode", "The n-th episode of this fingerprint (1, 2, ...): a fingerprint that resolves and fires again opens a new episode."),
    STR("rule", "Name of the rule in alerts.yml."),
    STR("kind", "Rule kind: failure_rate, duration_p95_regression, queue_p95, consecutive_failures, stuck, cost_spike or flaky_rate."),
    STR("severity", "info, warning or critical."),
    STR("scope", "The scope the finding is about, as a JSON object of text values (e.g. {\"repository\":\"acme/api\",\"workflow\":\"CI\"})."),
    STR("channels", "The rule's notification channels when the episode last changed, as a JSON array (slack, webhook, github)."),
    STR("state", "pending (condition holds, `for` not reached yet), firing or resolved."),
    NUM("value", "The measured value at the last evaluation that saw the condition, in unit."),
    NUM("threshold", "The rule's threshold the value crossed, in unit."),
    STR("unit", "Unit of value and threshold: ratio (0..1), seconds, count or usd."),
    STR("summary", "One-line human summary of the finding at the last evaluation that saw it."),
    TS("first_seen_at", "When an evaluation first saw the condition for this episode (UTC)."),
    TS("last_seen_at", "When an evaluation last saw the condition, or resolved the episode (UTC)."),
    TS("fired_at", "When the episode went from pending to firing (UTC); NULL if it never fired."),
    TS("resolved_at", "When an evaluation found the condition cleared (UTC); NULL while open."),
    TS("last_notified_at", "When the last notification of the episode was queued (UTC); NULL if none."),
    INT("notifications", "Notifications queued for the episode so far (firing, repeats, resolved)."),
    STR("acknowledged_by", "Who acknowledged the episode (alerts ack); NULL if never acknowledged."),
    TS("acknowledged_until", "Until when repeat notifications are held back by the acknowledgement (UTC); NULL if never acknowledged."),
  ],
  alert_mutes: [
    STR("rule", "Name of the muted rule in alerts.yml."),
    TS("until", "End of the mute (UTC): nothing of the rule is sent before it."),
    STR("muted_by", "Who muted the rule."),
    TS("created_at", "When the mute was recorded (UTC)."),
  ],
  alert_outbox: [
    STR("id", "Notification id, fingerprint:episode:kind:sequence (the webhook's Idempotency-Key)."),
    STR("fingerprint", "Alert fingerprint the notification is about."),
    INT("episode", "Episode of the fingerprint."),
    INT("sequence", "Order of the notification within its episode."),
    STR("kind", "firing, repeat, resolved or test."),
    STR("channel", "slack, webhook or github."),
    STR("payload", "The notification as JSON, exactly what is sent (a retry sends the same)."),
    TS("created_at", "When the notification was queued (UTC)."),
    INT("attempts", "Delivery attempts so far."),
    STR("last_error", "Error of the last failed attempt; NULL once sent."),
    TS("sent_at", "When the channel accepted the notification (UTC); NULL while unsent."),
  ],
};

const quoteDuckDb = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** CREATE statements for the alert tables (idempotent), per engine; `table` names a table of the raw dataset, quoted. */
export function alertTablesDdl(engine: "duckdb" | "bigquery", table: (name: AlertTable) => string): string[] {
  return ALERT_TABLES.map(
    (name) => `CREATE TABLE IF NOT EXISTS ${table(name)} (\n${ALERT_COLUMNS[name].map((c) => `  ${engine === "duckdb" ? quoteDuckDb(c.name) : `\`${c.name}\``} ${c[engine]}`).join(",\n")}\n)`,
  );
}

/** The Dataform declaration of alert_events (definitions/sources/alert_events.sqlx), from the columns above. */
export function alertEventsDeclaration(): string {
  const cols = ALERT_COLUMNS.alert_events.map((c) => `    ${c.name}: ${JSON.stringify(c.description)},`).join("\n");
  return `-- Generated from alerts/tables.ts (alertEventsDeclaration): do not edit by hand.
config {
  type: "declaration",
  schema: dataform.projectConfig.vars.raw_dataset,
  name: "alert_events",
  description: ${JSON.stringify("Alert episodes written by `actions-warehouse alerts evaluate` (alerts/state.ts): one row per fingerprint and episode, updated in place as it moves from pending to firing to resolved. Created empty by load and bootstrap, so models can read it before any evaluation.")},
  columns: {
${cols}
  },
}
`;
}
