/**
 * Alert state and delivery against the Slack stand-in, with a fake clock (`now` per evaluation) and an
 * injected sleep (Retry-After waits are recorded, not slept). Findings are constructed here: which rule
 * holds where is alerts/evaluate.ts's job and its own tests'.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verify } from "@octokit/webhooks-methods";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDuckDb, type Warehouse } from "../load/duckdb-connection.js";
import { createLogger, silentLogger, type Logger } from "../log/logger.js";
import { channelsFromEnv, runAlertCycle } from "../alerts/notify.js";
import { acknowledge, duckDbRunner, mute, readEpisodes, recordEvaluation, type SqlRunner } from "../alerts/state.js";
import { slackMessage, SLACK_LIMITS, charLength } from "../alerts/channels/slack.js";
import { fingerprintOf, type ChannelName, type Finding, type Offender, type Rule } from "../alerts/types.js";
import { slackRejection, startSlackStandIn, type SlackStandIn } from "./stand-ins/slack.js";

const T0 = Date.parse("2026-11-20T08:00:00Z");
const at = (hours: number) => new Date(T0 + hours * 3_600_000);

function rule(name: string, overrides: Partial<{ forSeconds: number; repeatIntervalSeconds: number; channels: ChannelName[]; severity: Rule["severity"] }> = {}): Rule {
  return {
    name,
    kind: "failure_rate",
    scope: { repositories: ["*"], workflows: ["*"], branches: ["*"] },
    severity: overrides.severity ?? "critical",
    channels: overrides.channels ?? ["slack"],
    forSeconds: overrides.forSeconds ?? 0,
    repeatIntervalSeconds: overrides.repeatIntervalSeconds ?? 4 * 3600,
    enabled: true,
    threshold: 0.2,
    windowSeconds: 86_400,
    minRuns: 5,
  };
}

function finding(r: Rule, repository: string, extra: Partial<Finding> = {}): Finding {
  const scope = { repository, workflow: "CI" };
  return {
    rule: r.name,
    kind: r.kind,
    severity: r.severity,
    scope,
    fingerprint: fingerprintOf(r.name, scope),
    value: 0.5,
    threshold: 0.2,
    unit: "ratio",
    summary: `failure rate 50% over 24 h in ${repository} (threshold 20%, 10 runs)`,
    offenders: [{ label: "run 101", value: 1, url: `https://github.com/${repository}/actions/runs/101` }],
    ...extra,
  };
}

/** The notification id a Slack message carries in its context block. */
function idOf(post: { body: { blocks?: { type: string; elements?: { text: string }[] }[] } }): string {
  const context = post.body.blocks?.find((b) => b.type === "context");
  const match = /notification `([^`]+)`/.exec(context?.elements?.[0]?.text ?? "");
  if (!match?.[1]) throw new Error("message without a notification id");
  return match[1];
}
const kindsOf = (slack: SlackStandIn) => slack.accepted.map((p) => idOf(p).split(":").slice(2).join(":"));

describe("alert notifications", () => {
  let slack: SlackStandIn;
  let warehouse: Warehouse;
  let runner: SqlRunner;
  let sleeps: number[];
  const logLines: string[] = [];
  let log: Logger;

  beforeEach(async () => {
    slack = await startSlackStandIn();
    warehouse = await openDuckDb(":memory:");
    runner = duckDbRunner(warehouse.connection);
    sleeps = [];
    logLines.length = 0;
    log = createLogger({ json: true, level: "debug", write: (line) => logLines.push(line) });
  });
  afterEach(async () => {
    warehouse.close();
    await slack.close();
  });

  const channels = (env: Record<string, string> = {}) =>
    channelsFromEnv({ SLACK_WEBHOOK_URL: slack.hookUrl, ...env }, { sleep: async (ms) => void sleeps.push(ms), maxRetryAfterSeconds: 30 });
  const evaluate = (rules: Rule[], findings: Finding[], now: Date, env: Record<string, string> = {}) => runAlertCycle({ runner, rules, findings, now, channels: channels(env), log });
  const unsent = async () => Number((await runner.all(`SELECT COUNT(*) AS n FROM ${runner.table("alert_outbox")} WHERE sent_at IS NULL`))[0]?.n);

  it("notifies once when an alert fires, again after repeat_interval, once when it resolves; a recurrence is a new episode", async () => {
    const r = rule("api-failures");
    const f = finding(r, "acme/api");
    await evaluate([r], [f], at(0));
    expect(kindsOf(slack)).toEqual(["firing:0"]);
    for (const h of [1, 2, 3, 3.99]) await evaluate([r], [f], at(h));
    expect(kindsOf(slack), "nothing before the repeat interval").toEqual(["firing:0"]);
    await evaluate([r], [f], at(4));
    expect(kindsOf(slack)).toEqual(["firing:0", "repeat:1"]);
    await evaluate([r], [], at(5));
    await evaluate([r], [], at(6));
    expect(kindsOf(slack)).toEqual(["firing:0", "repeat:1", "resolved:2"]);
    expect(slack.accepted[2]?.body.blocks?.[0]?.text?.text).toMatch(/RESOLVED: api-failures/);
    const [resolved] = await readEpisodes(runner, "all");
    expect(resolved).toMatchObject({ fingerprint: f.fingerprint, episode: 1, state: "resolved", notifications: 3, firedAt: at(0).toISOString(), resolvedAt: at(5).toISOString(), lastNotifiedAt: at(5).toISOString() });

    await evaluate([r], [f], at(7));
    expect(slack.accepted.map(idOf).at(-1)).toBe(`${f.fingerprint}:2:firing:0`);
    expect((await readEpisodes(runner, "all")).map((e) => [e.episode, e.state])).toEqual([[2, "firing"], [1, "resolved"]]);
    expect(await unsent()).toBe(0);
  });

  it("`for` delays firing until the condition has held that long; a pending alert that clears closes silently", async () => {
    const r = rule("slow-burn", { forSeconds: 30 * 60 });
    const held = finding(r, "acme/api");
    const blip = finding(r, "acme/web");
    await evaluate([r], [held, blip], at(0));
    await evaluate([r], [held], at(0.25));
    expect(slack.accepted).toHaveLength(0);
    const states = Object.fromEntries((await readEpisodes(runner, "all")).map((e) => [e.scope.repository, e.state]));
    expect(states).toEqual({ "acme/api": "pending", "acme/web": "resolved" });
    await evaluate([r], [held], at(0.5));
    expect(slack.accepted.map(idOf)).toEqual([`${held.fingerprint}:1:firing:0`]);
    const web = (await readEpisodes(runner, "all")).find((e) => e.scope.repository === "acme/web");
    expect(web).toMatchObject({ firedAt: null, notifications: 0 });
  });

  it("an acknowledgement suppresses repeats until it ends; the resolve message still goes", async () => {
    const r = rule("ack-me", { repeatIntervalSeconds: 3600 });
    const a = finding(r, "acme/api");
    const b = finding(r, "acme/web");
    await evaluate([r], [a, b], at(0));
    expect(slack.accepted).toHaveLength(2);
    expect(await acknowledge(runner, a.fingerprint, at(3), "oncall")).toMatchObject({ acknowledgedBy: "oncall" });
    expect(await acknowledge(runner, "0000000000000000", at(3), "oncall")).toBeUndefined();
    await evaluate([r], [a, b], at(1));
    await evaluate([r], [a, b], at(2));
    expect(slack.accepted.map(idOf).filter((id) => id.startsWith(a.fingerprint))).toEqual([`${a.fingerprint}:1:firing:0`]);
    expect(slack.accepted.map(idOf).filter((id) => id.startsWith(b.fingerprint)), "the other alert still repeats").toEqual([`${b.fingerprint}:1:firing:0`, `${b.fingerprint}:1:repeat:1`, `${b.fingerprint}:1:repeat:2`]);
    await evaluate([r], [a, b], at(3));
    expect(slack.accepted.map(idOf).filter((id) => id.startsWith(a.fingerprint)), "repeats again once the ack has ended").toEqual([`${a.fingerprint}:1:firing:0`, `${a.fingerprint}:1:repeat:1`]);
    await acknowledge(runner, a.fingerprint, at(10), "oncall");
    await evaluate([r], [b], at(3.5));
    expect(slack.accepted.map(idOf).at(-1)).toBe(`${a.fingerprint}:1:resolved:2`);
  });

  it("a muted rule sends nothing until the mute ends, while its state is still tracked", async () => {
    const r = rule("noisy", { repeatIntervalSeconds: 3600 });
    const other = rule("other", { repeatIntervalSeconds: 24 * 3600 });
    const a = finding(r, "acme/api");
    const b = finding(r, "acme/web");
    const c = finding(other, "acme/api");
    await mute(runner, r.name, at(6), "oncall", at(0));
    await evaluate([r, other], [a, b, c], at(0));
    await evaluate([r, other], [a, b, c], at(2));
    await evaluate([r, other], [b, c], at(5));
    expect(slack.accepted.map(idOf), "only the unmuted rule").toEqual([`${c.fingerprint}:1:firing:0`]);
    const states = Object.fromEntries((await readEpisodes(runner, "all")).filter((e) => e.rule === r.name).map((e) => [e.scope.repository, e.state]));
    expect(states).toEqual({ "acme/api": "resolved", "acme/web": "firing" });
    await evaluate([r, other], [b, c], at(6));
    expect(slack.accepted.map(idOf).at(-1), "an alert that fired during the mute announces itself when it ends").toBe(`${b.fingerprint}:1:firing:0`);
    expect(slack.accepted.map(idOf).filter((id) => id.startsWith(a.fingerprint)), "no resolve for an alert whose firing was never sent").toEqual([]);
  });

  it("honours 429 Retry-After: waits as told, then delivers once; a longer Retry-After leaves it in the outbox for the next evaluation", async () => {
    const r = rule("rate");
    slack.rateLimitNext(1, 7);
    await evaluate([r], [finding(r, "acme/api")], at(0));
    expect(sleeps).toEqual([7000]);
    expect(slack.rejected.map((x) => x.status)).toEqual([429]);
    expect(slack.accepted).toHaveLength(1);

    slack.rateLimitNext(1, 120);
    const result = await evaluate([r], [finding(r, "acme/api"), finding(r, "acme/web")], at(1));
    expect(sleeps, "120 s is beyond the 30 s this run waits").toEqual([7000]);
    expect(result.delivery).toMatchObject({ sent: 0, failed: 1 });
    expect(slack.accepted).toHaveLength(1);
    expect(await unsent()).toBe(1);
    expect(logLines.some((l) => /"level":"warn".*rate limited/.test(l))).toBe(true);
    expect(logLines.some((l) => /"level":"error"/.test(l)), "an undelivered notification is a warning, not an error").toBe(false);

    const next = await evaluate([r], [finding(r, "acme/api"), finding(r, "acme/web")], at(2));
    expect(next.delivery).toMatchObject({ sent: 1, retried: 1, failed: 0 });
    expect(slack.accepted).toHaveLength(2);
    expect(await unsent()).toBe(0);
  });

  it("with Slack down for three evaluations, every notification arrives after recovery, in order, none lost and none doubled", async () => {
    const r = rule("outage", { repeatIntervalSeconds: 3600 });
    const a = finding(r, "acme/api");
    const b = finding(r, "acme/web");
    await slack.down("refused");
    await evaluate([r], [a], at(0));
    await evaluate([r], [a, b], at(1));
    await slack.up();
    await slack.down("5xx");
    const third = await evaluate([r], [b], at(2));
    expect(third.delivery.failed, "one attempt, then the channel is left alone for this run").toBe(1);
    expect(slack.accepted).toHaveLength(0);
    expect(await unsent()).toBe(5);
    await slack.up();
    const recovered = await evaluate([r], [b], at(2.5));
    expect(recovered.delivery).toMatchObject({ sent: 5, failed: 0, waiting: 0 });
    const ids = slack.accepted.map(idOf);
    expect(ids).toEqual([
      `${a.fingerprint}:1:firing:0`,
      ...[`${a.fingerprint}:1:repeat:1`, `${b.fingerprint}:1:firing:0`].sort(),
      ...[`${a.fingerprint}:1:resolved:2`, `${b.fingerprint}:1:repeat:1`].sort(),
    ]);
    expect(new Set(ids).size).toBe(ids.length);
    await evaluate([r], [b], at(2.6));
    expect(slack.accepted, "nothing is sent twice").toHaveLength(5);
    const attempts = await runner.all(`SELECT id, attempts, last_error FROM ${runner.table("alert_outbox")} WHERE id = @id`, { id: `${a.fingerprint}:1:firing:0` });
    expect(attempts[0]).toMatchObject({ attempts: "4", last_error: null });
  });

  it("a notification the receiver refuses (4xx) stays in the outbox, holds back that alert's later ones on that channel, and counts as rejected", async () => {
    const r = rule("refused", { repeatIntervalSeconds: 3600 });
    const a = finding(r, "acme/api");
    const wrong = `${slack.url}/revoked`;
    const first = await runAlertCycle({ runner, rules: [r], findings: [a], now: at(0), channels: channelsFromEnv({ SLACK_WEBHOOK_URL: wrong }), log });
    expect(first.delivery).toMatchObject({ sent: 0, failed: 1, rejected: 1 });
    expect(slack.rejected.map((x) => [x.status, x.error])).toEqual([[404, "no_service"]]);
    const second = await runAlertCycle({ runner, rules: [r], findings: [], now: at(1), channels: channelsFromEnv({ SLACK_WEBHOOK_URL: wrong }), log });
    expect(second.delivery, "the resolve waits behind the refused firing").toMatchObject({ failed: 1, waiting: 1, rejected: 1 });
    await evaluate([r], [], at(2));
    expect(slack.accepted.map(idOf), "fixed URL: both, in order").toEqual([`${a.fingerprint}:1:firing:0`, `${a.fingerprint}:1:resolved:1`]);
  });

  it("records state and its notifications in one transaction: a failed outbox write leaves no state change behind", async () => {
    const r = rule("atomic");
    const failing: SqlRunner = {
      ...runner,
      run: async (sql, params) => {
        if (/INSERT INTO .*alert_outbox/.test(sql)) throw new Error("disk full");
        return runner.run(sql, params);
      },
    };
    await expect(runAlertCycle({ runner: failing, rules: [r], findings: [finding(r, "acme/api")], now: at(0), channels: channels(), log })).rejects.toThrow("disk full");
    expect(await readEpisodes(runner, "all")).toEqual([]);
    await evaluate([r], [finding(r, "acme/api")], at(1));
    expect(slack.accepted.map(idOf)).toEqual([`${finding(r, "acme/api").fingerprint}:1:firing:0`]);
  });

  it("a run that dies after recording and before sending loses nothing; one that dies after Slack accepted and before marking it sends it again with the same id (the documented window)", async () => {
    const r = rule("crashy");
    const f = finding(r, "acme/api");
    await recordEvaluation(runner, { now: at(0), rules: [r], findings: [f], channels: new Set(["slack"]) });
    expect(slack.accepted).toHaveLength(0);
    const dying: SqlRunner = {
      ...runner,
      run: async (sql, params) => {
        if (/SET sent_at/.test(sql)) throw new Error("killed");
        return runner.run(sql, params);
      },
    };
    await expect(runAlertCycle({ runner: dying, rules: [r], findings: [f], now: at(1), channels: channels(), log })).rejects.toThrow("killed");
    await evaluate([r], [f], at(2));
    expect(slack.accepted.map(idOf)).toEqual([`${f.fingerprint}:1:firing:0`, `${f.fingerprint}:1:firing:0`]);
    await evaluate([r], [f], at(3));
    expect(slack.accepted).toHaveLength(2);
  });

  it("keeps oversize content within Slack's limits (hundreds of offenders, a 10k-character summary) and the strict stand-in accepts it", async () => {
    const r = rule(`very-long-rule-name-${"x".repeat(300)}`);
    const offenders: Offender[] = Array.from({ length: 400 }, (_, i) => ({ label: `acme/repo-${i} · CI #${i} ${"<&>".repeat(30)}`, value: 400 - i, url: `https://github.com/acme/repo-${i}/actions/runs/${i}` }));
    const big = finding(r, `acme/${"long-repository-".repeat(20)}`, { summary: `S${"u".repeat(10_000)}`, offenders });
    await evaluate([r], [big], at(0));
    expect(slack.rejected).toEqual([]);
    expect(slack.accepted).toHaveLength(1);
    const body = slack.accepted[0]!.body;
    expect(body.blocks!.length).toBeLessThanOrEqual(50);
    for (const b of body.blocks!) {
      if (b.type === "header") expect(charLength(b.text!.text)).toBeLessThanOrEqual(150);
      if (b.text) expect(charLength(b.text.text)).toBeLessThanOrEqual(3000);
      for (const f of b.fields ?? []) expect(charLength(f.text)).toBeLessThanOrEqual(2000);
    }
    expect(charLength(body.text!)).toBeLessThanOrEqual(SLACK_LIMITS.fallbackText);
    expect(body.blocks!.some((b) => /… and 375 more$/.test(b.text?.text ?? ""))).toBe(true);
    expect(body.blocks![1]!.text!.text).toMatch(/… and \d+ more characters$/);
    expect(slack.accepted[0]!.raw, "mrkdwn control characters are escaped").not.toContain("<&>");
  });

  it("the stand-in enforces each documented rule: the same content untruncated is refused, truncated it passes", async () => {
    const post = (body: string) => fetch(slack.hookUrl, { method: "POST", headers: { "content-type": "application/json" }, body }).then(async (res) => [res.status, await res.text()]);
    const r = rule("limits");
    const message = slackMessage({
      id: "x:1:firing:0", kind: "firing", fingerprint: "x", episode: 1, sequence: 0, rule: r.name, ruleKind: r.kind, severity: "critical", state: "firing",
      scope: { repository: "acme/api" }, value: 0.5, threshold: 0.2, unit: "ratio", summary: "s".repeat(5000),
      offenders: Array.from({ length: 200 }, (_, i) => ({ label: `run ${i}`, value: i })), firstSeenAt: at(0).toISOString(), firedAt: at(0).toISOString(), resolvedAt: null,
      evaluatedAt: at(0).toISOString(), acknowledgedBy: null, acknowledgedUntil: null,
    });
    expect(await post("not json")).toEqual([400, "invalid_payload"]);
    expect(await post("{}")).toEqual([400, "no_text"]);
    expect(await post(JSON.stringify({ blocks: Array.from({ length: 51 }, () => ({ type: "divider" })) }))).toEqual([400, "invalid_blocks"]);
    expect(await post(JSON.stringify({ text: "t", blocks: [{ type: "header", text: { type: "plain_text", text: "h".repeat(151) } }] }))).toEqual([400, "invalid_blocks"]);
    expect(await post(JSON.stringify({ text: "t", blocks: [{ type: "section", text: { type: "mrkdwn", text: "s".repeat(3001) } }] }))).toEqual([400, "invalid_blocks"]);
    expect(await post(JSON.stringify({ text: "t", blocks: [{ type: "section", fields: Array.from({ length: 11 }, () => ({ type: "mrkdwn", text: "f" })) }] }))).toEqual([400, "invalid_blocks"]);
    expect(slackRejection(JSON.stringify({ ...message, blocks: message.blocks.map((b) => (b.type === "section" && b.text ? { ...b, text: { ...b.text, text: "s".repeat(5000) } } : b)) })), "the summary untruncated").toBe("invalid_blocks");
    expect(await post(JSON.stringify(message))).toEqual([200, "ok"]);
    await slack.down("5xx");
    expect(await post(JSON.stringify(message))).toEqual([500, "rollup_error"]);
    await slack.down("refused");
    await expect(post(JSON.stringify(message))).rejects.toThrow();
    await slack.up();
    slack.rateLimitNext(1, 3);
    const limited = await fetch(slack.hookUrl, { method: "POST", body: JSON.stringify(message) });
    expect([limited.status, limited.headers.get("retry-after")]).toEqual([429, "3"]);
    expect(await post(JSON.stringify(message))).toEqual([200, "ok"]);
  });

  it("signs the JSON webhook like GitHub (X-Hub-Signature-256 over the raw body) with the notification id as Idempotency-Key", async () => {
    const received: { headers: IncomingHttpHeaders; raw: string }[] = [];
    const server = createServer((req, res) => {
      let raw = "";
      req.on("data", (c: Buffer) => (raw += c.toString("utf8")));
      req.on("end", () => {
        received.push({ headers: req.headers, raw });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const secret = "webhook-secret-0123456789";
      const r = rule("hooked", { channels: ["webhook"] });
      const f = finding(r, "acme/api");
      await evaluate([r], [f], at(0), { ALERT_WEBHOOK_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`, ALERT_WEBHOOK_SECRET: secret });
      expect(received).toHaveLength(1);
      const [{ headers, raw }] = received as [{ headers: IncomingHttpHeaders; raw: string }];
      expect(headers["x-hub-signature-256"]).toMatch(/^sha256=[0-9a-f]{64}$/);
      expect(await verify(secret, raw, String(headers["x-hub-signature-256"]))).toBe(true);
      expect(await verify("another-secret-0123456789", raw, String(headers["x-hub-signature-256"]))).toBe(false);
      expect(headers["idempotency-key"]).toBe(`${f.fingerprint}:1:firing:0`);
      expect(JSON.parse(raw)).toMatchObject({ version: 1, notification: { id: `${f.fingerprint}:1:firing:0`, rule: "hooked", scope: f.scope, value: 0.5, threshold: 0.2 } });
      expect(slack.accepted, "the rule lists only the webhook").toHaveLength(0);
      expect(() => channelsFromEnv({ ALERT_WEBHOOK_URL: "http://127.0.0.1:1/x" })).toThrow(/ALERT_WEBHOOK_SECRET: must be set/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("inside GitHub Actions writes escaped ::error/::warning annotations and a step summary table", async () => {
    const dir = mkdtempSync(join(tmpdir(), "aw-gh-"));
    try {
      const summaryFile = join(dir, "summary.md");
      const lines: string[] = [];
      const env = { GITHUB_ACTIONS: "true", GITHUB_STEP_SUMMARY: summaryFile };
      const critical = rule("gh-critical", { channels: ["github"] });
      const warning = rule("gh-warning", { channels: ["github"], severity: "warning" });
      const f = finding(critical, "acme/api", { summary: "50% failed\nsecond line, 100%: bad" });
      const g = finding(warning, "acme/web");
      await runAlertCycle({ runner, rules: [critical, warning], findings: [f, g], now: at(0), channels: channelsFromEnv(env, { write: (l) => lines.push(l) }), log: silentLogger });
      expect(lines).toHaveLength(2);
      expect(lines.find((l) => l.includes("gh-critical"))).toMatch(/^::error title=firing%3A gh-critical::50%25 failed%0Asecond line, 100%25: bad \(repository=acme\/api/);
      expect(lines.find((l) => l.includes("gh-warning"))).toMatch(/^::warning title=firing%3A gh-warning::/);
      const summary = readFileSync(summaryFile, "utf8");
      expect(summary).toContain("### Alerts");
      expect(summary).toMatch(/\| firing \| gh-critical \| critical \| repository=acme\/api, workflow=CI \| 50% \| 20% \| 50% failed second line, 100%: bad \|/);
      await runAlertCycle({ runner, rules: [critical, warning], findings: [g], now: at(1), channels: channelsFromEnv(env, { write: (l) => lines.push(l) }), log: silentLogger });
      expect(lines[2]).toMatch(/^::notice title=resolved%3A gh-critical::/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("never logs the webhook URLs (they hold tokens)", async () => {
    const r = rule("secret", { channels: ["slack", "webhook"] });
    await slack.down("refused");
    const hook = `http://127.0.0.1:${slack.port}/services/T000/B000/s3cr3tT0ken`;
    await runAlertCycle({ runner, rules: [r], findings: [finding(r, "acme/api")], now: at(0), channels: channelsFromEnv({ SLACK_WEBHOOK_URL: hook, ALERT_WEBHOOK_URL: hook.replace("services", "hooks"), ALERT_WEBHOOK_SECRET: "another-s3cret-value" }), log });
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) {
      expect(line).not.toContain("s3cr3tT0ken");
      expect(line).not.toContain("another-s3cret-value");
    }
  });
});
