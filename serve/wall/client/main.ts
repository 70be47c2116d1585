/**
 * The status wall in the browser: every `refreshSeconds` it reads /api/filters, /api/status,
 * /api/metrics, /api/runs and /api/alerts?state=firing (same origin) and redraws its parts in place. Ages of running and queued
 * items tick every second between refreshes. `html[data-refreshes]` counts completed refreshes (tests).
 */

interface Settings {
  refreshSeconds: number;
  version: string;
}

interface Tile {
  repository: string;
  workflow: string;
  status: string;
  run_id: number;
  html_url: string | null;
  updated_at: string;
  branch: string | null;
}

interface OpenItem {
  kind: "run" | "job";
  run_id: number;
  job_id: number | null;
  repository: string;
  workflow: string | null;
  job_name: string | null;
  branch: string | null;
  status: string;
  created_at: string;
  html_url: string | null;
}

interface StatusAnswer {
  now: string;
  tiles: Tile[];
  open: OpenItem[];
  queue: { jobs: number; avg_seconds: number | null; p50_seconds: number | null; p95_seconds: number | null; max_seconds: number | null; queued_now: number; oldest_queued_seconds: number | null };
}

interface Run {
  id: number;
  run_attempt: number;
  workflow: string | null;
  status: string;
  duration_seconds: number | null;
  created_at: string;
  repo: string;
  branch: string | null;
  triggered_by: string | null;
  html_url: string | null;
}

interface MetricsAnswer {
  summary: { total_runs: number; success_rate: number | null; avg_duration_seconds: number | null; last_updated: string | null };
  time_series: { timestamp: string; success: number; failure: number; avg_duration: number | null }[];
}

interface FiringAlert {
  fingerprint: string;
  rule: string;
  severity: string;
  scope: Record<string, string>;
  summary: string;
  fired_at: string | null;
  acknowledged_by: string | null;
  acknowledged_until: string | null;
}

interface AlertsAnswer {
  alerts: FiringAlert[];
  evaluation: { enabled: boolean };
}

interface FiltersAnswer {
  repositories: string[];
  pairs: { repository: string; workflow: string }[];
}

const byId = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return el as T;
};

const settingsEl = document.getElementById("wall-settings");
const settings: Settings = settingsEl?.textContent ? (JSON.parse(settingsEl.textContent) as Settings) : { refreshSeconds: 15, version: "" };

const repoSelect = byId<HTMLSelectElement>("filter-repository");
const workflowSelect = byId<HTMLSelectElement>("filter-workflow");
const rangeSelect = byId<HTMLSelectElement>("filter-range");
const state = byId<HTMLElement>("state");

let clockOffset = 0; // server now - browser now
let openItems: OpenItem[] = [];
let runs: Run[] = [];
let selectedRun: number | undefined;
let refreshes = 0;
let generation = 0;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

const shortTime = (iso: string | null) => (iso ? iso.replace("T", " ").replace(/:\d\dZ$/, "") : "–");

function params(extra: Record<string, string> = {}): string {
  const q = new URLSearchParams();
  const to = new Date(Date.now() + clockOffset);
  const hours = Number(rangeSelect.value) || 168;
  q.set("from", new Date(to.getTime() - hours * 3_600_000).toISOString().replace(/\.\d+Z$/, "Z"));
  if (repoSelect.value) q.set("repository", repoSelect.value);
  if (workflowSelect.value) q.set("workflow", workflowSelect.value);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  return q.toString();
}

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { accept: "application/json" }, cache: "no-store" });
  if (!res.ok) {
    let message = `${res.status}`;
    try {
      const body = (await res.json()) as { error?: string };
      if (body.error) message += ` ${body.error}`;
    } catch {
      // not JSON
    }
    throw new Error(`${path.split("?")[0] ?? path}: ${message}`);
  }
  return (await res.json()) as T;
}

function fillSelect(select: HTMLSelectElement, values: string[], allLabel: string): void {
  const current = select.value;
  const wanted = ["", ...values];
  const existing = [...select.options].map((o) => o.value);
  if (existing.length === wanted.length && existing.every((v, i) => v === wanted[i])) return;
  select.replaceChildren(el("option", { value: "" }, allLabel), ...values.map((v) => el("option", { value: v }, v)));
  if (current && !values.includes(current)) select.append(el("option", { value: current }, current));
  select.value = current;
}

function renderFilters(f: FiltersAnswer): void {
  fillSelect(repoSelect, f.repositories, "all repositories");
  const workflows = [...new Set(f.pairs.filter((p) => !repoSelect.value || p.repository === repoSelect.value).map((p) => p.workflow))].sort();
  fillSelect(workflowSelect, workflows, "all workflows");
}

const statusClass = (status: string) => `s-${status.replace(/[^a-z_]/g, "")}`;

function renderTiles(tiles: Tile[]): void {
  const box = byId("tiles");
  if (tiles.length === 0) {
    box.replaceChildren(el("p", { class: "empty" }, "No runs yet."));
    return;
  }
  box.replaceChildren(
    ...tiles.map((t) => {
      const tile = el("a", { class: `tile ${statusClass(t.status)}`, "data-repository": t.repository, "data-workflow": t.workflow, "data-status": t.status, "data-run-id": String(t.run_id), title: `${t.repository} · ${t.workflow}: ${t.status} (${t.updated_at})` });
      if (t.html_url) {
        tile.setAttribute("href", t.html_url);
        tile.setAttribute("target", "_blank");
        tile.setAttribute("rel", "noopener noreferrer");
      }
      tile.append(el("div", { class: "repo" }, t.repository), el("div", { class: "wf" }, t.workflow), el("div", { class: "st" }, `${t.status.replace(/_/g, " ")}${t.branch ? ` · ${t.branch}` : ""}`));
      return tile;
    }),
  );
}

function kpi(label: string, value: string, id: string): HTMLElement {
  const card = el("div", { class: "kpi", id });
  card.append(el("div", { class: "kpi-label" }, label), el("div", { class: "kpi-value" }, value));
  return card;
}

function renderQueue(q: StatusAnswer["queue"]): void {
  byId("queue").replaceChildren(
    kpi("Jobs started", String(q.jobs), "queue-jobs"),
    kpi("Median wait", duration(q.p50_seconds), "queue-p50"),
    kpi("95th percentile", duration(q.p95_seconds), "queue-p95"),
    kpi("Longest", duration(q.max_seconds), "queue-max"),
    kpi("Queued now", String(q.queued_now), "queue-now"),
    kpi("Oldest queued", duration(q.oldest_queued_seconds), "queue-oldest"),
  );
}

function renderOpen(): void {
  const body = byId("open-table").querySelector("tbody");
  if (!body) return;
  const now = Date.now() + clockOffset;
  body.replaceChildren(
    ...openItems.map((o, index) => {
      const tr = el("tr", { "data-kind": o.kind, "data-run-id": String(o.run_id), "data-index": String(index) });
      const link = el("td");
      if (o.html_url) link.append(el("a", { href: o.html_url, target: "_blank", rel: "noopener noreferrer" }, `#${o.run_id}`));
      else link.textContent = `#${o.run_id}`;
      tr.append(
        el("td", {}, `${o.kind} ${o.status.replace(/_/g, " ")}`),
        el("td", { class: "age" }, duration((now - Date.parse(o.created_at)) / 1000)),
        el("td", {}, o.repository),
        el("td", {}, o.workflow ?? "–"),
        el("td", {}, o.job_name ?? ""),
        el("td", {}, o.branch ?? ""),
        link,
      );
      return tr;
    }),
  );
  byId("open-empty").hidden = openItems.length > 0;
}

function renderSeries(series: MetricsAnswer["time_series"]): void {
  const box = byId("series");
  if (series.length === 0) {
    box.replaceChildren();
    return;
  }
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const width = 600;
  const height = 120;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const max = Math.max(1, ...series.map((s) => s.success + s.failure));
  const w = width / series.length;
  series.forEach((s, i) => {
    const hs = (s.success / max) * (height - 4);
    const hf = (s.failure / max) * (height - 4);
    for (const [h, y, colour] of [
      [hs, height - hs, "#15803d"],
      [hf, height - hs - hf, "#b91c1c"],
    ] as const) {
      if (h <= 0) continue;
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", String(i * w + w * 0.1));
      rect.setAttribute("width", String(Math.max(1, w * 0.8)));
      rect.setAttribute("y", String(y));
      rect.setAttribute("height", String(h));
      rect.setAttribute("fill", colour);
      const title = document.createElementNS(ns, "title");
      title.textContent = `${s.timestamp}: ${s.success} success, ${s.failure} failure`;
      rect.append(title);
      svg.append(rect);
    }
  });
  box.replaceChildren(svg);
}

function renderSummary(m: MetricsAnswer): void {
  const s = m.summary;
  byId("kpis").replaceChildren(
    kpi("Runs", String(s.total_runs), "kpi-total"),
    kpi("Success rate", s.success_rate === null ? "–" : `${(s.success_rate * 100).toFixed(1)}%`, "kpi-success"),
    kpi("Average duration", duration(s.avg_duration_seconds), "kpi-duration"),
    kpi("Last event", shortTime(s.last_updated), "kpi-updated"),
  );
  renderSeries(m.time_series);
}

function renderRuns(): void {
  const body = byId("runs-table").querySelector("tbody");
  if (!body) return;
  body.replaceChildren(
    ...runs.map((r) => {
      const tr = el("tr", { "data-run-id": String(r.id), "data-repository": r.repo, "data-workflow": r.workflow ?? "", class: r.id === selectedRun ? "selected" : "" });
      const link = el("td");
      if (r.html_url) link.append(el("a", { href: r.html_url, target: "_blank", rel: "noopener noreferrer" }, `#${r.id}${r.run_attempt > 1 ? ` (attempt ${r.run_attempt})` : ""}`));
      tr.append(
        (() => {
          const td = el("td");
          td.append(el("span", { class: `badge ${statusClass(r.status)}` }, r.status.replace(/_/g, " ")));
          return td;
        })(),
        el("td", {}, r.repo),
        el("td", {}, r.workflow ?? "–"),
        el("td", {}, r.branch ?? ""),
        el("td", {}, r.triggered_by ?? ""),
        el("td", {}, shortTime(r.created_at)),
        el("td", {}, duration(r.duration_seconds)),
        link,
      );
      tr.addEventListener("click", (event) => {
        if ((event.target as HTMLElement).closest("a")) return;
        showRun(r.id);
      });
      return tr;
    }),
  );
  byId("runs-empty").hidden = runs.length > 0;
}

/** The payload shown in the side panel, fetched once per run and status (a refresh never downloads payloads). */
let shownPayload: string | undefined;

function showRun(id: number): void {
  const run = runs.find((r) => r.id === id);
  if (!run) return;
  selectedRun = id;
  byId("run-panel-title").textContent = `${run.repo} · ${run.workflow ?? "(unnamed)"} #${run.id}`;
  const link = byId<HTMLAnchorElement>("run-panel-link");
  if (run.html_url) {
    link.href = run.html_url;
    link.hidden = false;
  } else link.hidden = true;
  byId("run-panel").hidden = false;
  for (const tr of byId("runs-table").querySelectorAll("tbody tr")) tr.classList.toggle("selected", (tr as HTMLElement).dataset.runId === String(id));
  const version = `${run.id}/${run.run_attempt}/${run.status}`;
  if (shownPayload === version) return;
  shownPayload = version;
  const pre = byId("run-panel-payload");
  pre.textContent = "loading the raw payload…";
  pre.dataset.loaded = "false";
  getJson<{ payload: unknown }>(`/api/runs/${run.id}/payload?attempt=${run.run_attempt}`)
    .then((answer) => {
      if (shownPayload !== version) return; // another run was opened meanwhile
      pre.textContent = JSON.stringify(answer.payload, null, 2);
      pre.dataset.loaded = "true";
    })
    .catch((error: unknown) => {
      if (shownPayload !== version) return;
      pre.textContent = `cannot load the payload: ${error instanceof Error ? error.message : String(error)}`;
      shownPayload = undefined;
    });
}

byId("run-panel-close").addEventListener("click", () => {
  selectedRun = undefined;
  shownPayload = undefined;
  byId("run-panel").hidden = true;
  for (const tr of byId("runs-table").querySelectorAll("tbody tr.selected")) tr.classList.remove("selected");
});

/** Shown when the server evaluates rules or holds firing alerts; hidden on a server without alerting. */
function renderAlerts(answer: AlertsAnswer | undefined): void {
  const panel = byId("panel-alerts");
  panel.hidden = !answer || (!answer.evaluation.enabled && answer.alerts.length === 0);
  if (!answer) return;
  const now = Date.now() + clockOffset;
  byId("alerts-table").querySelector("tbody")?.replaceChildren(
    ...answer.alerts.map((a) => {
      const tr = el("tr", { "data-fingerprint": a.fingerprint, "data-rule": a.rule });
      const severity = el("td");
      severity.append(el("span", { class: `badge sev-${a.severity}` }, a.severity));
      const acknowledged = a.acknowledged_until && Date.parse(a.acknowledged_until) > now ? `${a.acknowledged_by ?? "?"} until ${shortTime(a.acknowledged_until)}` : "";
      tr.append(
        severity,
        el("td", {}, a.rule),
        el("td", {}, Object.entries(a.scope).map(([k, v]) => `${k}=${v}`).join(", ")),
        el("td", {}, a.summary),
        el("td", {}, a.fired_at ? `${shortTime(a.fired_at)} (${duration((now - Date.parse(a.fired_at)) / 1000)})` : "–"),
        el("td", {}, acknowledged),
      );
      return tr;
    }),
  );
  byId("alerts-empty").hidden = answer.alerts.length > 0;
}

let timer: number | undefined;

async function refresh(): Promise<void> {
  const mine = ++generation;
  if (timer !== undefined) window.clearTimeout(timer);
  try {
    const [filters, status, metrics, list, alerts] = await Promise.all([
      getJson<FiltersAnswer>("/api/filters"),
      getJson<StatusAnswer>(`/api/status?${params()}`),
      getJson<MetricsAnswer>(`/api/metrics?${params({ limit: "1" })}`),
      getJson<{ runs: Run[] }>(`/api/runs?${params({ limit: "50" })}`),
      // The alert panel is an extra: an unreadable alert state hides it and never blanks the wall.
      getJson<AlertsAnswer>("/api/alerts?state=firing").catch(() => undefined),
    ]);
    if (mine !== generation) return; // a newer refresh (a filter change) is under way
    clockOffset = Date.parse(status.now) - Date.now();
    renderFilters(filters);
    renderTiles(status.tiles);
    openItems = status.open;
    renderOpen();
    renderQueue(status.queue);
    renderSummary(metrics);
    runs = list.runs;
    renderRuns();
    renderAlerts(alerts);
    if (selectedRun !== undefined && runs.some((r) => r.id === selectedRun)) showRun(selectedRun);
    refreshes += 1;
    document.documentElement.dataset.refreshes = String(refreshes);
    document.documentElement.dataset.ready = "true";
    state.textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC`;
    state.classList.remove("error");
  } catch (error) {
    if (mine !== generation) return;
    state.textContent = `refresh failed: ${error instanceof Error ? error.message : String(error)}`;
    state.classList.add("error");
  } finally {
    if (mine === generation) timer = window.setTimeout(() => void refresh(), settings.refreshSeconds * 1000);
  }
}

repoSelect.addEventListener("change", () => {
  workflowSelect.value = "";
  void refresh();
});
workflowSelect.addEventListener("change", () => void refresh());
rangeSelect.addEventListener("change", () => void refresh());
window.setInterval(() => {
  for (const tr of byId("open-table").querySelectorAll("tbody tr")) {
    const item = openItems[Number((tr as HTMLElement).dataset.index)];
    const age = tr.querySelector(".age");
    if (item && age) age.textContent = duration((Date.now() + clockOffset - Date.parse(item.created_at)) / 1000);
  }
}, 1000);

void refresh();
