/**
 * The tests page of the report (issue 14): flaky tests, slowest tests, the daily pass-rate trend and the
 * coverage trend, from rpt_flaky_tests, rpt_slowest_tests, rpt_test_health_daily and rpt_coverage_daily.
 * Drawn on the server like the alerts panel: tables to act on plus two small inline SVG line charts
 * (no script, no fetched image: the page's Content-Security-Policy allows inline SVG markup), so it reads
 * the same without the client bundle. The repository/workflow filters of the page do not apply to it.
 * Most warehouses have no test data (extracting artifacts is opt-in: --test-artifacts): then the panel
 * says so and how to get some.
 */
import type { CoverageRow, FlakyTestRow, SlowTestRow, TestHealthRow } from "./model.js";

export interface TestsPanelData {
  flakyTests: FlakyTestRow[];
  slowestTests: SlowTestRow[];
  testHealth: TestHealthRow[];
  coverage: CoverageRow[];
}

/** A point of a trend: a UTC day and a fraction 0..1. */
export interface TrendPoint {
  date: string;
  value: number;
}

export interface TrendSeries {
  label: string;
  points: TrendPoint[];
}

/** Daily pass rate over every repository and workflow: passed / (passed + failed + errors); days with none left out. */
export function passRateTrend(rows: TestHealthRow[]): TrendSeries[] {
  const byDay = new Map<string, { passed: number; counted: number }>();
  for (const r of rows) {
    const d = byDay.get(r.date) ?? { passed: 0, counted: 0 };
    d.passed += r.passed;
    d.counted += r.passed + r.failed + r.errors;
    byDay.set(r.date, d);
  }
  const points = [...byDay.entries()]
    .filter(([, d]) => d.counted > 0)
    .map(([date, d]) => ({ date, value: d.passed / d.counted }))
    .sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  return points.length === 0 ? [] : [{ label: "all repositories", points }];
}

/** Line coverage of each repository and branch's latest run per day; the `max` series with most days. */
export function coverageTrend(rows: CoverageRow[], max = 6): TrendSeries[] {
  const series = new Map<string, TrendPoint[]>();
  for (const r of rows) {
    if (r.line_rate === null) continue;
    const label = `${r.repository} · ${r.branch}`;
    series.set(label, [...(series.get(label) ?? []), { date: r.date, value: r.line_rate }]);
  }
  return [...series.entries()]
    .map(([label, points]) => ({ label, points: points.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0)) }))
    .sort((a, b) => b.points.length - a.points.length || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0))
    .slice(0, max);
}

/** Rows of rpt_flaky_tests the report reads (report/data.ts LIMIT). */
export const FLAKY_LIMIT = 50;

const COLORS = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2"];

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}

const pct = (v: number | null) => (v === null ? "" : `${(v * 100).toFixed(1)}%`);
const secs = (v: number) => `${Number(v.toFixed(2))} s`;
const when = (iso: string) => iso.replace("T", " ").replace(/(:\d{2})\.\d+Z$/, "$1 UTC").replace(/Z$/, " UTC");
const testName = (r: { suite: string | null; classname: string | null; name: string }) => [r.classname ?? r.suite, r.name].filter((p): p is string => p !== null && p !== "").join(" › ");

/** An SVG line chart of fractions 0..1 over days; each point carries a <title> with its day and value. */
export function trendSvg(id: string, series: TrendSeries[]): string {
  const days = [...new Set(series.flatMap((s) => s.points.map((p) => p.date)))].sort();
  const width = 640;
  const height = 180;
  const pad = { left: 40, right: 10, top: 10, bottom: 24 };
  const x = (date: string) => pad.left + (days.length <= 1 ? (width - pad.left - pad.right) / 2 : (days.indexOf(date) / (days.length - 1)) * (width - pad.left - pad.right));
  const y = (v: number) => pad.top + (1 - v) * (height - pad.top - pad.bottom);
  const grid = [0, 0.5, 1]
    .map((v) => `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e7eb"/><text x="${pad.left - 4}" y="${y(v) + 4}" font-size="10" text-anchor="end" fill="#6b7280">${v * 100}%</text>`)
    .join("");
  const axis = days.length === 0 ? "" : `<text x="${pad.left}" y="${height - 6}" font-size="10" fill="#6b7280">${escape(days[0] ?? "")}</text><text x="${width - pad.right}" y="${height - 6}" font-size="10" text-anchor="end" fill="#6b7280">${escape(days[days.length - 1] ?? "")}</text>`;
  const lines = series
    .map((s, i) => {
      const color = COLORS[i % COLORS.length] ?? "#2563eb";
      const path = s.points.map((p) => `${x(p.date).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
      const dots = s.points.map((p) => `<circle cx="${x(p.date).toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="3" fill="${color}"><title>${escape(`${s.label} ${p.date}: ${pct(p.value)}`)}</title></circle>`).join("");
      return `<g data-series="${escape(s.label)}" data-points="${s.points.length}"><polyline fill="none" stroke="${color}" stroke-width="2" points="${path}"/>${dots}</g>`;
    })
    .join("");
  const legend = series.map((s, i) => `<span style="color:${COLORS[i % COLORS.length] ?? "#2563eb"}">■ ${escape(s.label)}</span>`).join(" ");
  return `<svg id="${id}" viewBox="0 0 ${width} ${height}" width="100%" style="max-width:760px;display:block" role="img" aria-label="${escape(series.map((s) => s.label).join(", "))}">${grid}${axis}${lines}</svg><p class="note">${legend}</p>`;
}

function table(id: string, head: string[], rows: string[][]): string {
  return `<table id="${id}"><thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows.map((cells) => `<tr>${cells.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
}

export function renderTestsPanel(data: TestsPanelData): string {
  const note = "From the JUnit and coverage reports in workflow artifacts (--test-artifacts). A test is one leg (the artifact its reports came in: one per matrix leg), suite, class and name; flaky when it both failed and passed on one commit, or Maven Surefire retried it. The filters above do not apply here.";
  const hasData = data.flakyTests.length + data.slowestTests.length + data.testHealth.length + data.coverage.length > 0;
  const body = !hasData
    ? `<p class="empty" id="tests-empty">No test data: this warehouse holds no JUnit or coverage reports. Extract them from workflow artifacts with <code>--test-artifacts 'junit*,test-results*,coverage*'</code> (off by default), then run transform.</p>`
    : [
        // report/data.ts reads at most FLAKY_LIMIT rows, the most flaky first: say so when the cap is reached.
        `<h3>Flaky tests (${data.flakyTests.length}${data.flakyTests.length >= FLAKY_LIMIT ? `, the ${FLAKY_LIMIT} most flaky` : ""})</h3>`,
        data.flakyTests.length === 0
          ? `<p class="empty" id="tests-flaky-none">No flaky tests: no test both failed and passed on one commit.</p>`
          : table(
              "tests-flaky",
              ["Repository", "Workflow", "Leg", "Test", "Flaky commits", "Flake rate", "Runs affected", "Re-run minutes", "Last flaky"],
              data.flakyTests.map((r) => [escape(r.repository), escape(r.workflow), escape(r.leg), escape(testName(r)), `${r.flaky_commits} / ${r.commits}`, pct(r.flake_rate), String(r.runs_affected), String(r.rerun_minutes), escape(when(r.last_flaky_at))]),
            ),
        `<h3>Slowest tests, 30 days (p95)</h3>`,
        data.slowestTests.length === 0
          ? `<p class="empty" id="tests-slowest-none">No timed test executions in the 30 days before the reference time.</p>`
          : table(
              "tests-slowest",
              ["Repository", "Workflow", "Leg", "Test", "Executions", "p95", "Mean", "Max", "Total"],
              data.slowestTests.map((r) => [escape(r.repository), escape(r.workflow), escape(r.leg), escape(testName(r)), String(r.executions), secs(r.p95_duration_seconds), secs(r.avg_duration_seconds), secs(r.max_duration_seconds), secs(r.total_duration_seconds)]),
            ),
        `<h3>Pass rate by day</h3>`,
        data.testHealth.length === 0 ? `<p class="empty" id="tests-pass-rate-none">No test executions in range.</p>` : trendSvg("tests-pass-rate-trend", passRateTrend(data.testHealth)),
        `<h3>Line coverage by day (latest run per repository and branch)</h3>`,
        data.coverage.length === 0 ? `<p class="empty" id="tests-coverage-none">No coverage reports in range.</p>` : trendSvg("tests-coverage-trend", coverageTrend(data.coverage)),
      ].join("\n");
  return `<section class="panel wide" id="panel-tests" data-flaky="${data.flakyTests.length}">
<h2>Tests</h2>
<p class="note">${escape(note)}</p>
${body}
</section>`;
}
