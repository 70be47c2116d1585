/**
 * The status wall's HTML: styles, the page's settings (JSON) and the bundled script, inlined. The
 * Content-Security-Policy lets the page talk to its own origin only (`connect-src 'self'`) and run only
 * its own script, so "no other origin" is enforced by the browser.
 */
import { createHash } from "node:crypto";
import { embedJson, escapeHtml } from "../../report/html.js";

export interface WallSettings {
  refreshSeconds: number;
  version: string;
}

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#f3f4f6}
header{display:flex;align-items:baseline;gap:16px;padding:12px 24px;background:#111827;color:#f9fafb}
header h1{margin:0;font-size:18px}
header p{margin:0;color:#9ca3af;font-size:12px}
#state{margin-left:auto;font-size:12px;color:#9ca3af}
#state.error{color:#fca5a5}
.filters{display:flex;flex-wrap:wrap;gap:12px;align-items:end;padding:10px 24px;background:#fff;border-bottom:1px solid #e5e7eb;position:sticky;top:0;z-index:2}
.filters label{display:flex;flex-direction:column;font-size:12px;color:#4b5563;gap:2px}
.filters select{font:inherit;padding:4px 6px;border:1px solid #d1d5db;border-radius:4px;background:#fff;min-width:160px}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px;padding:16px 24px}
.panel{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:12px 16px;min-width:0}
.panel.wide{grid-column:1/-1}
.panel h2{margin:0 0 8px;font-size:15px}
.note{margin:0 0 8px;font-size:12px;color:#6b7280}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:8px}
.tile{display:block;border-radius:6px;padding:8px 10px;color:#fff;text-decoration:none;background:#6b7280;min-height:64px}
.tile .repo{font-size:11px;opacity:.85;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.tile .wf{font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.tile .st{font-size:12px}
.s-success{background:#15803d}.s-failure,.s-timed_out,.s-startup_failure{background:#b91c1c}
.s-cancelled,.s-skipped,.s-neutral,.s-stale{background:#6b7280}.s-action_required{background:#c2410c}
.s-in_progress{background:#1d4ed8}.s-queued,.s-waiting,.s-requested,.s-pending{background:#a16207}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:8px}
.kpi{border:1px solid #e5e7eb;border-radius:6px;padding:8px 10px}
.kpi-label{font-size:12px;color:#4b5563}.kpi-value{font-size:22px;font-weight:600}
table{border-collapse:collapse;width:100%;font-size:12px}
th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #f3f4f6;white-space:nowrap}
#runs-table tbody tr{cursor:pointer}#runs-table tbody tr:hover,#runs-table tbody tr.selected{background:#eff6ff}
.badge{display:inline-block;border-radius:4px;padding:0 6px;color:#fff;font-size:11px}
svg{display:block;width:100%;height:120px}
.empty{color:#6b7280;font-size:12px}
.sev-critical{background:#b91c1c}.sev-warning{background:#c2410c}.sev-info{background:#1d4ed8}
#panel-alerts{border-color:#fca5a5}
aside{position:fixed;top:0;right:0;bottom:0;width:min(560px,90vw);background:#fff;border-left:1px solid #d1d5db;box-shadow:-4px 0 16px rgba(0,0,0,.15);padding:12px 16px;overflow:auto;z-index:5}
aside[hidden]{display:none}
aside pre{font-size:11px;background:#f9fafb;border:1px solid #e5e7eb;padding:8px;white-space:pre-wrap;word-break:break-all}
aside button{float:right;font:inherit}
footer{padding:8px 24px 24px;color:#6b7280;font-size:12px}
`;

export function renderWall(settings: WallSettings, script: string): string {
  if (/<\/script/i.test(script)) throw new Error("wall bundle contains </script and cannot be inlined");
  const scriptHash = createHash("sha256").update(script).digest("base64");
  const csp = wallCsp(scriptHash);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<title>CI status · actions-warehouse</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>CI status</h1>
<p>actions-warehouse ${escapeHtml(settings.version)} · refreshes every ${settings.refreshSeconds} s · times in UTC</p>
<span id="state">loading…</span>
</header>
<div class="filters" role="search">
<label>Repository<select id="filter-repository"><option value="">all repositories</option></select></label>
<label>Workflow<select id="filter-workflow"><option value="">all workflows</option></select></label>
<label>Time range<select id="filter-range">
<option value="1">last hour</option><option value="6">last 6 hours</option><option value="24">last 24 hours</option>
<option value="168" selected>last 7 days</option><option value="720">last 30 days</option><option value="8760">last year</option>
</select></label>
</div>
<main>
<section class="panel wide" id="panel-alerts" hidden><h2>Firing alerts</h2><p class="note">Rules of alerts.yml firing at the server's last evaluation, every repository (the filters do not apply).</p><table id="alerts-table"><thead><tr><th>Severity</th><th>Rule</th><th>Scope</th><th>What</th><th>Firing since</th><th>Acknowledged</th></tr></thead><tbody></tbody></table><p class="empty" id="alerts-empty" hidden>No alert is firing.</p></section>
<section class="panel wide" id="panel-tiles"><h2>Latest status per repository and workflow</h2><div class="tiles" id="tiles"></div></section>
<section class="panel" id="panel-summary"><h2>Runs in range</h2><div class="kpis" id="kpis"></div><div id="series"></div></section>
<section class="panel" id="panel-queue"><h2>Queue-to-start latency (jobs in range)</h2><div class="kpis" id="queue"></div></section>
<section class="panel wide" id="panel-open"><h2>Running and queued now</h2><table id="open-table"><thead><tr><th>Status</th><th>Age</th><th>Repository</th><th>Workflow</th><th>Job</th><th>Branch</th><th>Run</th></tr></thead><tbody></tbody></table><p class="empty" id="open-empty" hidden>Nothing is running or queued.</p></section>
<section class="panel wide" id="panel-runs"><h2>Recent runs</h2><p class="note">Latest attempt of each run; click a row for its raw payload.</p><table id="runs-table"><thead><tr><th>Status</th><th>Repository</th><th>Workflow</th><th>Branch</th><th>Triggered by</th><th>Created</th><th>Duration</th><th>Run</th></tr></thead><tbody></tbody></table><p class="empty" id="runs-empty" hidden>No runs in this range.</p></section>
</main>
<aside id="run-panel" hidden aria-label="Run details"><button type="button" id="run-panel-close">Close</button><h2 id="run-panel-title"></h2><p><a id="run-panel-link" href="#" target="_blank" rel="noopener noreferrer">Open the run on GitHub</a></p><pre id="run-panel-payload"></pre></aside>
<footer>Tiles and the running list show the state now (repository and workflow filters apply); the other panels follow the time range. Data from the warehouse models, loaded from webhooks within seconds.</footer>
<script type="application/json" id="wall-settings">${embedJson(settings)}</script>
<script>${script}</script>
</body>
</html>
`;
}

export function wallCsp(scriptHash: string): string {
  return `default-src 'none'; script-src 'sha256-${scriptHash}'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'`;
}
