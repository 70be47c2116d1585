/**
 * The alerts panel (issue 13, item 5): active alerts, acknowledged ones and the last 30 days, from the
 * rows of rpt_alerts. Drawn on the server as plain HTML (tables, no chart): it is a list to act on, it
 * needs no script to read, and the report's repository/workflow filters do not apply to it (an alert's
 * scope may have neither, e.g. queue_p95 by runner label).
 */
import type { AlertRow } from "./model.js";

export interface AlertCount {
  rule: string;
  severity: string;
  active: number;
  acknowledged: number;
  resolved: number;
}

export interface AlertPanel {
  active: AlertRow[];
  acknowledged: AlertRow[];
  /** Every episode of the window (active, acknowledged and resolved), as the view orders them. */
  recent: AlertRow[];
  /** Episodes per rule and severity, most severe first, then by rule name. */
  counts: AlertCount[];
}

const SEVERITY_ORDER: Record<string, number> = { critical: 0, warning: 1, info: 2 };

export function alertPanel(rows: AlertRow[]): AlertPanel {
  const counts = new Map<string, AlertCount>();
  for (const row of rows) {
    const key = JSON.stringify([row.rule, row.severity]);
    const count = counts.get(key) ?? { rule: row.rule, severity: row.severity, active: 0, acknowledged: 0, resolved: 0 };
    count[row.state] += 1;
    counts.set(key, count);
  }
  return {
    active: rows.filter((r) => r.state === "active"),
    acknowledged: rows.filter((r) => r.state === "acknowledged"),
    recent: rows,
    counts: [...counts.values()].sort((a, b) => (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9) || (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0)),
  };
}

/** `1h 5m`, `3d 2h`, `42s`: an episode's age or length. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.trunc(seconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3_600);
  const m = Math.floor((s % 3_600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** The scope as people read it: repository · workflow · branch, or the raw keys for other scopes. */
export function scopeLabel(row: AlertRow): string {
  const parts = [row.repository, row.workflow, row.branch].filter((p): p is string => p !== null && p !== "");
  if (parts.length > 0) return parts.join(" · ");
  try {
    const scope = JSON.parse(row.scope) as Record<string, unknown>;
    return Object.entries(scope).map(([k, v]) => `${k}=${String(v)}`).join(", ");
  } catch {
    return row.scope;
  }
}
