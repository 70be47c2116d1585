/**
 * The dashboard's numbers: what each panel shows for a filter, from a warehouse the real pipeline built,
 * compared with ground truth computed straight from the simulator's seed data. Plus the page's safety
 * properties (self-contained, data cannot break out of its script element) and clear errors.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allJobsOf, latestAttempt, type Dataset, type SimRun } from "../simulator/index.js";
import { writeReport } from "../report/build.js";
import { readReportData, ReportDataError, toIsoInstant } from "../report/data.js";
import { renderPage } from "../report/html.js";
import {
  durationTrend,
  failuresByBranch,
  kpiCards,
  NO_FILTER,
  passRateByWorkflow,
  publishFrequency,
  runningNow,
  topologyGraph,
  type Filter,
} from "../report/aggregate.js";
import type { ReportData } from "../report/model.js";
import { pipelineHealth } from "./ground-truth.js";
import { buildReportWarehouse, REPORT_ANCHOR } from "./report-fixture.js";
import { flakyJobsTruth } from "./flaky-jobs-truth.js";
import { FLAKY_JOBS_LIMIT } from "../report/flaky-jobs-panel.js";

const FAILURES = ["failure", "timed_out", "startup_failure"];
const secs = (a: string, b: string) => Math.trunc((Date.parse(a) - Date.parse(b)) / 1000);

function completedLatest(ds: Dataset): { run: SimRun; conclusion: string | null; duration: number }[] {
  return ds.runs
    .map((run) => ({ run, a: latestAttempt(run) }))
    .filter(({ a }) => a.status === "completed")
    .map(({ run, a }) => ({ run, conclusion: a.conclusion, duration: secs(a.updated_at, a.run_started_at) }));
}

describe("report data and panels", () => {
  let dir: string;
  let dataset: Dataset;
  let data: ReportData;
  let html: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-report-"));
    const built = await buildReportWarehouse(dir);
    dataset = built.dataset;
    const result = await writeReport({ duckdbPath: built.duckdbPath, out: join(dir, "report.html"), now: new Date(REPORT_ANCHOR) });
    data = result.data;
    html = readFileSync(result.path, "utf8");
  }, 300_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("KPI cards: the last 7 days and last 24 hours before the reference time, beside the period before", () => {
    const ref = Date.parse(REPORT_ANCHOR);
    const window = (hoursBack: number, hoursLen: number) =>
      completedLatest(dataset).filter(({ run }) => Date.parse(run.created_at) >= ref - hoursBack * 3_600_000 && Date.parse(run.created_at) < ref - (hoursBack - hoursLen) * 3_600_000);
    const week = window(168, 168);
    const weekBefore = window(336, 168);
    const day = window(24, 24);
    const dayBefore = window(48, 24);
    const s = (rows: typeof week) => rows.filter((r) => r.conclusion === "success").length;
    const f = (rows: typeof week) => rows.filter((r) => FAILURES.includes(r.conclusion ?? "")).length;
    const cards = Object.fromEntries(kpiCards(data).map((c) => [c.id, c]));
    expect(data.referenceTime).toBe("2026-10-15T12:00:00.000Z");
    expect(cards["total-runs"]?.value).toBe(week.length);
    expect(cards["total-runs"]?.previous).toBe(weekBefore.length);
    expect(cards["total-runs"]?.change).toBeCloseTo((week.length - weekBefore.length) / weekBefore.length, 9);
    expect(cards["success-rate"]?.value).toBeCloseTo(s(week) / (s(week) + f(week)), 9);
    expect(cards["success-rate"]?.change).toBeCloseTo(s(week) / (s(week) + f(week)) - s(weekBefore) / (s(weekBefore) + f(weekBefore)), 9);
    expect(cards["avg-duration"]?.value).toBeCloseTo(week.reduce((n, r) => n + r.duration, 0) / week.length, 6);
    expect(cards["failures-24h"]?.value).toBe(f(day));
    expect(cards["failures-24h"]?.previous).toBe(f(dayBefore));
    expect(f(day)).toBeGreaterThan(0);
  });

  it("KPI sparklines: daily runs and failures of the 14 days up to the reference day", () => {
    const cards = Object.fromEntries(kpiCards(data).map((c) => [c.id, c]));
    const runs = cards["total-runs"];
    expect(runs?.sparkDates).toHaveLength(14);
    expect(runs?.sparkDates.at(-1)).toBe("2026-10-15");
    runs?.sparkDates.forEach((date, i) => {
      const truth = completedLatest(dataset).filter(({ run }) => run.created_at.startsWith(date));
      expect(runs.spark[i], date).toBe(truth.length);
      expect(cards["failures-24h"]?.spark[i], date).toBe(truth.filter((r) => FAILURES.includes(r.conclusion ?? "")).length);
    });
  });

  it("pass rate and exact p50/p95 per workflow and day match ground truth for every repository/workflow filter", () => {
    const truth = pipelineHealth(dataset.runs);
    const pairs = [...new Set(truth.map((t) => `${t.repository}\u0000${t.workflow_name}`))].map((k) => k.split("\u0000") as [string, string]);
    expect(pairs.length).toBeGreaterThan(5);
    for (const [repository, workflow] of pairs) {
      const filter: Filter = { ...NO_FILTER, repository, workflow };
      const pass = passRateByWorkflow(data.health, filter);
      const dur = durationTrend(data.health, filter);
      expect(pass.series).toHaveLength(1);
      expect(dur.exact).toBe(true);
      for (const t of truth.filter((x) => x.repository === repository && x.workflow_name === workflow)) {
        const i = pass.dates.indexOf(t.run_date);
        expect(i, `${repository} ${workflow} ${t.run_date}`).toBeGreaterThanOrEqual(0);
        if (t.pass_rate === null) expect(pass.series[0]?.values[i]).toBeNull();
        else expect(pass.series[0]?.values[i]).toBeCloseTo(t.pass_rate, 9);
        expect(dur.p50[dur.dates.indexOf(t.run_date)]).toBeCloseTo(t.p50 as number, 6);
        expect(dur.p95[dur.dates.indexOf(t.run_date)]).toBeCloseTo(t.p95 as number, 6);
      }
    }
    // Across workflows percentiles are not additive: the panel says it shows a weighted mean.
    expect(durationTrend(data.health, NO_FILTER).exact).toBe(false);
  });

  it("pass rate over several workflows is recomputed from counts, never averaged", () => {
    const repository = dataset.repos[0]?.full_name as string;
    const day = "2026-10-10";
    const runs = completedLatest(dataset).filter(({ run }) => run.repo === repository && run.created_at.startsWith(day));
    const byWf = new Map<string, { s: number; f: number }>();
    for (const r of runs) {
      const c = byWf.get(r.run.workflow_name) ?? { s: 0, f: 0 };
      if (r.conclusion === "success") c.s += 1;
      if (FAILURES.includes(r.conclusion ?? "")) c.f += 1;
      byWf.set(r.run.workflow_name, c);
    }
    const pass = passRateByWorkflow(data.health, { repository, workflow: null, from: day, to: day }, 100);
    expect(pass.dates).toEqual([day]);
    for (const s of pass.series) {
      const c = byWf.get(s.name);
      expect(c, s.name).toBeDefined();
      const decided = (c?.s ?? 0) + (c?.f ?? 0);
      if (decided === 0) expect(s.values[0], s.name).toBeNull(); // only cancelled/skipped runs: no pass rate, not 0
      else expect(s.values[0], s.name).toBeCloseTo((c?.s ?? 0) / decided, 9);
    }
  });

  it("failures by branch: the branches with most failed latest attempts, with the date filter applied", () => {
    const from = "2026-10-08";
    const truth = new Map<string, number>();
    for (const r of completedLatest(dataset)) {
      if (!FAILURES.includes(r.conclusion ?? "") || r.run.created_at.slice(0, 10) < from) continue;
      truth.set(r.run.head_branch, (truth.get(r.run.head_branch) ?? 0) + 1);
    }
    const shown = failuresByBranch(data.branchFailures, { ...NO_FILTER, from }, 1000);
    expect(Object.fromEntries(shown.map((b) => [b.branch, b.failures]))).toEqual(Object.fromEntries(truth));
    const top = failuresByBranch(data.branchFailures, { ...NO_FILTER, from });
    expect(top.length).toBe(Math.min(15, truth.size));
    expect(top[0]?.failures).toBe(Math.max(...truth.values()));
  });

  it("running and queued now: every unfinished latest run attempt and every unfinished job", () => {
    const openRuns = dataset.runs.filter((r) => latestAttempt(r).status !== "completed");
    let openJobs = 0;
    for (const run of dataset.runs) for (const jobs of allJobsOf(dataset, run)) openJobs += jobs.filter((j) => j.status !== "completed").length;
    const now = runningNow(data.running, NO_FILTER);
    expect(openRuns.length).toBeGreaterThan(0);
    expect(now.total).toBe(openRuns.length + openJobs);
    expect(data.runningTotal).toBe(now.total);
    const repo = openRuns[0]?.repo as string;
    const scoped = runningNow(data.running, { ...NO_FILTER, repository: repo });
    expect(scoped.byStatus.reduce((n, s) => n + s.runs, 0)).toBe(openRuns.filter((r) => r.repo === repo).length);
    // Oldest first: the age of the first listed item is the largest.
    expect(scoped.oldest[0]?.age_seconds).toBe(Math.max(...data.running.filter((r) => r.repository === repo).map((r) => r.age_seconds ?? 0)));
  });

  it("package publish frequency counts every live version once, per ISO week", () => {
    const live = dataset.packages.flatMap((p) => p.versions.filter((v) => v.deleted_at === null).map((v) => ({ type: p.package_type, created: v.created_at })));
    const p = publishFrequency(data.packages, NO_FILTER);
    expect(p.total).toBe(live.length);
    const monday = (iso: string) => {
      const d = new Date(`${iso.slice(0, 10)}T00:00:00Z`);
      d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
      return d.toISOString().slice(0, 10);
    };
    const week = monday(live[0]?.created as string);
    const type = live[0]?.type as string;
    const truth = live.filter((v) => v.type === type && monday(v.created) === week).length;
    expect(p.series.find((s) => s.name === type)?.values[p.weeks.indexOf(week)]).toBe(truth);
  });

  it("topology: one node per workflow with completed runs, weighted by failures or runtime, scoped by repository", () => {
    const completed = completedLatest(dataset);
    const workflowsTruth = new Map<string, { failures: number; runtime: number }>();
    for (const r of completed) {
      const k = `workflow:${r.run.repo}/${r.run.workflow_name}`;
      const t = workflowsTruth.get(k) ?? { failures: 0, runtime: 0 };
      if (FAILURES.includes(r.conclusion ?? "")) t.failures += 1;
      t.runtime += r.duration;
      workflowsTruth.set(k, t);
    }
    const g = topologyGraph(data.nodes, data.edges, NO_FILTER, "failures", 1000);
    const wfNodes = g.nodes.filter((n) => n.id.startsWith("workflow:"));
    expect(new Set(wfNodes.map((n) => n.id))).toEqual(new Set(workflowsTruth.keys()));
    for (const n of wfNodes) expect(n.value, n.id).toBe(workflowsTruth.get(n.id)?.failures);
    const byRuntime = topologyGraph(data.nodes, data.edges, NO_FILTER, "runtime", 1000);
    for (const n of byRuntime.nodes.filter((x) => x.id.startsWith("workflow:"))) expect(n.value, n.id).toBe(workflowsTruth.get(n.id)?.runtime);
    // The biggest node is the one with most failures.
    const biggest = [...wfNodes].sort((a, b) => b.symbolSize - a.symbolSize)[0];
    expect(biggest?.value).toBe(Math.max(...[...workflowsTruth.values()].map((t) => t.failures)));
    const repo = dataset.repos[0]?.full_name as string;
    const scoped = topologyGraph(data.nodes, data.edges, { ...NO_FILTER, repository: repo }, "failures", 1000);
    expect(scoped.nodes.length).toBeGreaterThan(1);
    expect(scoped.nodes.every((n) => n.id.includes(`${repo}`))).toBe(true);
    for (const l of scoped.links) expect(scoped.nodes.some((n) => n.id === l.source) && scoped.nodes.some((n) => n.id === l.target)).toBe(true);
  });

  it("flaky jobs: the jobs that wasted most first, with flake rate, wasted minutes and cost, equal to the ground truth", () => {
    const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    const truth = flakyJobsTruth(dataset)
      .sort((a, b) => b.wasted_cost_usd - a.wasted_cost_usd || b.wasted_billable_minutes - a.wasted_billable_minutes || b.flaky_runs - a.flaky_runs || cmp(a.repository, b.repository) || cmp(a.workflow_name, b.workflow_name) || cmp(a.job_name, b.job_name))
      .slice(0, FLAKY_JOBS_LIMIT);
    expect(truth.length).toBeGreaterThan(3);
    const shown = (r: { repository: string; job_name: string; flaky_runs: number; runs: number; flake_rate: number; wasted_billable_minutes: number; wasted_cost_usd: number; last_flaky_at: string }) =>
      [r.repository, r.job_name, r.flaky_runs, r.runs, r.flake_rate.toFixed(9), r.wasted_billable_minutes, r.wasted_cost_usd.toFixed(6), r.last_flaky_at.slice(0, 19)].join(" | ");
    expect(data.flakyJobs.map(shown)).toEqual(truth.map(shown));
    expect(data.flakyJobs.map((r) => r.workflow)).toEqual(truth.map((t) => t.workflow_name));
    const panel = html.slice(html.indexOf('id="panel-flaky-jobs"'), html.indexOf("</section>", html.indexOf('id="panel-flaky-jobs"')));
    expect(panel.match(/<tr>/g)).toHaveLength(truth.length + 1);
    const first = truth[0];
    expect(panel).toContain(`<td>${first?.job_name ?? "?"}</td><td>${first?.flaky_runs} / ${first?.runs}</td><td>${((first?.flake_rate ?? 0) * 100).toFixed(1)}%</td><td>${first?.wasted_billable_minutes}</td><td>$${first?.wasted_cost_usd.toFixed(2)}</td>`);
  });

  it("the page is self-contained: no external resource, a CSP that forbids fetching, data that cannot escape its script", async () => {
    expect(html).not.toMatch(/\b(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i);
    expect(html).toMatch(/Content-Security-Policy" content="default-src 'none'; script-src 'sha256-/);
    expect(html.match(/<script\b/g)).toHaveLength(2);
    const hostile = { ...data, title: "</script><script>alert(1)</script> & <!--" };
    const page = renderPage(hostile, "void 0");
    expect(page.match(/<script\b/g)).toHaveLength(2);
    expect(page).toContain("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!--");
    const json = /<script type="application\/json" id="report-data">([^<]*)<\/script>/.exec(page)?.[1];
    expect((JSON.parse(json ?? "null") as ReportData).title).toBe(hostile.title);
  });

  it("a view whose shape drifted stops the report with the view, row and column named", async () => {
    const bad = readReportData(async (sql) => (sql.includes("rpt_kpi_summary") ? [{ period: "last_7d", period_hours: 168, runs_current: "many" }] : []));
    await expect(bad).rejects.toThrow(ReportDataError);
    await expect(bad).rejects.toThrow(/rpt_kpi_summary row 1: column reference_time/);
    const missing = readReportData(async (sql) => {
      if (sql.includes("rpt_cost_monthly")) throw new Error("Catalog Error: Table with name rpt_cost_monthly does not exist!");
      return [];
    });
    await expect(missing).rejects.toThrow(/cannot read rpt_cost_monthly: Catalog Error.*actions-warehouse transform/);
    await expect(writeReport({ duckdbPath: join(dir, "nope.duckdb"), out: join(dir, "x.html") })).rejects.toThrow(/nope\.duckdb does not exist/);
    await expect(readReportData(async () => [], { since: "2026-02-30" })).rejects.toThrow(/since must be YYYY-MM-DD/);
  });

  it("reads instants from DuckDB and BigQuery text forms as UTC", () => {
    expect(toIsoInstant("2026-11-22 08:00:00+00")).toBe("2026-11-22T08:00:00.000Z");
    expect(toIsoInstant("2026-11-22 10:30:00+02")).toBe("2026-11-22T08:30:00.000Z");
    expect(toIsoInstant("2026-11-22T08:00:00.000Z")).toBe("2026-11-22T08:00:00.000Z");
    expect(toIsoInstant("2026-11-22 08:00:00")).toBe("2026-11-22T08:00:00.000Z");
    expect(() => toIsoInstant("yesterday")).toThrow(/not a timestamp/);
  });
});
