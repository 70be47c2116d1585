/**
 * Alert state on BigQuery (alerts/state-bigquery.ts): the same state machine and outbox in
 * `github_raw.alert_*`, written in BigQuery transactions (sessions), giving what DuckDB gives.
 *
 * One seeded simulator extract feeds both warehouses (as in test/report-bigquery.test.ts): the DuckDB one
 * through the real pipeline, the BigQuery stand-in through `bootstrap`, `load --warehouse bigquery` and the
 * real `transform --warehouse bigquery` (Dataform CLI). Then `alerts evaluate` runs on each through the
 * command line, each with its own Slack stand-in, and everything must match: findings, episodes, messages.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BigQuery } from "@google-cloud/bigquery";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { evaluateRules } from "../alerts/evaluate.js";
import { channelsFromEnv, runAlertCycle } from "../alerts/notify.js";
import { loadRules } from "../alerts/rules.js";
import { bigQueryRunner } from "../alerts/state-bigquery.js";
import { activeMutes, duckDbRunner, ensureAlertTables, outboxCounts, readEpisodes, recordEvaluation, unsentNotifications, type Episode, type SqlParams, type SqlRunner } from "../alerts/state.js";
import { fingerprintOf, type Finding, type Rule } from "../alerts/types.js";
import { alertColumns, Catalog } from "../check/catalog.js";
import { withZetaSql } from "../check/zetasql.js";
import { ALERT_TABLES } from "../alerts/tables.js";
import { main } from "../jobs/cli.js";
import { openDuckDb } from "../load/duckdb-connection.js";
import { silentLogger } from "../log/logger.js";
import { bigQueryReportSource } from "../report/bigquery-source.js";
import { withDuckDbSource } from "../report/build.js";
import { buildReportWarehouse, REPORT_ANCHOR } from "./report-fixture.js";
import { startGoogleStandIns, type GoogleStandIns } from "./stand-ins/google-env.js";
import { startSlackStandIn, type SlackStandIn } from "./stand-ins/slack.js";

const PROJECT = "acme-alerts";
const BUCKET = "acme-alerts-staging";
const LOCATION = "US";
const NOW = new Date(REPORT_ANCHOR);

/** The shipped rules plus one that certainly fires on the demo data, all to Slack. */
const EXTRA_RULE = `
  - name: any-failure
    kind: failure_rate
    severity: critical
    channels: [slack]
    threshold: 0.01
    window: 400d
    min_runs: 1
`;

const T0 = Date.parse("2026-11-20T08:00:00Z");
const at = (minutes: number) => new Date(T0 + minutes * 60_000);

function syntheticRule(name: string): Rule {
  return {
    name, kind: "failure_rate", scope: { repositories: ["*"], workflows: ["*"], branches: ["*"] }, severity: "critical", channels: ["slack"],
    forSeconds: 0, repeatIntervalSeconds: 3600, enabled: true, threshold: 0.2, windowSeconds: 86_400, minRuns: 5,
  };
}
function finding(r: Rule, repository: string, value = 0.5): Finding {
  const scope = { repository, workflow: "CI" };
  return {
    rule: r.name, kind: r.kind, severity: r.severity, scope, fingerprint: fingerprintOf(r.name, scope), value, threshold: 0.2, unit: "ratio",
    summary: `failure rate ${value * 100}% in ${repository}`, offenders: [{ label: "run 101", value: 1, url: `https://github.com/${repository}/actions/runs/101` }],
  };
}
const ofRule = (episodes: Episode[], rule: string) => episodes.filter((e) => e.rule === rule);
/**
 * The kinds of the Slack messages about one alert (its notification ids are fingerprint:episode:kind:n).
 * A cycle evaluates only the rules it is given and resolves every other open episode: other alerts'
 * resolve messages arrive too, and are left out here.
 */
const kindsFor = (slack: SlackStandIn, fingerprint: string, from = 0) =>
  slack.accepted.slice(from).flatMap((p) => {
    const id = /notification `([^`]+)`/.exec(JSON.stringify(p.body))?.[1] ?? "";
    return id.startsWith(`${fingerprint}:`) ? [id.split(":")[2] ?? "?"] : [];
  });

describe("alert state on BigQuery", () => {
  let dir: string;
  let duckdbPath: string;
  let rulesFile: string;
  let rules: Rule[];
  let google: GoogleStandIns;
  let client: BigQuery;
  let stderr = "";
  let stdout = "";
  const saved = { ...process.env };
  const cli = (...args: string[]) => main(["node", "actions-warehouse", ...args]);
  const bq = ["--warehouse", "bigquery", "--project", PROJECT, "--location", LOCATION];
  const bqRunner = () => bigQueryRunner(client, { projectId: PROJECT, location: LOCATION });
  /** Reads the DuckDB file's alert state (the CLI released its lock). */
  const duckState = async <T>(work: (runner: SqlRunner) => Promise<T>): Promise<T> => {
    const warehouse = await openDuckDb(duckdbPath);
    try {
      return await work(duckDbRunner(warehouse.connection));
    } finally {
      warehouse.close();
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-alerts-bq-"));
    duckdbPath = (await buildReportWarehouse(dir)).duckdbPath;
    rulesFile = join(dir, "alerts.yml");
    writeFileSync(rulesFile, `${readFileSync("alerts.yml", "utf8").trimEnd()}\n${EXTRA_RULE}`);
    rules = loadRules(rulesFile);

    google = await startGoogleStandIns({ projectId: PROJECT, jobLatencyMs: 5 });
    client = new BigQuery({ projectId: PROJECT, location: LOCATION });
    process.env.LOG_LEVEL = "info";
    for (const name of ["SLACK_WEBHOOK_URL", "ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_SECRET", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"]) delete process.env[name];
    vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    });
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      stdout += `${args.map(String).join(" ")}\n`;
    });
    expect(await cli("bootstrap", "--project", PROJECT, "--location", LOCATION), stderr).toBe(0);
    const bqStaging = join(dir, "bigquery-staging");
    cpSync(join(duckdbPath, "..", "staging"), bqStaging, { recursive: true });
    for (const f of readdirSync(join(bqStaging, "manifests"))) {
      const path = join(bqStaging, "manifests", f);
      writeFileSync(path, JSON.stringify({ ...(JSON.parse(readFileSync(path, "utf8")) as object), target: `bigquery:${PROJECT}` }));
    }
    expect(await cli("load", "--warehouse", "bigquery", "--staging-dir", bqStaging, "--project", PROJECT, "--bucket", BUCKET), stderr).toBe(0);
    expect(await cli("transform", "--warehouse", "bigquery", "--project", PROJECT, "--var", `kpi_reference_time=${REPORT_ANCHOR}`), stderr).toBe(0);
  }, 600_000);

  afterAll(async () => {
    vi.restoreAllMocks();
    process.env = saved;
    await google?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("alerts evaluate gives the same findings, episodes and Slack messages on BigQuery as on DuckDB, in a few DML statements", async () => {
    const slackDuck = await startSlackStandIn();
    const slackBq = await startSlackStandIn();
    try {
      process.env.SLACK_WEBHOOK_URL = slackDuck.hookUrl;
      expect(await cli("alerts", "evaluate", "--rules", rulesFile, "--duckdb-path", duckdbPath, "--now", REPORT_ANCHOR), stderr).toBe(0);
      process.env.SLACK_WEBHOOK_URL = slackBq.hookUrl;
      stderr = "";
      const before = google.bigquery.queries.length;
      expect(await cli("alerts", "evaluate", ...bq, "--rules", rulesFile, "--now", REPORT_ANCHOR), stderr).toBe(0);
      delete process.env.SLACK_WEBHOOK_URL;

      // Findings: the same rows from both engines' models.
      const onDuck = await withDuckDbSource(duckdbPath, (source) => evaluateRules(rules, source, NOW));
      const onBq = await evaluateRules(rules, bigQueryReportSource({ projectId: PROJECT, location: LOCATION, client }), NOW);
      expect(onBq).toEqual(onDuck);
      expect(onDuck.filter((f) => f.rule === "any-failure").length).toBeGreaterThan(0);

      // Episodes and outbox: the same state machine wrote the same rows.
      const duckEpisodes = await duckState((r) => readEpisodes(r, "all"));
      const bqEpisodes = await readEpisodes(bqRunner(), "all");
      expect(bqEpisodes).toEqual(duckEpisodes);
      expect(bqEpisodes.filter((e) => e.state === "firing").length).toBe(new Set(onDuck.map((f) => f.fingerprint)).size);
      expect(await unsentNotifications(bqRunner())).toEqual([]);

      // Slack: the same messages, in the same order.
      expect(slackBq.accepted.length).toBeGreaterThan(0);
      expect(slackBq.accepted.map((p) => p.body)).toEqual(slackDuck.accepted.map((p) => p.body));

      // The rules' bytes were dry-run and logged; the state went in one transaction of a few statements.
      const line = stderr.split("\n").find((l) => l.includes("bytes_by_rule"));
      const logged = JSON.parse(line ?? "{}") as { total_bytes?: number; bytes_by_rule?: Record<string, number> };
      expect(Object.keys(logged.bytes_by_rule ?? {}).sort()).toEqual(rules.filter((r) => r.enabled).map((r) => r.name).sort());
      expect(logged.total_bytes).toBeGreaterThan(0);
      const ran = google.bigquery.queries.slice(before).filter((q) => !q.dryRun).map((q) => q.sql.trim());
      const dml = ran.filter((sql) => /^(INSERT|UPDATE|DELETE|MERGE)\b/i.test(sql) && /alert_(events|outbox)/.test(sql));
      const begin = ran.indexOf("BEGIN TRANSACTION");
      const commit = ran.indexOf("COMMIT TRANSACTION");
      expect(begin).toBeGreaterThan(-1);
      expect(commit).toBeGreaterThan(begin);
      // Inside the transaction: one INSERT of episodes and one of the outbox (nothing to update yet).
      expect(ran.slice(begin, commit).filter((sql) => /^(INSERT|DELETE)/.test(sql))).toHaveLength(2);
      // After it: one UPDATE per notification delivered (sent_at), right after Slack's 200.
      expect(dml.filter((sql) => sql.startsWith("UPDATE"))).toHaveLength(slackBq.accepted.length);
      expect(ran).toContain("CALL BQ.ABORT_SESSION()");
      // The alert tables (created by bootstrap) are ensured once per process, not at every step.
      expect(ran.filter((sql) => /^CREATE TABLE IF NOT EXISTS/.test(sql))).toHaveLength(3);
      expect(google.bigquery.sessions.size).toBe(0);
    } finally {
      await slackDuck.close();
      await slackBq.close();
    }
  }, 300_000);

  it("alerts list, ack and mute read and write the state on BigQuery", async () => {
    stdout = "";
    expect(await cli("alerts", "list", ...bq, "--state", "firing"), stderr).toBe(0);
    const firing = await readEpisodes(bqRunner(), "firing");
    expect(firing.length).toBeGreaterThan(0);
    for (const e of firing) expect(stdout).toContain(e.fingerprint);

    const target = firing[0] as Episode;
    expect(await cli("alerts", "ack", target.fingerprint, ...bq, "--by", "alice", "--until", "2h", "--now", REPORT_ANCHOR), stderr).toBe(0);
    const acked = (await readEpisodes(bqRunner(), "open")).find((e) => e.fingerprint === target.fingerprint);
    expect(acked?.acknowledgedBy).toBe("alice");
    expect(acked?.acknowledgedUntil).toBe(new Date(NOW.getTime() + 2 * 3600_000).toISOString());

    expect(await cli("alerts", "mute", "any-failure", "--for", "2h", "--by", "bob", "--rules", rulesFile, ...bq, "--now", REPORT_ANCHOR), stderr).toBe(0);
    const mutes = await activeMutes(bqRunner(), NOW);
    expect(mutes.get("any-failure")).toBe(new Date(NOW.getTime() + 2 * 3600_000).toISOString());
  }, 120_000);

  it("repeats after repeat_interval and resolves once on BigQuery, exactly as on DuckDB", async () => {
    const r = syntheticRule("bq-repeat");
    const f = finding(r, "acme/repeat");
    const slack = await startSlackStandIn();
    const memory = await openDuckDb(":memory:");
    try {
      const duck = duckDbRunner(memory.connection);
      await ensureAlertTables(duck);
      const channels = () => channelsFromEnv({ SLACK_WEBHOOK_URL: slack.hookUrl });
      const steps: [number, Finding[]][] = [[0, [f]], [30, [f]], [61, [f]], [120, []], [180, [f]]];
      const kinds: string[][] = [];
      for (const [minutes, findings] of steps) {
        const sent = slack.accepted.length;
        await runAlertCycle({ runner: bqRunner(), rules: [r], findings, now: at(minutes), channels: channels(), log: silentLogger });
        kinds.push(kindsFor(slack, f.fingerprint, sent));
        await runAlertCycle({ runner: duck, rules: [r], findings, now: at(minutes), channels: new Map(), log: silentLogger });
      }
      // firing at once, nothing 30 min later, a repeat after the 1 h interval, a resolve, then a new episode.
      expect(kinds).toEqual([["firing"], [], ["repeat"], ["resolved"], ["firing"]]);
      const onBq = ofRule(await readEpisodes(bqRunner(), "all"), r.name);
      expect(onBq.map((e) => [e.episode, e.state, e.notifications])).toEqual([[2, "firing", 1], [1, "resolved", 3]]);
      expect(onBq).toEqual(ofRule(await readEpisodes(duck, "all"), r.name));
    } finally {
      memory.close();
      await slack.close();
    }
  }, 120_000);

  it("a failure in the middle of writing an evaluation leaves nothing of it on BigQuery (the transaction rolls back)", async () => {
    const r = syntheticRule("bq-rollback");
    const f = finding(r, "acme/rollback");
    const g = finding(r, "acme/rollback-new");
    const slack = await startSlackStandIn();
    try {
      const channels = () => channelsFromEnv({ SLACK_WEBHOOK_URL: slack.hookUrl });
      await runAlertCycle({ runner: bqRunner(), rules: [r], findings: [f], now: at(0), channels: channels(), log: silentLogger });
      const before = ofRule(await readEpisodes(bqRunner(), "all"), r.name);
      expect(before.map((e) => [e.state, e.notifications])).toEqual([["firing", 1]]);

      // At +61 min the plan updates f (a repeat: DELETE + INSERT of its row), opens g, and queues two
      // messages; the outbox INSERT fails on BigQuery after the episodes were written in the transaction.
      const base = bqRunner();
      const statements: string[] = [];
      const failing: SqlRunner = {
        engine: base.engine,
        table: base.table,
        all: base.all,
        transaction: base.transaction,
        run: async (sql, params) => {
          if (/^(INSERT|UPDATE|DELETE)/.test(sql)) statements.push(sql.split(/\s+/)[0] ?? "");
          return base.run(/alert_outbox/.test(sql) && sql.startsWith("INSERT") ? sql.replace("payload", "no_such_column") : sql, params);
        },
      };
      await expect(runAlertCycle({ runner: failing, rules: [r], findings: [f, g], now: at(61), channels: channels(), log: silentLogger })).rejects.toThrow(
        /alert state on BigQuery \(acme-alerts\.github_raw in US\): INSERT INTO .* failed/,
      );
      expect(statements).toEqual(["DELETE", "INSERT", "INSERT"]);
      // Nothing of it: f as it was (the DELETE undone), no g, no queued message, nothing sent.
      expect(ofRule(await readEpisodes(bqRunner(), "all"), r.name)).toEqual(before);
      expect((await unsentNotifications(bqRunner())).filter((o) => o.payload.rule === r.name)).toEqual([]);
      expect(kindsFor(slack, f.fingerprint)).toEqual(["firing"]);
      expect(kindsFor(slack, g.fingerprint)).toEqual([]);
      expect(google.bigquery.sessions.size).toBe(0);

      // The next evaluation does the work.
      await runAlertCycle({ runner: bqRunner(), rules: [r], findings: [f, g], now: at(62), channels: channels(), log: silentLogger });
      expect(ofRule(await readEpisodes(bqRunner(), "all"), r.name).map((e) => [e.scope.repository, e.state, e.notifications]).sort()).toEqual([
        ["acme/rollback", "firing", 2],
        ["acme/rollback-new", "firing", 1],
      ]);
      expect(kindsFor(slack, f.fingerprint)).toEqual(["firing", "repeat"]);
      expect(kindsFor(slack, g.fingerprint)).toEqual(["firing"]);
    } finally {
      await slack.close();
    }
  }, 120_000);

  it("two evaluations opening the same alert at once (inserts only: no conflict) announce it once, and the next evaluation leaves one episode", async () => {
    const r = syntheticRule("bq-race");
    const f = finding(r, "acme/race");
    const slack = await startSlackStandIn();
    try {
      const channels = () => channelsFromEnv({ SLACK_WEBHOOK_URL: slack.hookUrl });
      // Close every open episode of the earlier tests first: then the two evaluations below only insert.
      await runAlertCycle({ runner: bqRunner(), rules: [r], findings: [], now: at(-1), channels: channels(), log: silentLogger });
      expect(await readEpisodes(bqRunner(), "open")).toEqual([]);
      // Both read no open episode and insert episode 1 with its firing message, in concurrent transactions.
      await Promise.all([bqRunner(), bqRunner()].map((runner) => recordEvaluation(runner, { now: at(0), rules: [r], findings: [f], channels: new Set(["slack"]) })));
      expect(ofRule(await readEpisodes(bqRunner(), "all"), r.name)).toHaveLength(2);
      expect((await unsentNotifications(bqRunner())).filter((o) => o.fingerprint === f.fingerprint)).toHaveLength(2);

      await runAlertCycle({ runner: bqRunner(), rules: [r], findings: [f], now: at(1), channels: channels(), log: silentLogger });
      expect(kindsFor(slack, f.fingerprint)).toEqual(["firing"]);
      expect(await unsentNotifications(bqRunner())).toEqual([]);
      // The update of the episode (DELETE by fingerprint and episode, then one INSERT) merged the twins.
      expect(ofRule(await readEpisodes(bqRunner(), "all"), r.name).map((e) => [e.episode, e.state, e.notifications])).toEqual([[1, "firing", 1]]);
    } finally {
      await slack.close();
    }
  }, 120_000);

  it("every state query the BigQuery runner sends is GoogleSQL: the ZetaSQL analyzer accepts it against the alert tables' BigQuery types", async () => {
    const base = bqRunner();
    const sent: { sql: string; params: SqlParams }[] = [];
    const recording: SqlRunner = { ...base, all: (sql, params = {}) => (sent.push({ sql, params }), base.all(sql, params)) };
    const r = syntheticRule("bq-zetasql");
    await recordEvaluation(recording, { now: at(500), rules: [r], findings: [finding(r, "acme/zeta")], channels: new Set(["slack"]) });
    for (const filter of ["all", "open", "firing"] as const) await readEpisodes(recording, filter);
    await activeMutes(recording, at(500));
    await unsentNotifications(recording);
    await outboxCounts(recording);
    expect(sent.length).toBeGreaterThanOrEqual(8);
    const catalog = new Catalog();
    for (const t of ALERT_TABLES) catalog.set(`${PROJECT}.github_raw.${t}`, alertColumns(t));
    // The analyzer has no parameters: bind them as literals of the types the runner sends (STRING, INT64, FLOAT64).
    const literal = (v: SqlParams[string]) => (v === null ? "CAST(NULL AS STRING)" : typeof v === "number" ? String(v) : `'${v.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`);
    await withZetaSql(async (engine) => {
      for (const { sql, params } of sent) {
        const bound = sql.replace(/@(\w+)/g, (_m, name: string) => literal(params[name] ?? null));
        await expect(engine.analyze(bound, catalog.proto()), bound).resolves.toBeDefined();
      }
      // And it does reject what BigQuery would: a misspelt column.
      await expect(engine.analyze(`SELECT fingerprnt FROM \`${PROJECT}.github_raw.alert_events\``, catalog.proto())).rejects.toThrow(/fingerprnt/);
    });
  }, 120_000);

  it("a second evaluation writing at the same time is aborted by BigQuery, writes nothing, and says so", async () => {
    const first = bqRunner();
    const second = bqRunner();
    const table = first.table("alert_events");
    await first.transaction(async () => {
      await first.run(`DELETE FROM ${table} WHERE fingerprint = @fingerprint`, { fingerprint: "no-such-alert-1" });
      await expect(second.transaction(() => second.run(`DELETE FROM ${table} WHERE fingerprint = @fingerprint`, { fingerprint: "no-such-alert-2" }))).rejects.toThrow(
        /Transaction is aborted due to concurrent update.*another evaluation wrote the alert state at the same time; this one wrote nothing/,
      );
    });
    expect(google.bigquery.sessions.size).toBe(0);
  }, 60_000);
});
