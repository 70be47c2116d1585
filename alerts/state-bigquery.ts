/**
 * Alert state on BigQuery: a `SqlRunner` over the official `@google-cloud/bigquery` client, so the state
 * machine, the outbox and their SQL (alerts/state.ts) run unchanged on `github_raw.alert_*` in BigQuery.
 *
 * - Statements run as query jobs in the datasets' location, with typed `@name` parameters: text as
 *   STRING (instants too: the SQL casts them, `CAST(@x AS TIMESTAMP)`), whole numbers as INT64, others
 *   as FLOAT64, and NULL as a STRING NULL (every nullable value the alert SQL binds is text or an instant).
 * - `transaction(work)`: BigQuery has multi-statement transactions only inside one script or across the
 *   jobs of a session ("A transaction must be contained in a single SQL query, except when in Session
 *   mode", https://cloud.google.com/bigquery/docs/transactions#transaction_scope). `work` interleaves
 *   reads and writes from TypeScript, so it runs in a session: `BEGIN TRANSACTION` in a job with
 *   `createSession: true`, every statement of `work` in a job carrying the `session_id` connection
 *   property, then `COMMIT TRANSACTION`; on any error `ROLLBACK TRANSACTION` (a statement that failed has
 *   already rolled it back: "If an error occurs during a transaction and there is no exception handler,
 *   the query fails and BigQuery automatically rolls back the transaction"). The session is ended with
 *   `CALL BQ.ABORT_SESSION()` (https://cloud.google.com/bigquery/docs/sessions-terminating).
 * - Two evaluations writing at once (cron and a person): BigQuery cancels the later transaction that
 *   mutates the same table ("Transaction is aborted due to concurrent update",
 *   https://cloud.google.com/bigquery/docs/transactions#transaction_concurrency). Nothing of it is written;
 *   the error says so and the next evaluation redoes the work.
 */
import type { BigQuery, Job, Query } from "@google-cloud/bigquery";
import { datasets } from "../load/datasets.js";
import type { Logger } from "../log/logger.js";
import { bigQueryReportSource, plainValue } from "../report/bigquery-source.js";
import type { Channel } from "./channels/channel.js";
import { evaluateRules, ruleQuery } from "./evaluate.js";
import { runAlertCycle, type AlertCycleResult } from "./notify.js";
import type { SqlParams, SqlRunner } from "./state.js";
import type { ChannelName, Rule } from "./types.js";

export interface BigQueryStateTarget {
  projectId: string;
  /** Location of the datasets (US, EU, a region): every job runs there. */
  location: string;
}

type QueryParameter = NonNullable<Query["queryParameters"]>[number];

/** `@name` parameters in the REST shape (QueryParameter), each typed (a NULL needs a type too). */
function queryParameters(params: SqlParams): QueryParameter[] {
  return Object.entries(params).map(([name, value]) => {
    const type = value === null || typeof value === "string" ? "STRING" : Number.isInteger(value) ? "INT64" : "FLOAT64";
    if (typeof value === "number" && !Number.isFinite(value)) throw new Error(`alert state SQL: parameter @${name} is ${value}, which BigQuery cannot store: the finding's value must be a finite number`);
    return { name, parameterType: { type }, parameterValue: value === null ? {} : { value: String(value) } };
  });
}

/** What to do about a BigQuery error on the alert tables, by its text. */
function advice(message: string): string {
  if (/concurrent update/i.test(message)) return "another evaluation wrote the alert state at the same time; this one wrote nothing and the next evaluation redoes it";
  if (/Access Denied|permission/i.test(message)) return `grant the identity BigQuery Data Editor on the ${datasets.raw} dataset and BigQuery Job User on the project`;
  if (/Not found: (Table|Dataset)/i.test(message)) return "run `actions-warehouse bootstrap` (or alerts evaluate, which creates the alert tables) first";
  return "";
}

/**
 * The `CREATE TABLE IF NOT EXISTS` statements this process has run, per project and location
 * (ensureAlertTables): one DDL job per table is enough per process, not one per command step (the CLI
 * and recordEvaluation both ensure, with clients of their own).
 */
const ensured = new Set<string>();

/** A SqlRunner on BigQuery (see the module comment for how transactions work). */
export function bigQueryRunner(bigquery: BigQuery, target: BigQueryStateTarget): SqlRunner {
  const where = `${target.projectId}.${datasets.raw} in ${target.location}`;
  let session: string | undefined;

  const submit = async (sql: string, params: SqlParams, extra: Partial<Query> = {}): Promise<Job> => {
    const parameters = queryParameters(params);
    const [job] = await bigquery.createQueryJob({
      query: sql,
      useLegacySql: false,
      location: target.location,
      jobPrefix: "aw_alerts_",
      ...(parameters.length ? { parameterMode: "NAMED", queryParameters: parameters } : {}),
      ...(session !== undefined && extra.createSession !== true ? { connectionProperties: [{ key: "session_id", value: session }] } : {}),
      ...extra,
    });
    return job;
  };
  const failure = (sql: string, error: unknown): Error => {
    const message = error instanceof Error ? error.message : String(error);
    const hint = advice(message);
    const statement = sql.trim().split(/\s+/).slice(0, 3).join(" ");
    return new Error(`alert state on BigQuery (${where}): ${statement} … failed: ${message.split("\n")[0]}${hint ? `: ${hint}` : ""}`, { cause: error });
  };
  const rows = async (sql: string, params: SqlParams = {}): Promise<Record<string, unknown>[]> => {
    try {
      const job = await submit(sql, params);
      // Integers as exact text (BigQueryInt), like DuckDB's BIGINT JSON; the zod rows coerce them.
      const [result] = await job.getQueryResults({ wrapIntegers: true });
      return (result as unknown[]).map((row) => plainValue(row) as Record<string, unknown>);
    } catch (error) {
      throw failure(sql, error);
    }
  };
  const run = async (sql: string, params: SqlParams = {}, extra: Partial<Query> = {}): Promise<Job> => {
    try {
      const job = await submit(sql, params, extra);
      // jobs.getQueryResults waits for DONE on the server side (no client polling interval); a job error
      // (errorResult) rejects here. A statement other than SELECT has no rows.
      await job.getQueryResults();
      return job;
    } catch (error) {
      throw failure(sql, error);
    }
  };

  return {
    engine: "bigquery",
    table: (name) => `\`${target.projectId}.${datasets.raw}.${name}\``,
    all: rows,
    run: async (sql, params) => {
      const ddl = /^\s*CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\b/i.test(sql) ? `${target.projectId}\u0000${target.location}\u0000${sql}` : undefined;
      if (ddl !== undefined && ensured.has(ddl)) return;
      await run(sql, params);
      if (ddl !== undefined) ensured.add(ddl);
    },
    transaction: async (work) => {
      // Nested calls join the outer transaction (BigQuery transactions cannot be nested).
      if (session !== undefined) return work();
      const begin = await run("BEGIN TRANSACTION", {}, { createSession: true });
      const [meta] = await begin.getMetadata();
      const id = (meta as { statistics?: { sessionInfo?: { sessionId?: string } } }).statistics?.sessionInfo?.sessionId;
      if (!id) throw new Error(`alert state on BigQuery (${where}): BEGIN TRANSACTION opened no session (no statistics.sessionInfo.sessionId in job ${begin.id ?? "?"}), so the writes could not be made atomic; nothing was written`);
      session = id;
      try {
        const result = await work();
        await run("COMMIT TRANSACTION");
        return result;
      } catch (error) {
        // A failed statement has rolled the transaction back already; then ROLLBACK finds none: ignore that.
        await run("ROLLBACK TRANSACTION").catch(() => undefined);
        throw error;
      } finally {
        await run("CALL BQ.ABORT_SESSION()").catch(() => undefined);
        session = undefined;
      }
    },
  };
}

export interface BigQueryAlertEvaluation extends BigQueryStateTarget {
  bigquery: BigQuery;
  rules: Rule[];
  now: Date;
  channels: ReadonlyMap<ChannelName, Channel>;
  log: Logger;
}

/**
 * `alerts evaluate --warehouse bigquery`: dry-runs every enabled rule's query and logs the bytes they
 * will scan (on-demand pricing bills bytes scanned), evaluates them on the models through the report's
 * BigQuery source, then runs the same alert cycle as on DuckDB with the state in `github_raw`.
 */
export async function evaluateAndNotifyOnBigQuery(input: BigQueryAlertEvaluation): Promise<AlertCycleResult & { bytesByRule: Record<string, number> }> {
  const source = bigQueryReportSource({ projectId: input.projectId, location: input.location, client: input.bigquery });
  const bytesByRule: Record<string, number> = {};
  for (const rule of input.rules) {
    if (!rule.enabled || !source.dryRun) continue;
    const q = ruleQuery(rule, source.table, input.now);
    // A query that cannot be dry-run fails again just below, in evaluateRules, naming the rule and the fix.
    bytesByRule[rule.name] = await source.dryRun(q.sql, q.params).catch(() => 0);
  }
  const total = Object.values(bytesByRule).reduce((a, b) => a + b, 0);
  input.log.info(`alert rules will scan ${(total / 2 ** 20).toFixed(1)} MiB (BigQuery dry run)`, { total_bytes: total, bytes_by_rule: bytesByRule });
  const findings = await evaluateRules(input.rules, source, input.now);
  const result = await runAlertCycle({ runner: bigQueryRunner(input.bigquery, input), rules: input.rules, findings, now: input.now, channels: input.channels, log: input.log });
  return { ...result, bytesByRule };
}
