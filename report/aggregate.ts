/**
 * What each dashboard panel shows for the current filters, as pure functions of `ReportData`: the
 * browser bundle calls them on every filter change and the tests call them against ground truth.
 *
 * Rows arrive pre-aggregated per day (the rpt_* views), so combining days or workflows must stay
 * honest: counts add up, rates are recomputed from counts (never averaged), means are weighted by the
 * count they were taken over. Percentiles cannot be combined exactly: across several workflows the
 * duration panel shows the runs-weighted mean of each workflow's daily p50/p95 and says so; for a single
 * workflow in a single repository it is exact.
 */
import type {
  BranchFailureRow,
  CostRow,
  HealthRow,
  KpiDailyRow,
  KpiRow,
  PackageRow,
  ReportData,
  RunnerRow,
  RunningRow,
  TopologyEdge,
  TopologyNode,
} from "./model.js";

export interface Filter {
  repository: string | null;
  workflow: string | null;
  /** Inclusive UTC days, YYYY-MM-DD. */
  from: string | null;
  to: string | null;
}

export const NO_FILTER: Filter = { repository: null, workflow: null, from: null, to: null };

export function inRange(date: string, f: Filter): boolean {
  return (f.from === null || date >= f.from) && (f.to === null || date <= f.to);
}

export function matchesScope(row: { repository: string; workflow: string | null }, f: Filter): boolean {
  return (f.repository === null || row.repository === f.repository) && (f.workflow === null || row.workflow === f.workflow);
}

function addDays(date: string, n: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
}

/** Every UTC day from `from` to `to`, inclusive. */
export function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let d = from; d <= to && out.length < 3660; d = addDays(d, 1)) out.push(d);
  return out;
}

/** First and last day that any dated panel has data for. */
export function dataSpan(data: ReportData): { min: string | null; max: string | null } {
  const dates = [...data.health.map((r) => r.date), ...data.runners.map((r) => r.date), ...data.kpiDaily.map((r) => r.date)];
  if (dates.length === 0) return { min: null, max: null };
  dates.sort();
  return { min: dates[0] ?? null, max: dates[dates.length - 1] ?? null };
}

/** Repositories and, for a repository (or all), the workflow names, for the filter menus. */
export function repositories(data: ReportData): string[] {
  return [...new Set(data.health.map((r) => r.repository).concat(data.nodes.map((n) => n.repository)))].sort();
}

export function workflows(data: ReportData, repository: string | null): string[] {
  const names = data.health.filter((r) => repository === null || r.repository === repository).map((r) => r.workflow);
  return [...new Set(names)].sort();
}

const ratio = (num: number, den: number): number | null => (den > 0 ? num / den : null);

// ---------------------------------------------------------------- KPI cards

export type KpiFormat = "percent" | "count" | "duration";

export interface KpiCard {
  id: "success-rate" | "total-runs" | "avg-duration" | "failures-24h";
  label: string;
  period: string;
  format: KpiFormat;
  value: number | null;
  previous: number | null;
  /** Relative change for counts and durations, difference in percentage points for rates. */
  change: number | null;
  /** Whether a rise is good news (green), bad news (red) or neither. */
  rising: "good" | "bad" | "neutral";
  sparkDates: string[];
  spark: (number | null)[];
}

const SPARK_DAYS = 14;

function relativeChange(current: number | null, previous: number | null): number | null {
  if (current === null || previous === null || previous === 0) return null;
  return (current - previous) / previous;
}

export function kpiCards(data: ReportData): KpiCard[] {
  const byPeriod = new Map<string, KpiRow>(data.kpis.map((k) => [k.period, k]));
  const week = byPeriod.get("last_7d");
  const day = byPeriod.get("last_24h");
  const span = dataSpan(data);
  const end = data.referenceTime ? data.referenceTime.slice(0, 10) : span.max;
  const dates = end ? daysBetween(addDays(end, -(SPARK_DAYS - 1)), end) : [];
  const totals = new Map<string, { runs: number; successes: number; failures: number }>();
  for (const r of data.health) {
    const t = totals.get(r.date) ?? { runs: 0, successes: 0, failures: 0 };
    t.runs += r.runs;
    t.successes += r.successes;
    t.failures += r.failures;
    totals.set(r.date, t);
  }
  const duration = new Map<string, KpiDailyRow>(data.kpiDaily.map((r) => [r.date, r]));
  const series = (f: (date: string) => number | null) => dates.map(f);
  return [
    {
      id: "success-rate",
      label: "Success rate",
      period: "last 7 days",
      format: "percent",
      value: week?.success_rate_current ?? null,
      previous: week?.success_rate_previous ?? null,
      change: week && week.success_rate_current !== null && week.success_rate_previous !== null ? week.success_rate_current - week.success_rate_previous : null,
      rising: "good",
      sparkDates: dates,
      spark: series((d) => {
        const t = totals.get(d);
        return t ? ratio(t.successes, t.successes + t.failures) : null;
      }),
    },
    {
      id: "total-runs",
      label: "Total runs",
      period: "last 7 days",
      format: "count",
      value: week?.runs_current ?? null,
      previous: week?.runs_previous ?? null,
      change: relativeChange(week?.runs_current ?? null, week?.runs_previous ?? null),
      rising: "neutral",
      sparkDates: dates,
      spark: series((d) => totals.get(d)?.runs ?? 0),
    },
    {
      id: "avg-duration",
      label: "Average duration",
      period: "last 7 days",
      format: "duration",
      value: week?.avg_duration_seconds_current ?? null,
      previous: week?.avg_duration_seconds_previous ?? null,
      change: relativeChange(week?.avg_duration_seconds_current ?? null, week?.avg_duration_seconds_previous ?? null),
      rising: "bad",
      sparkDates: dates,
      spark: series((d) => duration.get(d)?.avg_duration_seconds ?? null),
    },
    {
      id: "failures-24h",
      label: "Failures",
      period: "last 24 hours",
      format: "count",
      value: day?.failures_current ?? null,
      previous: day?.failures_previous ?? null,
      change: relativeChange(day?.failures_current ?? null, day?.failures_previous ?? null),
      rising: "bad",
      sparkDates: dates,
      spark: series((d) => totals.get(d)?.failures ?? 0),
    },
  ];
}

// ---------------------------------------------------------------- pass rate and duration

export interface Series {
  name: string;
  values: (number | null)[];
}

function healthIn(health: HealthRow[], f: Filter): HealthRow[] {
  return health.filter((r) => inRange(r.date, f) && matchesScope(r, f));
}

function axisDays(rows: { date: string }[], f: Filter): string[] {
  if (rows.length === 0) return [];
  const sorted = rows.map((r) => r.date).sort();
  return daysBetween(f.from ?? (sorted[0] as string), f.to ?? (sorted[sorted.length - 1] as string));
}

/** Daily pass rate (successes / (successes + failures)) of the busiest `top` workflows in scope. */
export function passRateByWorkflow(health: HealthRow[], f: Filter, top = 8): { dates: string[]; series: (Series & { runs: number })[] } {
  const rows = healthIn(health, f);
  const dates = axisDays(rows, f);
  const groups = new Map<string, { name: string; runs: number; days: Map<string, { s: number; f: number }> }>();
  for (const r of rows) {
    const key = `${r.repository}\u0000${r.workflow}`;
    const name = f.repository === null ? `${r.repository} · ${r.workflow}` : r.workflow;
    const g = groups.get(key) ?? { name, runs: 0, days: new Map() };
    g.runs += r.runs;
    const d = g.days.get(r.date) ?? { s: 0, f: 0 };
    d.s += r.successes;
    d.f += r.failures;
    g.days.set(r.date, d);
    groups.set(key, g);
  }
  const busiest = [...groups.values()].sort((a, b) => b.runs - a.runs || a.name.localeCompare(b.name)).slice(0, top);
  return {
    dates,
    series: busiest.map((g) => ({
      name: g.name,
      runs: g.runs,
      values: dates.map((d) => {
        const c = g.days.get(d);
        return c ? ratio(c.s, c.s + c.f) : null;
      }),
    })),
  };
}

/** Daily p50/p95 run duration; exact for one workflow of one repository, else the runs-weighted mean. */
export function durationTrend(health: HealthRow[], f: Filter): { dates: string[]; p50: (number | null)[]; p95: (number | null)[]; exact: boolean; runs: number } {
  const rows = healthIn(health, f).filter((r) => r.p50 !== null && r.p95 !== null);
  const dates = axisDays(rows, f);
  const acc = new Map<string, { w: number; p50: number; p95: number }>();
  for (const r of rows) {
    const a = acc.get(r.date) ?? { w: 0, p50: 0, p95: 0 };
    a.w += r.runs;
    a.p50 += (r.p50 as number) * r.runs;
    a.p95 += (r.p95 as number) * r.runs;
    acc.set(r.date, a);
  }
  const keys = new Set(rows.map((r) => `${r.repository}\u0000${r.workflow}`));
  const mean = (d: string, k: "p50" | "p95") => {
    const a = acc.get(d);
    return a && a.w > 0 ? a[k] / a.w : null;
  };
  return {
    dates,
    p50: dates.map((d) => mean(d, "p50")),
    p95: dates.map((d) => mean(d, "p95")),
    exact: keys.size <= 1,
    runs: rows.reduce((n, r) => n + r.runs, 0),
  };
}

// ---------------------------------------------------------------- failures by branch

export function failuresByBranch(rows: BranchFailureRow[], f: Filter, top = 15): { branch: string; failures: number; workflows: number }[] {
  const acc = new Map<string, { failures: number; workflows: Set<string> }>();
  for (const r of rows) {
    if (!inRange(r.date, f) || !matchesScope(r, f)) continue;
    const a = acc.get(r.branch) ?? { failures: 0, workflows: new Set<string>() };
    a.failures += r.failures;
    a.workflows.add(`${r.repository}/${r.workflow}`);
    acc.set(r.branch, a);
  }
  return [...acc.entries()]
    .map(([branch, a]) => ({ branch, failures: a.failures, workflows: a.workflows.size }))
    .filter((r) => r.failures > 0)
    .sort((a, b) => b.failures - a.failures || a.branch.localeCompare(b.branch))
    .slice(0, top);
}

// ---------------------------------------------------------------- runners

/** A runner label set's figures over the whole date range: a `RunnerRow` without its day. */
export type RunnerSummary = Omit<RunnerRow, "date">;

/**
 * Per runner label set over the date range (the view has no repository or workflow: it is about
 * runners). Means are weighted by started jobs; p95s are the started-jobs-weighted mean of daily p95s.
 */
export function runnerSummary(rows: RunnerRow[], f: Filter, top = 12): RunnerSummary[] {
  const acc = new Map<string, RunnerSummary & { wq: number; wp95q: number; wd: number; wp95d: number; nq: number; nd: number; np95d: number }>();
  for (const r of rows) {
    if (!inRange(r.date, f)) continue;
    const key = r.labels;
    const a = acc.get(key) ?? {
      labels: r.labels, runner_os: r.runner_os, self_hosted: r.self_hosted, jobs: 0, started_jobs: 0,
      avg_queue_seconds: null, p95_queue_seconds: null, avg_duration_seconds: null, p95_duration_seconds: null,
      wq: 0, wp95q: 0, wd: 0, wp95d: 0, nq: 0, nd: 0, np95d: 0,
    };
    a.jobs += r.jobs;
    a.started_jobs += r.started_jobs;
    if (r.avg_queue_seconds !== null && r.started_jobs > 0) {
      a.wq += r.avg_queue_seconds * r.started_jobs;
      a.wp95q += (r.p95_queue_seconds ?? 0) * r.started_jobs;
      a.nq += r.started_jobs;
    }
    if (r.avg_duration_seconds !== null && r.started_jobs > 0) {
      a.wd += r.avg_duration_seconds * r.started_jobs;
      a.nd += r.started_jobs;
    }
    if (r.p95_duration_seconds !== null && r.started_jobs > 0) {
      a.wp95d += r.p95_duration_seconds * r.started_jobs;
      a.np95d += r.started_jobs;
    }
    acc.set(key, a);
  }
  return [...acc.values()]
    .map((a) => ({
      labels: a.labels,
      runner_os: a.runner_os,
      self_hosted: a.self_hosted,
      jobs: a.jobs,
      started_jobs: a.started_jobs,
      avg_queue_seconds: ratio(a.wq, a.nq),
      p95_queue_seconds: ratio(a.wp95q, a.nq),
      avg_duration_seconds: ratio(a.wd, a.nd),
      p95_duration_seconds: ratio(a.wp95d, a.np95d),
    }))
    .sort((a, b) => b.jobs - a.jobs || a.labels.localeCompare(b.labels))
    .slice(0, top);
}

// ---------------------------------------------------------------- running now

export function runningNow(rows: RunningRow[], f: Filter): { byStatus: { status: string; runs: number; jobs: number }[]; oldest: RunningRow[]; total: number } {
  const scoped = rows.filter((r) => matchesScope(r, f));
  const acc = new Map<string, { runs: number; jobs: number }>();
  for (const r of scoped) {
    const a = acc.get(r.status) ?? { runs: 0, jobs: 0 };
    if (r.entity_type === "run") a.runs += 1;
    else a.jobs += 1;
    acc.set(r.status, a);
  }
  const order = ["queued", "waiting", "pending", "requested", "in_progress"];
  const rank = (s: string) => (order.indexOf(s) === -1 ? order.length : order.indexOf(s));
  return {
    byStatus: [...acc.entries()].map(([status, a]) => ({ status, ...a })).sort((a, b) => rank(a.status) - rank(b.status) || a.status.localeCompare(b.status)),
    oldest: [...scoped].sort((a, b) => (b.age_seconds ?? 0) - (a.age_seconds ?? 0) || a.run_id - b.run_id).slice(0, 8),
    total: scoped.length,
  };
}

// ---------------------------------------------------------------- cost

/** A month (YYYY-MM-01) overlaps the range when it starts before `to` and ends after `from`. */
function monthInRange(month: string, f: Filter): boolean {
  return (f.to === null || month <= f.to) && (f.from === null || month >= `${f.from.slice(0, 7)}-01`);
}

export function costByMonth(rows: CostRow[], f: Filter): { months: string[]; series: Series[]; total: number } {
  const scoped = rows.filter((r) => monthInRange(r.month, f) && matchesScope(r, f));
  const months = [...new Set(scoped.map((r) => r.month))].sort();
  const oses = [...new Set(scoped.map((r) => r.runner_os))].sort();
  const series = oses.map((os) => ({
    name: os,
    values: months.map((m) => round2(scoped.filter((r) => r.month === m && r.runner_os === os).reduce((n, r) => n + r.cost_usd, 0))),
  }));
  return { months, series, total: round2(scoped.reduce((n, r) => n + r.cost_usd, 0)) };
}

export function costByRepository(rows: CostRow[], f: Filter, top = 12): { repository: string; cost_usd: number; billable_minutes: number }[] {
  const acc = new Map<string, { cost_usd: number; billable_minutes: number }>();
  for (const r of rows) {
    if (!monthInRange(r.month, f) || !matchesScope(r, f)) continue;
    const a = acc.get(r.repository) ?? { cost_usd: 0, billable_minutes: 0 };
    a.cost_usd += r.cost_usd;
    a.billable_minutes += r.billable_minutes;
    acc.set(r.repository, a);
  }
  return [...acc.entries()]
    .map(([repository, a]) => ({ repository, cost_usd: round2(a.cost_usd), billable_minutes: a.billable_minutes }))
    .sort((a, b) => b.cost_usd - a.cost_usd || a.repository.localeCompare(b.repository))
    .slice(0, top);
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

// ---------------------------------------------------------------- packages

/** A week (its Monday) overlaps the range when it starts before `to` and its Sunday is after `from`. */
function weekInRange(week: string, f: Filter): boolean {
  return (f.to === null || week <= f.to) && (f.from === null || addDays(week, 6) >= f.from);
}

/**
 * Versions published per week and package type. Packages belong to an owner, not a repository: with a
 * repository filter, only packages of that repository's owner are counted.
 */
export function publishFrequency(rows: PackageRow[], f: Filter): { weeks: string[]; series: Series[]; total: number } {
  const owner = f.repository === null ? null : (f.repository.split("/")[0] ?? null);
  const scoped = rows.filter((r) => weekInRange(r.week, f) && (owner === null || r.owner.toLowerCase() === owner.toLowerCase()));
  const weeks = [...new Set(scoped.map((r) => r.week))].sort();
  const types = [...new Set(scoped.map((r) => r.package_type))].sort();
  return {
    weeks,
    series: types.map((t) => ({ name: t, values: weeks.map((w) => scoped.filter((r) => r.week === w && r.package_type === t).reduce((n, r) => n + r.published, 0)) })),
    total: scoped.reduce((n, r) => n + r.published, 0),
  };
}

// ---------------------------------------------------------------- topology

export type TopologyWeight = "failures" | "runtime";

export interface GraphNode {
  id: string;
  name: string;
  category: number;
  value: number;
  symbolSize: number;
  runs: number;
  failures: number;
  runtime_seconds: number;
}

export interface GraphLink {
  source: string;
  target: string;
  value: number;
  width: number;
}

export const NODE_TYPES = ["repository", "workflow", "job"] as const;

/**
 * The repository → workflow → job graph in scope, nodes sized by failures or runtime. The busiest
 * `maxWorkflows` workflows (by the chosen weight) are kept so a big organisation stays readable.
 */
export function topologyGraph(nodes: TopologyNode[], edges: TopologyEdge[], f: Filter, weight: TopologyWeight, maxWorkflows = 25): { nodes: GraphNode[]; links: GraphLink[] } {
  const w = (x: { failures: number; runtime_seconds: number }) => (weight === "failures" ? x.failures : x.runtime_seconds);
  const workflowsInScope = nodes
    .filter((n) => n.type === "workflow" && matchesScope({ repository: n.repository, workflow: n.workflow }, f))
    .sort((a, b) => w(b) - w(a) || a.id.localeCompare(b.id))
    .slice(0, maxWorkflows);
  const keep = new Set(workflowsInScope.map((n) => n.id));
  for (const n of workflowsInScope) keep.add(`repo:${n.repository}`);
  for (const n of nodes) if (n.type === "job" && keep.has(`workflow:${n.repository}/${n.workflow ?? "(unknown)"}`)) keep.add(n.id);
  const kept = nodes.filter((n) => keep.has(n.id));
  const max = Math.max(1, ...kept.map(w));
  const links = edges.filter((e) => keep.has(e.source) && keep.has(e.target));
  const maxLink = Math.max(1, ...links.map(w));
  return {
    nodes: kept.map((n) => ({
      id: n.id,
      name: n.label,
      category: Math.max(0, NODE_TYPES.indexOf(n.type as (typeof NODE_TYPES)[number])),
      value: w(n),
      symbolSize: 8 + 42 * Math.sqrt(w(n) / max),
      runs: n.runs,
      failures: n.failures,
      runtime_seconds: n.runtime_seconds,
    })),
    links: links.map((e) => ({ source: e.source, target: e.target, value: w(e), width: 1 + 5 * (w(e) / maxLink) })),
  };
}

// ---------------------------------------------------------------- formatting

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export function formatKpi(value: number | null, format: KpiFormat): string {
  if (value === null) return "—";
  if (format === "percent") return `${(value * 100).toFixed(1)}%`;
  if (format === "duration") return formatDuration(value);
  return Math.round(value).toLocaleString("en-US");
}

export function formatChange(card: Pick<KpiCard, "change" | "format">): string {
  if (card.change === null) return "no previous period";
  const sign = card.change > 0 ? "+" : card.change < 0 ? "−" : "±";
  const abs = Math.abs(card.change);
  return card.format === "percent" ? `${sign}${(abs * 100).toFixed(1)} pp` : `${sign}${(abs * 100).toFixed(1)}%`;
}
