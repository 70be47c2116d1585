/**
 * The dashboard page: one HTML file holding its styles, its data (JSON) and its script (the esbuild
 * bundle of report/client/ with ECharts). A Content-Security-Policy with `default-src 'none'` makes the
 * "offline, nothing fetched" promise enforced by the browser rather than hoped for.
 */
import { createHash } from "node:crypto";
import { alertPanel, formatDuration, scopeLabel } from "./alerts.js";
import { PANELS, type AlertRow, type PanelId, type ReportData } from "./model.js";
import { renderTestsPanel } from "./tests-panel.js";
import { renderFlakyJobsPanel } from "./flaky-jobs-panel.js";

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string);
}

/** JSON that cannot close its <script> element or open a comment, whatever strings the data holds. */
export function embedJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026");
}

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#f3f4f6}
header{padding:16px 24px;background:#111827;color:#f9fafb}
header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#9ca3af;font-size:12px}
.filters{display:flex;flex-wrap:wrap;gap:12px;align-items:end;padding:12px 24px;background:#fff;border-bottom:1px solid #e5e7eb;position:sticky;top:0;z-index:2}
.filters label{display:flex;flex-direction:column;font-size:12px;color:#4b5563;gap:2px}
.filters select,.filters input,.filters button{font:inherit;padding:4px 6px;border:1px solid #d1d5db;border-radius:4px;background:#fff}
.filters button{cursor:pointer}
#scope{margin-left:auto;font-size:12px;color:#4b5563}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px;padding:16px 24px}
.panel{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px 16px;min-width:0}
.panel.wide{grid-column:1/-1}
.panel h2{margin:0 0 4px;font-size:15px}
.note{margin:0 0 8px;font-size:12px;color:#6b7280;min-height:1em}
.chart{height:300px}
.chart.tall{height:520px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:12px}
.kpi{border:1px solid #e5e7eb;border-radius:6px;padding:10px 12px}
.kpi-label{font-size:12px;color:#4b5563}
.kpi-value{font-size:26px;font-weight:600;margin:2px 0}
.kpi-change{font-size:12px}
.kpi-change.good{color:#15803d}.kpi-change.bad{color:#b91c1c}.kpi-change.neutral{color:#4b5563}
.kpi-spark{height:44px;margin-top:6px}
table{border-collapse:collapse;width:100%;font-size:12px;margin-top:8px}
th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #f3f4f6}
.panel h3{margin:12px 0 0;font-size:13px}
.alert-totals{display:flex;gap:16px;font-size:13px}
.sev-critical{color:#b91c1c;font-weight:600}.sev-warning{color:#b45309;font-weight:600}.sev-info{color:#1d4ed8}
.empty{color:#4b5563;font-size:13px}
#panel-alerts td:nth-child(-n+2),#panel-alerts code{white-space:nowrap}
footer{padding:8px 24px 24px;color:#6b7280;font-size:12px}
@media print{.filters{position:static}}
`;

function panel(id: PanelId, title: string, body: string, options: { wide?: boolean; note?: string } = {}): string {
  return `<section class="panel${options.wide ? " wide" : ""}" id="panel-${id}" data-points="0">
<h2>${escapeHtml(title)}</h2>
<p class="note"${options.note ? "" : ` id="${id}-note"`}>${options.note ? escapeHtml(options.note) : ""}</p>
${body}
</section>`;
}

const instant = (iso: string | null) => (iso === null ? "" : iso.replace("T", " ").replace(/(:\d{2})\.\d+Z$/, "$1 UTC").replace(/Z$/, " UTC"));

/** A value in its unit: ratios as percentages, seconds as a duration, dollars with cents. */
function measure(value: number, unit: string): string {
  if (unit === "ratio") return `${(value * 100).toFixed(1)}%`;
  if (unit === "seconds") return formatDuration(value);
  if (unit === "usd") return `$${value.toFixed(2)}`;
  return String(Number.isInteger(value) ? value : Number(value.toFixed(3)));
}

function alertTable(id: string, rows: AlertRow[], columns: "open" | "all"): string {
  const head = ["Severity", "Rule", "Scope", "State", "Value / threshold", "Summary", "First seen", columns === "open" ? "Fired" : "Resolved", "Duration", "Acknowledged", "Fingerprint"];
  const body = rows.map((r) => {
    const ack = r.acknowledged_by === null ? "" : `${r.acknowledged_by}${r.acknowledged_until ? ` until ${instant(r.acknowledged_until)}` : ""}`;
    const cells = [
      `<span class="sev-${escapeHtml(r.severity)}">${escapeHtml(r.severity)}</span>`,
      escapeHtml(r.rule),
      escapeHtml(scopeLabel(r)),
      escapeHtml(r.state === "active" && r.episode_state === "pending" ? "active (pending)" : r.state),
      escapeHtml(`${measure(r.value, r.unit)} / ${measure(r.threshold, r.unit)}`),
      escapeHtml(r.summary),
      escapeHtml(instant(r.first_seen_at)),
      escapeHtml(instant(columns === "open" ? r.fired_at : r.resolved_at)),
      escapeHtml(formatDuration(r.duration_seconds)),
      escapeHtml(ack),
      `<code>${escapeHtml(r.fingerprint)}</code>`,
    ];
    return `<tr data-fingerprint="${escapeHtml(r.fingerprint)}" data-episode="${r.episode}" data-state="${r.state}">${cells.map((c) => `<td>${c}</td>`).join("")}</tr>`;
  });
  return `<table id="${id}"><thead><tr>${head.map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${body.join("")}</tbody></table>`;
}

/**
 * The alerts panel, drawn here rather than by the client script: a list to act on (with the fingerprint
 * `alerts ack` takes), readable without script, and not narrowed by the repository/workflow filters.
 */
export function renderAlertsPanel(rows: AlertRow[], referenceTime: string | null): string {
  const p = alertPanel(rows);
  const window = referenceTime ? `the 30 days before ${instant(referenceTime)}` : "the last 30 days";
  const note = `Alert episodes from rpt_alerts: open now, or resolved in ${window}. The filters above do not apply here.`;
  const open = (label: string, id: string, list: AlertRow[], none: string) =>
    `<h3>${label} (${list.length})</h3>${list.length === 0 ? `<p class="empty" id="${id}-none">${none}</p>` : alertTable(id, list, "open")}`;
  const body =
    rows.length === 0
      ? `<p class="empty" id="alerts-empty">No alerts in ${escapeHtml(window)}: no rule of alerts.yml has fired or is pending (or \`actions-warehouse alerts evaluate\` has not run on this warehouse).</p>`
      : [
          `<div class="alert-totals"><span id="alerts-active-count">${p.active.length} active</span><span id="alerts-acknowledged-count">${p.acknowledged.length} acknowledged</span><span id="alerts-resolved-count">${p.recent.length - p.active.length - p.acknowledged.length} resolved</span></div>`,
          open("Active", "alerts-active", p.active, "No active alerts."),
          open("Acknowledged", "alerts-acknowledged", p.acknowledged, "No acknowledged alerts."),
          `<h3>By rule and severity, last 30 days</h3><table id="alerts-counts"><thead><tr><th>Rule</th><th>Severity</th><th>Active</th><th>Acknowledged</th><th>Resolved</th></tr></thead><tbody>${p.counts
            .map((c) => `<tr><td>${escapeHtml(c.rule)}</td><td><span class="sev-${escapeHtml(c.severity)}">${escapeHtml(c.severity)}</span></td><td>${c.active}</td><td>${c.acknowledged}</td><td>${c.resolved}</td></tr>`)
            .join("")}</tbody></table>`,
          `<h3>Last 30 days (${p.recent.length})</h3>${alertTable("alerts-recent", p.recent, "all")}`,
        ].join("\n");
  return `<section class="panel wide" id="panel-alerts" data-alerts="${rows.length}">
<h2>Alerts</h2>
<p class="note">${escapeHtml(note)}</p>
${body}
</section>`;
}

const title = (id: PanelId) => PANELS.find((p) => p.id === id)?.title ?? id;

export function renderPage(data: ReportData, script: string): string {
  if (/<\/script/i.test(script)) throw new Error("report bundle contains </script and cannot be inlined");
  const scriptHash = createHash("sha256").update(script).digest("base64");
  const csp = `default-src 'none'; script-src 'sha256-${scriptHash}'; style-src 'unsafe-inline'; img-src data:`;
  const generated = data.generatedAt.replace("T", " ").replace(/\.\d+Z$/, " UTC");
  const panels = [
    panel("kpis", title("kpis"), `<div class="kpis" id="kpi-cards"></div>`, { wide: true }),
    renderAlertsPanel(data.alerts, data.referenceTime),
    panel("pass-rate", title("pass-rate"), `<div class="chart" id="chart-pass-rate"></div>`, { note: "Daily successes / (successes + failures), latest completed attempts; the 8 busiest workflows in scope." }),
    panel("duration", title("duration"), `<div class="chart" id="chart-duration"></div>`),
    panel("branch-failures", title("branch-failures"), `<div class="chart" id="chart-branch-failures"></div>`, { note: "Failed runs (failure, timed_out, startup_failure) per branch; the 15 branches with most failures." }),
    panel("runners", title("runners"), `<div class="chart" id="chart-runners"></div>`, { note: "Per requested runner labels, every job attempt; date range only (runners are shared by repositories)." }),
    panel("running", title("running"), `<div class="chart" id="chart-running"></div><table id="running-table"></table>`),
    panel("cost-month", title("cost-month"), `<div class="chart" id="chart-cost-month"></div>`, { note: "Billable minutes × the dated rate table (includes/runner_rates.js); self-hosted runners cost 0." }),
    panel("cost-repo", title("cost-repo"), `<div class="chart" id="chart-cost-repo"></div>`),
    panel("packages", title("packages"), `<div class="chart" id="chart-packages"></div>`, { note: "Versions published per ISO week and package type; with a repository filter, the packages of its owner." }),
    panel(
      "topology",
      title("topology"),
      `<div class="chart tall" id="chart-topology"></div><table id="dag-paths"></table>`,
      { wide: true },
    ),
    renderFlakyJobsPanel(data.flakyJobs),
    renderTestsPanel(data),
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<title>${escapeHtml(data.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${escapeHtml(data.title)}</h1>
<p>Generated ${escapeHtml(generated)} from the rpt_* reporting views · opens offline, nothing is fetched</p>
</header>
<div class="filters" id="filters" role="search">
<label>Repository<select id="filter-repository"></select></label>
<label>Workflow<select id="filter-workflow"></select></label>
<label>From<input type="date" id="filter-from"></label>
<label>To<input type="date" id="filter-to"></label>
<label>Topology weight<select id="topology-weight"><option value="failures">failures</option><option value="runtime">runtime</option></select></label>
<button type="button" id="filter-reset">Reset</button>
<span id="scope"></span>
</div>
<main>
${panels.join("\n")}
</main>
<footer>actions-warehouse · charts by Apache ECharts · times in UTC</footer>
<script type="application/json" id="report-data">${embedJson(data)}</script>
<script>${script}</script>
</body>
</html>
`;
}
