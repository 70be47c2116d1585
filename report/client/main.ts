/**
 * The dashboard in the browser: reads the embedded ReportData, draws every panel with ECharts (SVG
 * renderer: crisp when printed or zoomed, and inspectable) and redraws on every filter change. Bundled
 * with esbuild into the HTML file by report/build.ts; nothing is fetched at run time.
 */
import * as echarts from "echarts/core";
import { BarChart, GraphChart, LineChart } from "echarts/charts";
import { GraphicComponent, GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import { SVGRenderer } from "echarts/renderers";
import type { EChartsCoreOption } from "echarts/core";
import {
  costByMonth,
  costByRepository,
  dataSpan,
  durationTrend,
  failuresByBranch,
  formatChange,
  formatDuration,
  formatKpi,
  kpiCards,
  NODE_TYPES,
  passRateByWorkflow,
  publishFrequency,
  repositories,
  runnerSummary,
  runningNow,
  topologyGraph,
  workflows,
  type Filter,
  type TopologyWeight,
} from "../aggregate.js";
import type { PanelId, ReportData } from "../model.js";
import { DAG_NODE_KINDS, dagLayout, hasDag, pathLabel } from "../dag-panel.js";

echarts.use([LineChart, BarChart, GraphChart, GridComponent, TooltipComponent, LegendComponent, GraphicComponent, SVGRenderer]);

const PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563", "#65a30d", "#ea580c"];

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`report page is missing #${id}`);
  return el as T;
}

function text(tag: string, content: string, className?: string): HTMLElement {
  const el = document.createElement(tag);
  el.textContent = content;
  if (className) el.className = className;
  return el;
}

const data = JSON.parse(byId<HTMLScriptElement>("report-data").textContent ?? "{}") as ReportData;
const charts = new Map<string, echarts.ECharts>();

function chart(id: string): echarts.ECharts {
  let c = charts.get(id);
  if (!c) {
    c = echarts.init(byId(id), undefined, { renderer: "svg" });
    charts.set(id, c);
  }
  return c;
}

/** Records how many data points a panel drew, for people (empty notice) and the browser test. */
function mark(panel: PanelId, points: number): void {
  const el = byId(`panel-${panel}`);
  el.dataset.points = String(points);
  el.classList.toggle("empty", points === 0);
}

function draw(panel: PanelId, option: EChartsCoreOption, points: number): void {
  const id = `chart-${panel}`;
  mark(panel, points);
  const base: EChartsCoreOption = { color: PALETTE, animation: false, textStyle: { fontFamily: "system-ui, sans-serif" } };
  const empty = points === 0 ? { graphic: { type: "text", left: "center", top: "middle", style: { text: "No data for this selection", fill: "#6b7280", fontSize: 14 } } } : {};
  chart(id).setOption({ ...base, ...option, ...empty }, { notMerge: true });
}

const pct = (v: number) => `${Math.round(v * 100)}%`;

// ---------------------------------------------------------------- filters

const repoSelect = byId<HTMLSelectElement>("filter-repository");
const workflowSelect = byId<HTMLSelectElement>("filter-workflow");
const fromInput = byId<HTMLInputElement>("filter-from");
const toInput = byId<HTMLInputElement>("filter-to");
const weightSelect = byId<HTMLSelectElement>("topology-weight");

function fillSelect(select: HTMLSelectElement, values: string[], allLabel: string, keep: string): void {
  select.replaceChildren(new Option(allLabel, ""), ...values.map((v) => new Option(v, v)));
  select.value = values.includes(keep) ? keep : "";
}

const span = dataSpan(data);
fillSelect(repoSelect, repositories(data), "All repositories", "");
fillSelect(workflowSelect, workflows(data, null), "All workflows", "");
for (const input of [fromInput, toInput]) {
  input.min = span.min ?? "";
  input.max = span.max ?? "";
}
fromInput.value = span.min ?? "";
toInput.value = span.max ?? "";

function currentFilter(): Filter {
  const from = fromInput.value || null;
  const to = toInput.value || null;
  return {
    repository: repoSelect.value || null,
    workflow: workflowSelect.value || null,
    // A reversed range is read as the same range, not as "nothing".
    from: from && to && from > to ? to : from,
    to: from && to && from > to ? from : to,
  };
}

// ---------------------------------------------------------------- panels

function renderKpis(): void {
  const host = byId("kpi-cards");
  host.replaceChildren();
  for (const card of kpiCards(data)) {
    const el = document.createElement("div");
    el.className = "kpi";
    el.id = `kpi-${card.id}`;
    el.append(text("div", `${card.label} · ${card.period}`, "kpi-label"), text("div", formatKpi(card.value, card.format), "kpi-value"));
    const direction = card.change === null || card.change === 0 ? "flat" : card.change > 0 ? "up" : "down";
    const tone = card.rising === "neutral" || direction === "flat" ? "neutral" : (direction === "up") === (card.rising === "good") ? "good" : "bad";
    el.append(text("div", `${formatChange(card)} vs previous (${formatKpi(card.previous, card.format)})`, `kpi-change ${tone}`));
    const spark = document.createElement("div");
    spark.className = "kpi-spark";
    spark.id = `spark-${card.id}`;
    el.append(spark);
    host.append(el);
    const sparkChart = echarts.init(spark, undefined, { renderer: "svg" });
    sparkChart.setOption({
      animation: false,
      grid: { left: 2, right: 2, top: 4, bottom: 2 },
      xAxis: { type: "category", show: false, data: card.sparkDates },
      yAxis: { type: "value", show: false, scale: true },
      tooltip: { trigger: "axis", valueFormatter: (v: unknown) => (typeof v === "number" ? formatKpi(v, card.format) : "—") },
      series: [{ type: "line", data: card.spark, showSymbol: false, smooth: true, connectNulls: true, lineStyle: { width: 2, color: "#2563eb" }, areaStyle: { color: "rgba(37,99,235,0.12)" } }],
    });
    charts.set(spark.id, sparkChart);
  }
  const reference = data.referenceTime ? data.referenceTime.replace("T", " ").replace(/:00\.000Z$/, " UTC") : "no data";
  byId("kpis-note").textContent = `All repositories, as rpt_kpi_summary. Reference time ${reference}; sparklines: last 14 days, daily.`;
  mark("kpis", data.kpis.reduce((n, k) => n + k.runs_current + k.runs_previous, 0) > 0 ? data.kpis.length : 0);
}

function renderPassRate(f: Filter): void {
  const { dates, series } = passRateByWorkflow(data.health, f);
  draw(
    "pass-rate",
    {
      tooltip: { trigger: "axis", valueFormatter: (v: unknown) => (typeof v === "number" ? pct(v) : "—") },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 48, right: 16, top: 16, bottom: 56 },
      xAxis: { type: "category", data: dates },
      yAxis: { type: "value", min: 0, max: 1, axisLabel: { formatter: pct } },
      series: series.map((s) => ({ name: s.name, type: "line", data: s.values, connectNulls: false, showSymbol: dates.length < 40 })),
    },
    series.reduce((n, s) => n + s.values.filter((v) => v !== null).length, 0),
  );
}

function renderDuration(f: Filter): void {
  const t = durationTrend(data.health, f);
  byId("duration-note").textContent = t.exact
    ? "Exact daily percentiles of the selected workflow (rpt_pipeline_health_daily)."
    : "Runs-weighted mean of each workflow's daily p50 / p95 (percentiles cannot be added up); pick one workflow of one repository for exact values.";
  draw(
    "duration",
    {
      tooltip: { trigger: "axis", valueFormatter: (v: unknown) => (typeof v === "number" ? formatDuration(v) : "—") },
      legend: { bottom: 0 },
      grid: { left: 64, right: 16, top: 16, bottom: 48 },
      xAxis: { type: "category", data: t.dates },
      yAxis: { type: "value", axisLabel: { formatter: (v: number) => formatDuration(v) } },
      series: [
        { name: "p50", type: "line", data: t.p50, showSymbol: false },
        { name: "p95", type: "line", data: t.p95, showSymbol: false, lineStyle: { type: "dashed" } },
      ],
    },
    t.p50.filter((v) => v !== null).length,
  );
}

function renderBranches(f: Filter): void {
  const rows = failuresByBranch(data.branchFailures, f).reverse();
  draw(
    "branch-failures",
    {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      grid: { left: 160, right: 24, top: 8, bottom: 24 },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: rows.map((r) => r.branch), axisLabel: { width: 150, overflow: "truncate" } },
      series: [{ name: "failures", type: "bar", data: rows.map((r) => r.failures), itemStyle: { color: "#dc2626" } }],
    },
    rows.length,
  );
}

function renderRunners(f: Filter): void {
  const rows = runnerSummary(data.runners, f);
  const s = (v: number | null) => (v === null ? null : Math.round(v));
  draw(
    "runners",
    {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v: unknown) => (typeof v === "number" ? formatDuration(v) : "—") },
      legend: { bottom: 0 },
      grid: { left: 64, right: 64, top: 16, bottom: 72 },
      xAxis: { type: "category", data: rows.map((r) => `${r.labels}${r.self_hosted ? " (self-hosted)" : ""}`), axisLabel: { rotate: 20, width: 120, overflow: "truncate" } },
      yAxis: [
        { type: "value", name: "queue", axisLabel: { formatter: (v: number) => formatDuration(v) } },
        { type: "value", name: "duration", axisLabel: { formatter: (v: number) => formatDuration(v) } },
      ],
      series: [
        { name: "avg queue", type: "bar", data: rows.map((r) => s(r.avg_queue_seconds)) },
        { name: "p95 queue", type: "bar", data: rows.map((r) => s(r.p95_queue_seconds)) },
        { name: "avg job duration", type: "line", yAxisIndex: 1, data: rows.map((r) => s(r.avg_duration_seconds)) },
      ],
    },
    rows.length,
  );
}

function renderRunning(f: Filter): void {
  const r = runningNow(data.running, f);
  draw(
    "running",
    {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { bottom: 0 },
      grid: { left: 88, right: 16, top: 8, bottom: 40 },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", data: r.byStatus.map((s) => s.status) },
      series: [
        { name: "runs", type: "bar", stack: "n", data: r.byStatus.map((s) => s.runs) },
        { name: "jobs", type: "bar", stack: "n", data: r.byStatus.map((s) => s.jobs) },
      ],
    },
    r.total,
  );
  const table = byId("running-table");
  const rows = r.oldest.map((item) => {
    const tr = document.createElement("tr");
    for (const cell of [item.entity_type, `${item.repository} · ${item.workflow}${item.job_name ? ` · ${item.job_name}` : ""}`, item.status, formatDuration(item.age_seconds)]) tr.append(text("td", cell));
    return tr;
  });
  const head = document.createElement("tr");
  for (const h of ["", "oldest open items", "status", "age"]) head.append(text("th", h));
  table.replaceChildren(head, ...rows);
  const capped = data.running.length < data.runningTotal ? ` (the report holds the ${data.running.length} oldest of ${data.runningTotal})` : "";
  byId("running-note").textContent = `${r.total} open runs and jobs in scope at the reference time${capped}.`;
}

function renderCost(f: Filter): void {
  const m = costByMonth(data.cost, f);
  const money = (v: unknown) => (typeof v === "number" ? `$${v.toLocaleString("en-US", { maximumFractionDigits: 2 })}` : "—");
  draw(
    "cost-month",
    {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: money },
      legend: { bottom: 0 },
      grid: { left: 64, right: 16, top: 16, bottom: 48 },
      xAxis: { type: "category", data: m.months.map((x) => x.slice(0, 7)) },
      yAxis: { type: "value", axisLabel: { formatter: (v: number) => `$${v}` } },
      series: m.series.map((s) => ({ name: s.name, type: "bar", stack: "cost", data: s.values })),
    },
    m.months.length,
  );
  const repos = costByRepository(data.cost, f).reverse();
  draw(
    "cost-repo",
    {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: money },
      grid: { left: 140, right: 24, top: 8, bottom: 24 },
      xAxis: { type: "value", axisLabel: { formatter: (v: number) => `$${v}` } },
      yAxis: { type: "category", data: repos.map((r) => r.repository), axisLabel: { width: 130, overflow: "truncate" } },
      series: [{ name: "estimated cost", type: "bar", data: repos.map((r) => r.cost_usd), itemStyle: { color: "#d97706" } }],
    },
    repos.length,
  );
  byId("cost-repo-note").textContent = `Total in scope: ${money(m.total)} (whole months overlapping the date range).`;
}

function renderPackages(f: Filter): void {
  const p = publishFrequency(data.packages, f);
  draw(
    "packages",
    {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { bottom: 0 },
      grid: { left: 48, right: 16, top: 16, bottom: 48 },
      xAxis: { type: "category", data: p.weeks },
      yAxis: { type: "value", minInterval: 1 },
      series: p.series.map((s) => ({ name: s.name, type: "bar", stack: "versions", data: s.values })),
    },
    p.weeks.length,
  );
}

const DAG_COLORS: Record<(typeof DAG_NODE_KINDS)[number], string> = { workflow: "#2563eb", job: "#16a34a", "called workflow": "#9333ea" };

/** The real workflow DAG (report/dag-panel.ts): layered left to right, the usual critical path in red. */
function renderDag(f: Filter, weight: TopologyWeight): void {
  const g = dagLayout(data, f, weight);
  const critical = "#dc2626";
  // As tall as the bands need (about 26 px a row), so the laid-out graph keeps its proportions.
  byId("chart-topology").style.height = `${Math.max(300, Math.min(1600, 80 + 26 * g.rows))}px`;
  charts.get("chart-topology")?.resize();
  draw(
    "topology",
    {
      tooltip: {
        formatter: (p: unknown) => {
          const d = (p as { dataType?: string; data?: { name?: string; band?: string; kind?: string; executions?: number; failures?: number; runtime_seconds?: number; avg_span_seconds?: number | null; critical?: boolean } }).data;
          if (!d || d.name === undefined) return "";
          const span = d.avg_span_seconds === null || d.avg_span_seconds === undefined ? "" : `<br/>mean span ${formatDuration(d.avg_span_seconds)}`;
          return `${d.band ?? ""}<br/><b>${d.name}</b> (${d.kind ?? ""})<br/>${d.executions ?? 0} executions, ${d.failures ?? 0} failures<br/>runtime ${formatDuration(d.runtime_seconds ?? 0)}${span}${d.critical ? "<br/>on the usual critical path" : ""}`;
        },
      },
      legend: { data: [...DAG_NODE_KINDS], top: 0 },
      series: [
        {
          type: "graph",
          layout: "none",
          top: 32,
          bottom: 8,
          left: 220,
          right: 160,
          roam: true,
          preserveAspect: "contain",
          preserveAspectAlign: "left",
          preserveAspectVerticalAlign: "top",
          categories: DAG_NODE_KINDS.map((name) => ({ name, itemStyle: { color: DAG_COLORS[name] } })),
          data: g.nodes.map((n) => ({
            ...n,
            category: DAG_NODE_KINDS.indexOf(n.kind),
            itemStyle: n.critical ? { borderColor: critical, borderWidth: 3 } : undefined,
            // A band's workflow node is labelled on its left (the series leaves room), jobs on their right.
            label: n.kind === "workflow" ? { position: "left" } : undefined,
          })),
          links: g.links.map((l) => ({
            source: l.source,
            target: l.target,
            lineStyle: { width: l.width, color: l.critical ? critical : l.kind === "needs" ? "#6b7280" : "#9333ea", type: l.kind === "needs" ? "solid" : "dashed", curveness: l.kind === "workflow_run" ? 0.3 : 0 },
          })),
          edgeSymbol: ["none", "arrow"],
          edgeSymbolSize: 7,
          label: { show: true, position: "right", fontSize: 10 },
          emphasis: { focus: "adjacency" },
        },
      ],
    },
    g.nodes.length,
  );
  const table = byId("dag-paths");
  const head = document.createElement("tr");
  for (const h of ["workflow", "p50 critical path", "share of wall time", "job most often on it", "usual critical path (latest version)"]) head.append(text("th", h));
  const rows = g.bands.map((b) => {
    const tr = document.createElement("tr");
    tr.dataset.workflow = `${b.repository}/${b.workflow_path}`;
    const top = b.top_job_id === null ? "—" : `${pathLabel(b.top_job_id, b.labels)} (${pct(b.top_job_rate ?? 0)} of ${b.run_attempts})`;
    const usual = b.usual_critical_path === null ? "—" : `${pathLabel(b.usual_critical_path, b.labels)} (${b.usual_critical_path_runs ?? 0} runs)`;
    for (const cell of [`${b.repository} · ${b.workflow}`, formatDuration(b.p50_critical_path_seconds), b.p50_share_of_wall_time === null ? "—" : pct(b.p50_share_of_wall_time), top, usual]) tr.append(text("td", cell));
    return tr;
  });
  table.replaceChildren(head, ...rows);
  // What was drawn, for people reading the DOM and the browser test: workflows, nodes on a critical path.
  const panel = byId("panel-topology");
  panel.dataset.view = "dag";
  panel.dataset.workflows = String(g.bands.length);
  panel.dataset.critical = String(g.nodes.filter((n) => n.critical).length);
  byId("topology-note").textContent =
    "Each workflow's latest file version: jobs layered left to right by needs (layer = longest chain from a root), node size by the chosen weight; red: the critical path most often seen. All time; the date range does not apply. Drag, scroll to zoom.";
}

function renderTopology(f: Filter): void {
  const weight = weightSelect.value as TopologyWeight;
  if (hasDag(data)) {
    renderDag(f, weight);
    return;
  }
  byId("dag-paths").replaceChildren();
  byId("panel-topology").dataset.view = "names";
  byId("chart-topology").style.height = "";
  charts.get("chart-topology")?.resize();
  byId("topology-note").textContent = "No workflow files extracted: repository → workflow → job by name; node size by the chosen weight (job names without matrix suffix). Drag, scroll to zoom.";
  const g = topologyGraph(data.nodes, data.edges, f, weight);
  draw(
    "topology",
    {
      tooltip: {
        formatter: (p: unknown) => {
          const d = (p as { data?: { name?: string; runs?: number; failures?: number; runtime_seconds?: number } }).data;
          return d && d.name !== undefined ? `${d.name}<br/>${d.runs ?? 0} runs, ${d.failures ?? 0} failures<br/>runtime ${formatDuration(d.runtime_seconds ?? 0)}` : "";
        },
      },
      legend: { data: [...NODE_TYPES], top: 0 },
      series: [
        {
          type: "graph",
          layout: "force",
          top: 32,
          bottom: 8,
          roam: true,
          draggable: true,
          categories: NODE_TYPES.map((name) => ({ name })),
          data: g.nodes,
          links: g.links.map((l) => ({ ...l, lineStyle: { width: l.width } })),
          label: { show: true, position: "right", fontSize: 10 },
          labelLayout: { hideOverlap: true },
          force: { repulsion: 150, edgeLength: [30, 70], gravity: 0.1 },
          lineStyle: { color: "source", opacity: 0.5, curveness: 0.1 },
          emphasis: { focus: "adjacency" },
        },
      ],
    },
    g.nodes.length,
  );
}

function render(): void {
  const f = currentFilter();
  renderPassRate(f);
  renderDuration(f);
  renderBranches(f);
  renderRunners(f);
  renderRunning(f);
  renderCost(f);
  renderPackages(f);
  renderTopology(f);
  byId("scope").textContent = [f.repository ?? "all repositories", f.workflow ?? "all workflows", `${f.from ?? "…"} to ${f.to ?? "…"}`].join(" · ");
}

repoSelect.addEventListener("change", () => {
  fillSelect(workflowSelect, workflows(data, repoSelect.value || null), "All workflows", workflowSelect.value);
  render();
});
for (const el of [workflowSelect, fromInput, toInput, weightSelect]) el.addEventListener("change", render);
byId<HTMLButtonElement>("filter-reset").addEventListener("click", () => {
  repoSelect.value = "";
  fillSelect(workflowSelect, workflows(data, null), "All workflows", "");
  fromInput.value = span.min ?? "";
  toInput.value = span.max ?? "";
  render();
});
window.addEventListener("resize", () => {
  for (const c of charts.values()) c.resize();
});

renderKpis();
render();
document.documentElement.dataset.ready = "true";
