/**
 * The report's alerts panel (issue 13, item 5) on a DuckDB warehouse that only `load` created (raw and
 * alert tables, no `alerts evaluate`): rpt_alerts builds and the panel shows its empty state; then
 * episodes recorded through the alert state machine (alerts/state.ts, the code `alerts evaluate` runs)
 * at known instants appear with the state, times and durations the scenario says, split into active,
 * acknowledged and the last 30 days, and an episode resolved before the window is left out.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRules } from "../alerts/rules.js";
import { acknowledge, duckDbRunner, recordEvaluation } from "../alerts/state.js";
import { ALERT_TABLES } from "../alerts/tables.js";
import { CHANNELS, fingerprintOf, type Finding, type Rule } from "../alerts/types.js";
import { createRawTables, openDuckDb } from "../load/duckdb-connection.js";
import { alertPanel } from "../report/alerts.js";
import { writeReport } from "../report/build.js";
import { renderAlertsPanel } from "../report/html.js";
import type { AlertRow, ReportData } from "../report/model.js";
import { runTransform } from "../transform/run.js";

const REF = "2026-01-02T00:00:00.000Z";
const at = (hoursBeforeRef: number) => new Date(Date.parse(REF) - hoursBeforeRef * 3_600_000);
const DAY = 24;

const rules: Rule[] = parseRules(
  `rules:
  - { name: ci-red, kind: failure_rate, threshold: 0.2, severity: critical }
  - { name: stuck-deploy, kind: stuck, threshold: 1h, severity: warning, for: 1h }
`,
  "test rules",
);

function finding(rule: Rule, scope: Record<string, string>, value: number): Finding {
  return {
    rule: rule.name,
    kind: rule.kind,
    severity: rule.severity,
    scope,
    fingerprint: fingerprintOf(rule.name, scope),
    value,
    threshold: rule.kind === "stuck" ? 3600 : 0.2,
    unit: rule.kind === "stuck" ? "seconds" : "ratio",
    summary: `${rule.name} on ${Object.values(scope).join(" ")}`,
    offenders: [],
  };
}

const [ciRed, stuck] = rules as [Rule, Rule];
// The scenario: which finding is seen at which evaluation, and the truth it implies at REF.
const OLD = finding(ciRed, { repository: "acme/old", workflow: "CI" }, 0.9); // fires 40 d, resolves 35 d before REF: outside the window
const PAST = finding(ciRed, { repository: "acme/lib", workflow: "CI" }, 0.5); // fires 20 d, resolves 19 d before: resolved in the window
const ACTIVE = finding(ciRed, { repository: "acme/api", workflow: "CI" }, 0.4); // fires 2 h before; acknowledged until 10 min before REF: active again
const ACKED = finding(ciRed, { repository: "acme/web", workflow: "CI" }, 0.3); // fires 2 h before; acknowledged until 4 h after REF
const PENDING = finding(stuck, { repository: "acme/api", workflow: "Deploy" }, 5400); // first seen 30 min before, `for` 1 h: pending
const evaluations: { hoursBefore: number; findings: Finding[] }[] = [
  { hoursBefore: 40 * DAY, findings: [OLD] },
  { hoursBefore: 35 * DAY, findings: [] },
  { hoursBefore: 20 * DAY, findings: [PAST] },
  { hoursBefore: 19 * DAY, findings: [] },
  { hoursBefore: 2, findings: [ACTIVE, ACKED] },
  { hoursBefore: 0.5, findings: [ACTIVE, ACKED, PENDING] },
];

interface Truth {
  fingerprint: string;
  rule: string;
  severity: string;
  state: AlertRow["state"];
  episode_state: string;
  first_seen_at: string;
  fired_at: string | null;
  resolved_at: string | null;
  acknowledged_by: string | null;
  duration_seconds: number;
  repository: string;
}

const iso = (hoursBefore: number) => at(hoursBefore).toISOString();
const truth: Truth[] = [
  { fingerprint: PAST.fingerprint, rule: "ci-red", severity: "critical", state: "resolved", episode_state: "resolved", first_seen_at: iso(20 * DAY), fired_at: iso(20 * DAY), resolved_at: iso(19 * DAY), acknowledged_by: null, duration_seconds: DAY * 3600, repository: "acme/lib" },
  { fingerprint: ACTIVE.fingerprint, rule: "ci-red", severity: "critical", state: "active", episode_state: "firing", first_seen_at: iso(2), fired_at: iso(2), resolved_at: null, acknowledged_by: "alice", duration_seconds: 7200, repository: "acme/api" },
  { fingerprint: ACKED.fingerprint, rule: "ci-red", severity: "critical", state: "acknowledged", episode_state: "firing", first_seen_at: iso(2), fired_at: iso(2), resolved_at: null, acknowledged_by: "bob", duration_seconds: 7200, repository: "acme/web" },
  { fingerprint: PENDING.fingerprint, rule: "stuck-deploy", severity: "warning", state: "active", episode_state: "pending", first_seen_at: iso(0.5), fired_at: null, resolved_at: null, acknowledged_by: null, duration_seconds: 1800, repository: "acme/api" },
];

const picked = (r: AlertRow): Truth => ({
  fingerprint: r.fingerprint,
  rule: r.rule,
  severity: r.severity,
  state: r.state,
  episode_state: r.episode_state,
  first_seen_at: r.first_seen_at,
  fired_at: r.fired_at,
  resolved_at: r.resolved_at,
  acknowledged_by: r.acknowledged_by,
  duration_seconds: r.duration_seconds,
  repository: r.repository ?? "",
});
const byFingerprint = (a: { fingerprint: string }, b: { fingerprint: string }) => (a.fingerprint < b.fingerprint ? -1 : 1);

describe("report: alerts panel", () => {
  let dir: string;
  let duckdbPath: string;
  let empty: { data: ReportData; html: string };
  let seeded: { data: ReportData; html: string };

  const report = async (name: string) => {
    const result = await writeReport({ duckdbPath, out: join(dir, `${name}.html`), now: new Date(REF) });
    return { data: result.data, html: readFileSync(result.path, "utf8") };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-report-alerts-"));
    duckdbPath = join(dir, "warehouse.duckdb");
    // What `load` leaves behind: the raw tables and, since this change, the empty alert tables.
    const w = await openDuckDb(duckdbPath);
    try {
      await createRawTables(w.connection);
      const tables = await w.connection.runAndReadAll(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'github_raw' AND table_name LIKE 'alert_%' ORDER BY 1`);
      expect(tables.getRowObjectsJson().map((r) => r.table_name)).toEqual([...ALERT_TABLES].sort());
    } finally {
      await w.closeAsync();
    }
    await runTransform({ duckdbPath, vars: { kpi_reference_time: REF } });
    empty = await report("empty");

    const seed = await openDuckDb(duckdbPath);
    try {
      const runner = duckDbRunner(seed.connection);
      for (const e of evaluations) {
        await recordEvaluation(runner, { now: at(e.hoursBefore), rules, findings: e.findings, channels: new Set(CHANNELS) });
        if (e.hoursBefore === 2) {
          expect(await acknowledge(runner, ACTIVE.fingerprint, at(10 / 60), "alice")).toBeDefined();
          expect(await acknowledge(runner, ACKED.fingerprint, at(-4), "bob")).toBeDefined();
        }
      }
    } finally {
      await seed.closeAsync();
    }
    // rpt_alerts is a view: the seeded episodes show without another transform.
    seeded = await report("seeded");
  }, 300_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a warehouse no evaluation has written to builds rpt_alerts and shows the empty state", () => {
    expect(empty.data.alerts).toEqual([]);
    expect(empty.html).toContain('id="panel-alerts" data-alerts="0"');
    expect(empty.html).toContain('id="alerts-empty"');
    expect(empty.html).not.toContain('id="alerts-recent"');
  });

  it("the panel's rows are the seeded episodes of the last 30 days, each in the state the scenario implies", () => {
    expect(seeded.data.alerts.map(picked).sort(byFingerprint)).toEqual([...truth].sort(byFingerprint));
    // The episode resolved 35 days before the reference time is outside the window.
    expect(seeded.data.alerts.some((r) => r.fingerprint === OLD.fingerprint)).toBe(false);
    // Open first (newest first), then resolved.
    expect(seeded.data.alerts.map((r) => r.state === "resolved")).toEqual([false, false, false, true]);
    const ack = seeded.data.alerts.find((r) => r.fingerprint === ACKED.fingerprint);
    expect(ack?.acknowledged_until).toBe(iso(-4));
  });

  it("splits active and acknowledged, and counts by rule and severity", () => {
    const panel = alertPanel(seeded.data.alerts);
    const fps = (rows: AlertRow[]) => rows.map((r) => r.fingerprint).sort();
    expect(fps(panel.active)).toEqual(truth.filter((t) => t.state === "active").map((t) => t.fingerprint).sort());
    expect(fps(panel.acknowledged)).toEqual([ACKED.fingerprint]);
    expect(panel.counts).toEqual([
      { rule: "ci-red", severity: "critical", active: 1, acknowledged: 1, resolved: 1 },
      { rule: "stuck-deploy", severity: "warning", active: 1, acknowledged: 0, resolved: 0 },
    ]);
  });

  it("draws the panel: the active, acknowledged and 30-day tables hold the right episodes", () => {
    const { html } = seeded;
    expect(html).toContain('data-alerts="4"');
    expect(html).not.toContain('id="alerts-empty"');
    expect(html).toContain('<span id="alerts-active-count">2 active</span>');
    expect(html).toContain('<span id="alerts-acknowledged-count">1 acknowledged</span>');
    expect(html).toContain('<span id="alerts-resolved-count">1 resolved</span>');
    const tableRows = (id: string) => {
      const table = new RegExp(`<table id="${id}">([\\s\\S]*?)</table>`).exec(html)?.[1] ?? "";
      return [...table.matchAll(/data-fingerprint="([^"]+)"/g)].map((m) => m[1]).sort();
    };
    expect(tableRows("alerts-active")).toEqual(truth.filter((t) => t.state === "active").map((t) => t.fingerprint).sort());
    expect(tableRows("alerts-acknowledged")).toEqual([ACKED.fingerprint]);
    expect(tableRows("alerts-recent")).toEqual(truth.map((t) => t.fingerprint).sort());
    expect(html).toContain("40.0% / 20.0%");
    expect(html).toContain("bob until 2026-01-02 04:00:00 UTC");
  });

  it("escapes what the alert rows hold", () => {
    const row: AlertRow = {
      fingerprint: "f1", episode: 1, rule: "<script>alert(1)</script>", kind: "failure_rate", severity: "critical", repository: null, workflow: null, branch: null,
      scope: '{"runner_labels":"<b>self-hosted</b>"}', state: "active", episode_state: "firing", value: 1, threshold: 0.5, unit: "ratio", summary: "a & b",
      first_seen_at: REF, fired_at: REF, resolved_at: null, last_notified_at: null, acknowledged_by: null, acknowledged_until: null, duration_seconds: 0,
    };
    const html = renderAlertsPanel([row], REF);
    expect(html).not.toContain("<script>");
    expect(html).not.toContain("<b>");
    expect(html).toContain("runner_labels=&lt;b&gt;self-hosted&lt;/b&gt;");
    expect(html).toContain("a &amp; b");
  });
});
