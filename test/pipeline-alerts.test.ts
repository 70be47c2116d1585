/**
 * `pipeline` evaluates the alert rules as its last step (issue 13, item 2), through the real `main()`
 * in-process (test/cli-session.ts), against the simulator and the Slack stand-in:
 * - a bad alerts.yml stops the run before any API call, naming the rule and the field (exit 3);
 * - `--no-alerts` evaluates nothing and sends nothing;
 * - Slack down: the run still succeeds (exit 0) with a warning, the notifications wait in the outbox;
 * - Slack back: the next run delivers each firing alert exactly once (the shipped stuck-runs rule fires
 *   for the dataset's landmark run stuck in progress); a further run sends nothing.
 * The dataset is anchored an hour ago, so the landmark run is stuck now (the pipeline evaluates at the clock).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { BigQuery } from "@google-cloud/bigquery";
import { bigQueryRunner } from "../alerts/state-bigquery.js";
import { duckDbRunner, readEpisodes } from "../alerts/state.js";
import { openDuckDb } from "../load/duckdb-connection.js";
import { lockFileOf } from "../load/warehouse-lock.js";
import { generateDataset, landmarks, startSimulator, type Dataset, type Simulator } from "../simulator/index.js";
import { cliSession, type CliSession } from "./cli-session.js";
import { startGoogleStandIns } from "./stand-ins/google-env.js";
import { startSlackStandIn, type SlackStandIn } from "./stand-ins/slack.js";

/** The shipped stuck-runs rule (alerts.yml), channels Slack only. */
const RULES = `rules:
  - name: stuck-runs
    kind: stuck
    threshold: 2h
    repeat_interval: 12h
    channels: [slack]
`;

const CHANNEL_VARIABLES = ["SLACK_WEBHOOK_URL", "ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_SECRET", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"];

let dir: string;
let dataset: Dataset;
let simulator: Simulator;
let slack: SlackStandIn;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "aw-pipeline-alerts-"));
  dataset = generateDataset({ seed: "pipeline-alerts", anchor: new Date(Date.now() - 3600_000).toISOString().replace(/\.\d{3}Z$/, "Z"), days: 2, runsPerRepoPerDay: 2, busyDayRuns: 0, bigRunJobs: 3, bigPackageVersions: 3 });
  simulator = await startSimulator({ dataset });
  slack = await startSlackStandIn();
  writeFileSync(join(dir, "alerts.yml"), RULES);
});
afterAll(async () => {
  await simulator?.close();
  await slack?.close();
  rmSync(dir, { recursive: true, force: true });
});

function session(): CliSession {
  const s = cliSession({ GITHUB_API_URL: simulator.url, LOG_LEVEL: "info" });
  // No alert channel of the machine running the tests (restored by close()).
  for (const name of CHANNEL_VARIABLES) delete process.env[name];
  process.env.SLACK_WEBHOOK_URL = slack.hookUrl;
  return s;
}

const duckdb = () => join(dir, "warehouse.duckdb");
const pipeline = (s: CliSession, ...extra: string[]) =>
  s.run("pipeline", "--org", dataset.org.login, "--since", new Date(Date.now() - 3 * 86_400_000).toISOString().slice(0, 10), "--no-packages", "--duckdb-path", duckdb(), "--staging-dir", join(dir, "staging"), ...extra);

async function firingEpisodes(): Promise<{ fingerprint: string; rule: string; scope: Record<string, string> }[]> {
  const w = await openDuckDb(duckdb());
  try {
    return (await readEpisodes(duckDbRunner(w.connection), "firing")).map((e) => ({ fingerprint: e.fingerprint, rule: e.rule, scope: e.scope }));
  } finally {
    w.close();
  }
}

/** Alert episodes recorded so far (the alert tables may exist empty: the raw tables' bootstrap can create them). */
async function episodeCount(): Promise<number> {
  const w = await openDuckDb(duckdb());
  try {
    const tables = await w.connection.runAndReadAll(`SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'alert_events'`);
    if (Number(tables.getRowObjectsJS()[0]?.n) === 0) return 0;
    return (await readEpisodes(duckDbRunner(w.connection), "all")).length;
  } finally {
    w.close();
  }
}

describe("pipeline evaluates alerts.yml last", () => {
  it("a bad alerts.yml stops the run before any API call, naming the rule and the field", async () => {
    const bad = join(dir, "bad-alerts.yml");
    writeFileSync(bad, "rules:\n  - { name: stuck-runs, kind: stuck }\n");
    const s = session();
    try {
      simulator.resetStats();
      expect(await pipeline(s, "--rules", bad)).toBe(3);
      expect(s.stderr).toMatch(/bad-alerts\.yml: rule \\?"stuck-runs\\?", threshold: is required for kind stuck/);
      expect(simulator.stats().requests).toBe(0);
      expect(existsSync(duckdb())).toBe(false);
      expect(existsSync(lockFileOf(duckdb()))).toBe(false);
      s.clear();
      expect(await pipeline(s, "--rules", join(dir, "no-such-alerts.yml"))).toBe(3);
      expect(s.stderr).toMatch(/--rules: .*no-such-alerts\.yml does not exist/);
    } finally {
      s.close();
    }
  });

  it("--no-alerts evaluates nothing and sends nothing", async () => {
    const s = session();
    try {
      expect(await pipeline(s, "--rules", join(dir, "alerts.yml"), "--no-alerts"), s.stderr.slice(-2000)).toBe(0);
      expect(s.stdout).not.toContain("alerts (");
      expect(slack.requests).toBe(0);
      expect(await episodeCount()).toBe(0);
    } finally {
      s.close();
    }
  });

  it("Slack down: the pipeline succeeds with a warning and the notifications wait in the outbox; back up: each firing alert is delivered once, then nothing more", async () => {
    const stuckId = String(landmarks(dataset).stuckQueuedRunId);
    await slack.down("5xx");
    const down = session();
    try {
      expect(await pipeline(down, "--rules", join(dir, "alerts.yml")), down.stderr.slice(-2000)).toBe(0);
      expect(down.stderr).toMatch(/"level":"warn".*kept in the outbox/);
      expect(down.stderr).not.toMatch(/"level":"error"/);
      expect(down.stdout).toMatch(/alerts \(.*alerts\.yml\)/);
      expect(down.stdout).toMatch(/0 sent \(0 retried\), 1 failed/);
    } finally {
      down.close();
    }
    expect(slack.accepted).toHaveLength(0);
    const firing = await firingEpisodes();
    expect(firing.some((e) => e.rule === "stuck-runs" && e.scope.run_id === stuckId), JSON.stringify(firing)).toBe(true);

    await slack.up();
    const up = session();
    try {
      expect(await pipeline(up, "--rules", join(dir, "alerts.yml")), up.stderr.slice(-2000)).toBe(0);
      expect(up.stdout).toMatch(new RegExp(`${firing.length} sent \\(${firing.length} retried\\), 0 failed, 0 waiting`));
      // The webhook URL is a secret: never in the log or the summary.
      expect(up.stderr + up.stdout).not.toContain(slack.hookUrl);
    } finally {
      up.close();
    }
    // Exactly one message per firing alert: its fingerprint once, and the landmark run among them.
    expect(slack.accepted).toHaveLength(firing.length);
    for (const e of firing) expect(slack.accepted.filter((p) => p.raw.includes(e.fingerprint)), e.fingerprint).toHaveLength(1);
    expect(slack.accepted.some((p) => p.raw.includes(`/actions/runs/${stuckId}`))).toBe(true);

    const again = session();
    try {
      expect(await pipeline(again, "--rules", join(dir, "alerts.yml")), again.stderr.slice(-2000)).toBe(0);
      expect(again.stdout).toContain("no alert changed state");
    } finally {
      again.close();
    }
    expect(slack.accepted).toHaveLength(firing.length);
    expect(existsSync(lockFileOf(duckdb()))).toBe(false);
  }, 300_000);
});

describe("pipeline --warehouse bigquery evaluates alerts.yml last, with the state in BigQuery (stand-ins)", () => {
  const PROJECT = "acme-alerts";
  it("each firing alert is delivered once after the transform; a second run sends nothing; shards (--no-transform) evaluate nothing", async () => {
    const google = await startGoogleStandIns({ projectId: PROJECT, jobLatencyMs: 5 });
    const bqSlack = await startSlackStandIn();
    const s = cliSession({ GITHUB_API_URL: simulator.url, LOG_LEVEL: "info" });
    for (const name of CHANNEL_VARIABLES) delete process.env[name];
    process.env.SLACK_WEBHOOK_URL = bqSlack.hookUrl;
    const run = (...extra: string[]) =>
      s.run("pipeline", "--warehouse", "bigquery", "--org", dataset.org.login, "--since", new Date(Date.now() - 3 * 86_400_000).toISOString().slice(0, 10), "--no-packages", "--staging-dir", join(dir, "bq-staging"), "--project", PROJECT, "--location", "US", "--bucket", "acme-staging", "--prefix", "aw", "--rules", join(dir, "alerts.yml"), ...extra);
    try {
      expect(await s.run("bootstrap", "--project", PROJECT, "--location", "US"), s.stderr.slice(-2000)).toBe(0);
      expect(await run("--no-transform"), s.stderr.slice(-2000)).toBe(0);
      expect(bqSlack.requests).toBe(0);
      expect(s.stdout).not.toContain("alerts (");

      // --full-refresh: the BigQuery stand-in cannot run fct_workflow_jobs' incremental MERGE (UNNEST in it).
      expect(await run("--full-refresh"), s.stderr.slice(-3000)).toBe(0);
      const client = new BigQuery({ projectId: PROJECT, location: "US" });
      const firing = await readEpisodes(bigQueryRunner(client, { projectId: PROJECT, location: "US" }), "firing");
      const stuckId = String(landmarks(dataset).stuckQueuedRunId);
      expect(firing.some((e) => e.rule === "stuck-runs" && e.scope.run_id === stuckId), JSON.stringify(firing.map((e) => e.scope))).toBe(true);
      expect(bqSlack.accepted).toHaveLength(firing.length);
      for (const e of firing) expect(bqSlack.accepted.filter((p) => p.raw.includes(e.fingerprint)), e.fingerprint).toHaveLength(1);
      expect(s.stdout).toMatch(new RegExp(`${firing.length} sent \\(0 retried\\), 0 failed, 0 waiting`));

      s.clear();
      expect(await run("--full-refresh"), s.stderr.slice(-3000)).toBe(0);
      expect(s.stdout).toContain("no alert changed state");
      expect(bqSlack.accepted).toHaveLength(firing.length);
    } finally {
      s.close();
      await bqSlack.close();
      await google.close();
    }
  }, 600_000);
});

describe("the scheduled ELT (.github/workflows/elt.yml)", () => {
  it("evaluates alerts.yml on BigQuery as the transform job's last step, with the channel secrets as environment", () => {
    const elt = parseYaml(readFileSync(new URL("../.github/workflows/elt.yml", import.meta.url), "utf8")) as { jobs: Record<string, { steps: { name?: string; if?: string; run?: string; env?: Record<string, string> }[] }> };
    const steps = elt.jobs.transform?.steps ?? [];
    const transform = steps.findIndex((step) => step.run?.includes(" transform --warehouse bigquery"));
    const last = steps.at(-1);
    expect(transform).toBeGreaterThanOrEqual(0);
    expect(steps.length - 1).toBeGreaterThan(transform);
    expect(last?.run).toMatch(/^node bin\/actions-warehouse\.js alerts evaluate --rules alerts\.yml --warehouse bigquery --project "\$GOOGLE_CLOUD_PROJECT" --location "\$BIGQUERY_LOCATION"$/);
    expect(last?.env).toEqual({ SLACK_WEBHOOK_URL: "${{ secrets.SLACK_WEBHOOK_URL }}", ALERT_WEBHOOK_URL: "${{ secrets.ALERT_WEBHOOK_URL }}", ALERT_WEBHOOK_SECRET: "${{ secrets.ALERT_WEBHOOK_SECRET }}" });
    expect(last?.if).toContain("hashFiles('alerts.yml')");
  });
});
