/**
 * The alerts command line, end to end: the exact command lines of issue 13 spawned through `npx` (as a
 * user types them, in a folder holding alerts.yml) against a warehouse built by the real pipeline and
 * the Slack stand-in; list, ack and mute in-process through the real `main()`.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acquireWarehouseLock } from "../load/warehouse-lock.js";
import { cliSession } from "./cli-session.js";
import { buildReportWarehouse } from "./report-fixture.js";
import { startSlackStandIn, type SlackStandIn } from "./stand-ins/slack.js";

const root = fileURLToPath(new URL("..", import.meta.url));

const RULES = `rules:
  - name: cli-failure-rate
    kind: failure_rate
    severity: critical
    channels: [slack]
    threshold: 0.01
    window: 400d
    min_runs: 1
`;

/** The environment of a user's shell, without any alert channel or CI variable of the machine running the tests. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const name of ["SLACK_WEBHOOK_URL", "ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_SECRET", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"]) if (!(name in extra)) delete env[name];
  // `npx` must find this package's own bin, never ask a registry.
  env.npm_config_offline = "true";
  env.LOG_LEVEL = "info";
  return env;
}

function npx(cwd: string, env: Record<string, string>, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("npx", ["actions-warehouse", ...args], { cwd, env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const firingRows = (stdout: string) => stdout.split("\n").filter((l) => /new → firing/.test(l)).length;

describe("alerts CLI", () => {
  let dir: string;
  let file: string;
  let slack: SlackStandIn;

  beforeAll(async () => {
    // Inside the project (.warehouse is git-ignored) so `npx actions-warehouse` resolves this package.
    mkdirSync(join(root, ".warehouse"), { recursive: true });
    dir = mkdtempSync(join(root, ".warehouse", "alerts-cli-"));
    file = (await buildReportWarehouse(dir)).duckdbPath;
    writeFileSync(join(dir, "alerts.yml"), RULES);
    slack = await startSlackStandIn();
  });
  afterAll(async () => {
    await slack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("SLACK_WEBHOOK_URL=http://127.0.0.1:PORT/hook npx actions-warehouse alerts evaluate --rules alerts.yml --duckdb-path FILE", async () => {
    const first = await npx(dir, { SLACK_WEBHOOK_URL: `http://127.0.0.1:${slack.port}/hook` }, "alerts", "evaluate", "--rules", "alerts.yml", "--duckdb-path", file);
    expect(first.stderr).not.toContain(`127.0.0.1:${slack.port}/hook`);
    expect(first.code, first.stderr).toBe(0);
    const fired = firingRows(first.stdout);
    expect(fired).toBeGreaterThan(0);
    expect(slack.accepted).toHaveLength(fired);
    expect(slack.accepted[0]!.body.blocks?.[0]?.text?.text).toMatch(/FIRING: cli-failure-rate/);
    expect(first.stdout).toMatch(new RegExp(`notifications: ${fired} queued, ${fired} sent \\(0 retried\\), 0 failed, 0 waiting`));

    // An hour later, Slack failing: nothing new is due (repeat_interval 4h), so nothing is lost either.
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const quiet = await npx(dir, { SLACK_WEBHOOK_URL: slack.hookUrl }, "alerts", "evaluate", "--rules", "alerts.yml", "--duckdb-path", file, "--now", later);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toContain("no alert changed state");
    expect(slack.accepted).toHaveLength(fired);

    // Five hours later with Slack down: repeats queued, not delivered, exit 0 with a warning.
    await slack.down("5xx");
    const down = await npx(dir, { SLACK_WEBHOOK_URL: slack.hookUrl }, "alerts", "evaluate", "--rules", "alerts.yml", "--duckdb-path", file, "--now", new Date(Date.now() + 5 * 3_600_000).toISOString());
    expect(down.code, down.stderr).toBe(0);
    expect(down.stderr).toMatch(/"level":"warn".*kept in the outbox/);
    expect(down.stderr).not.toMatch(/"level":"error"/);
    expect(down.stdout).toMatch(new RegExp(`notifications: ${fired} queued, 0 sent \\(0 retried\\), 1 failed, ${fired - 1} waiting in the outbox`));
    await slack.up();
    const recovered = await npx(dir, { SLACK_WEBHOOK_URL: slack.hookUrl }, "alerts", "evaluate", "--rules", "alerts.yml", "--duckdb-path", file, "--now", new Date(Date.now() + 6 * 3_600_000).toISOString());
    expect(recovered.code, recovered.stderr).toBe(0);
    expect(recovered.stdout).toMatch(new RegExp(`0 queued, ${fired} sent \\(${fired} retried\\), 0 failed, 0 waiting`));
    expect(slack.accepted.slice(fired).every((p) => /STILL FIRING/.test(p.body.blocks?.[0]?.text?.text ?? ""))).toBe(true);
    expect(slack.accepted).toHaveLength(2 * fired);
  });

  it("npx actions-warehouse alerts test --channel slack: says which variable to set (exit 3), then delivers", async () => {
    const missing = await npx(dir, {}, "alerts", "test", "--channel", "slack");
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/SLACK_WEBHOOK_URL: is not set: set it to your Slack incoming webhook URL/);
    const before = slack.accepted.length;
    const sent = await npx(dir, { SLACK_WEBHOOK_URL: slack.hookUrl }, "alerts", "test", "--channel", "slack");
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toContain("test message delivered to slack");
    expect(slack.accepted).toHaveLength(before + 1);
    expect(slack.accepted.at(-1)!.body.blocks?.[0]?.text?.text).toMatch(/TEST/);
  });

  it("list, ack and mute; a held warehouse lock stops evaluate naming the holder", async () => {
    const session = cliSession({ LOG_LEVEL: "info" });
    // No real channel of the machine running the tests (restored by close()).
    for (const name of ["SLACK_WEBHOOK_URL", "ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_SECRET", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"]) delete process.env[name];
    try {
      // Self-contained: an evaluation without channels records the alerts (and sends nothing).
      expect(await session.run("alerts", "evaluate", "--rules", join(dir, "alerts.yml"), "--duckdb-path", file)).toBe(0);
      expect(session.stderr).toMatch(/no notification channel is configured/);
      session.clear();
      expect(await session.run("alerts", "list", "--duckdb-path", file)).toBe(0);
      const fingerprint = /^([0-9a-f]{16})\s/m.exec(session.stdout)?.[1];
      expect(fingerprint, session.stdout).toBeDefined();
      expect(session.stdout).toMatch(/cli-failure-rate\s+critical\s+firing/);
      session.clear();
      expect(await session.run("alerts", "ack", fingerprint!, "--until", "2h", "--by", "alice", "--duckdb-path", file)).toBe(0);
      expect(session.stdout).toMatch(/acknowledged cli-failure-rate .* by alice/);
      session.clear();
      expect(await session.run("alerts", "list", "--state", "firing", "--duckdb-path", file)).toBe(0);
      expect(session.stdout).toMatch(/alice until/);
      expect(await session.run("alerts", "ack", "ffffffffffffffff", "--duckdb-path", file)).toBe(3);
      expect(session.stderr).toMatch(/FINGERPRINT: no open \(pending or firing\) alert has fingerprint \\?"f{16}/);
      expect(await session.run("alerts", "mute", "no-such-rule", "--for", "2h", "--rules", join(dir, "alerts.yml"), "--duckdb-path", file)).toBe(3);
      expect(session.stderr).toMatch(/RULE: \\?"no-such-rule\\?" is not a rule of/);
      session.clear();
      expect(await session.run("alerts", "mute", "cli-failure-rate", "--for", "2h", "--by", "bob", "--rules", join(dir, "alerts.yml"), "--duckdb-path", file)).toBe(0);
      expect(session.stdout).toMatch(/muted cli-failure-rate until .* by bob/);
      expect(await session.run("alerts", "mute", "cli-failure-rate", "--for", "soon", "--rules", join(dir, "alerts.yml"), "--duckdb-path", file)).toBe(3);
      expect(await session.run("alerts", "evaluate", "--rules", join(dir, "alerts.yml"), "--duckdb-path", file, "--now", "yesterday")).toBe(3);
      expect(session.stderr).toMatch(/--now: must be an ISO-8601 instant/);

      session.clear();
      expect(await session.run("alerts", "test", "--channel", "webhook")).toBe(3);
      expect(session.stderr).toMatch(/ALERT_WEBHOOK_URL: is not set: set ALERT_WEBHOOK_URL to the receiver's URL and ALERT_WEBHOOK_SECRET/);

      const lock = acquireWarehouseLock(file, "pipeline");
      try {
        session.clear();
        expect(await session.run("alerts", "evaluate", "--rules", join(dir, "alerts.yml"), "--duckdb-path", file)).toBe(1);
        expect(session.stderr).toMatch(/is in use by pipeline \(PID \d+/);
      } finally {
        lock.release();
      }
    } finally {
      session.close();
    }
  });
});

