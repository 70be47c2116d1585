/**
 * The workflow DAG of the topology panel (issue 15): the real job graph of each workflow's latest file
 * version, from rpt_workflow_dag_nodes / _edges, laid out left to right in layers (a job's layer is the
 * longest chain of needs from a root job), nodes sized by failures or runtime, and the workflow's usual
 * critical path (rpt_critical_path_workflows) highlighted. One band per workflow, its workflow node at the
 * left; a reusable workflow a job calls sits one layer right of its caller; workflow_run edges join the
 * workflow nodes. Pure functions over ReportData rows, shared by the browser bundle and the tests.
 */
import { matchesScope, type Filter, type TopologyWeight } from "./aggregate.js";
import type { CriticalPathRow, DagEdgeRow, DagNodeRow } from "./model.js";

/** Horizontal and vertical distance between laid-out nodes, in the graph's own units. */
export const LAYER_WIDTH = 180;
export const ROW_HEIGHT = 56;
const BAND_GAP = 40;

/** Separator of job ids in rpt_critical_path texts (includes/workflow_graph.js PATH_SEPARATOR). */
export const PATH_SEPARATOR = " > ";

export type DagNodeKind = "workflow" | "job" | "called workflow";
export const DAG_NODE_KINDS: readonly DagNodeKind[] = ["workflow", "job", "called workflow"];

export interface DagLayoutNode {
  id: string;
  name: string;
  kind: DagNodeKind;
  x: number;
  y: number;
  /** The workflow band's label (repository · workflow). */
  band: string;
  value: number;
  symbolSize: number;
  critical: boolean;
  executions: number;
  failures: number;
  runtime_seconds: number;
  avg_span_seconds: number | null;
  /** Layer (longest chain of needs from a root job); -1 for the band's workflow node. */
  layer: number;
}

export interface DagLayoutLink {
  source: string;
  target: string;
  kind: string;
  critical: boolean;
  value: number;
  width: number;
}

/** A drawn workflow and its critical path figures. */
export interface DagBand {
  key: string;
  repository: string;
  workflow: string;
  workflow_path: string;
  layers: number;
  jobs: number;
  p50_critical_path_seconds: number | null;
  p50_share_of_wall_time: number | null;
  top_job_id: string | null;
  top_job_rate: number | null;
  usual_critical_path: string | null;
  usual_critical_path_runs: number | null;
  run_attempts: number;
  /** Display name of each YAML job id of the band (paths name ids; a job with a name: shows it). */
  labels: Record<string, string>;
}

/** A critical path (YAML ids joined by PATH_SEPARATOR) in display names, the id beside a name that differs. */
export function pathLabel(path: string, labels: Record<string, string>): string {
  return path
    .split(PATH_SEPARATOR)
    .map((id) => {
      const label = labels[id];
      return label === undefined || label === id ? id : `${label} [${id}]`;
    })
    .join(PATH_SEPARATOR);
}

export interface DagLayout {
  nodes: DagLayoutNode[];
  links: DagLayoutLink[];
  bands: DagBand[];
  /** Rows of nodes drawn, all bands together (sizes the chart). */
  rows: number;
}

const bandKey = (repository: string, path: string) => `${repository}\u0000${path}`;

/**
 * Layer of every node from needs edges: 0 for a job nothing it needs, else 1 + the largest layer of the jobs it
 * needs (the longest chain from a root). The models never hold a cycle (the parser rejects one); a cycle would
 * be cut where it closes.
 */
export function layers(nodeIds: string[], edges: { source: string; target: string }[]): Map<string, number> {
  const preds = new Map<string, string[]>();
  for (const e of edges) preds.set(e.target, [...(preds.get(e.target) ?? []), e.source]);
  const layer = new Map<string, number>();
  const visiting = new Set<string>();
  const visit = (id: string): number => {
    const known = layer.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) return 0;
    visiting.add(id);
    const l = Math.max(-1, ...(preds.get(id) ?? []).map(visit)) + 1;
    visiting.delete(id);
    layer.set(id, l);
    return l;
  };
  for (const id of nodeIds) visit(id);
  return layer;
}

/** The job node ids and consecutive pairs of a critical path text of one workflow version. */
export function criticalPathIds(path: string | null, repository: string, workflowPath: string, blob: string | null): { nodes: Set<string>; edges: Set<string> } {
  const nodes = new Set<string>();
  const edges = new Set<string>();
  if (path === null || blob === null || path === "") return { nodes, edges };
  const ids = path.split(PATH_SEPARATOR).map((job) => `job:${repository}/${workflowPath}@${blob}#${job}`);
  ids.forEach((id, i) => {
    nodes.add(id);
    const next = ids[i + 1];
    if (next !== undefined) edges.add(`${id}\u0000${next}`);
  });
  return { nodes, edges };
}

interface Rows {
  dagNodes: DagNodeRow[];
  dagEdges: DagEdgeRow[];
  criticalPaths: CriticalPathRow[];
}

/** Whether the warehouse holds any extracted workflow definition (else the panel falls back to the name-based topology). */
export function hasDag(rows: Pick<Rows, "dagNodes">): boolean {
  return rows.dagNodes.some((n) => n.type === "job");
}

/**
 * The DAGs of the workflows in scope, at most `maxWorkflows` of them (the heaviest by the chosen weight), laid
 * out in bands one under the other. Rows are the latest versions only (report/data.ts reads them so).
 */
export function dagLayout(rows: Rows, f: Filter, weight: TopologyWeight, maxWorkflows = 8): DagLayout {
  const w = (x: { failures: number; runtime_seconds: number }) => (weight === "failures" ? x.failures : x.runtime_seconds);
  const workflowNodes = new Map(rows.dagNodes.filter((n) => n.type === "workflow").map((n) => [n.id, n]));
  const jobsByBand = new Map<string, DagNodeRow[]>();
  for (const n of rows.dagNodes) {
    if (n.type !== "job" || n.workflow_path === null) continue;
    const key = bandKey(n.repository, n.workflow_path);
    jobsByBand.set(key, [...(jobsByBand.get(key) ?? []), n]);
  }
  const paths = new Map(rows.criticalPaths.map((p) => [bandKey(p.repository, p.workflow_path), p]));
  const inScope = [...jobsByBand.entries()]
    .filter(([, jobs]) => {
      const first = jobs[0];
      return first !== undefined && matchesScope({ repository: first.repository, workflow: first.workflow }, f);
    })
    .map(([key, jobs]) => ({ key, jobs, total: jobs.reduce((n, j) => n + w(j), 0), executions: jobs.reduce((n, j) => n + j.executions, 0) }))
    .sort((a, b) => b.total - a.total || b.executions - a.executions || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .slice(0, maxWorkflows);

  const nodes: DagLayoutNode[] = [];
  const links: DagLayoutLink[] = [];
  const bands: DagBand[] = [];
  const placed = new Set<string>();
  let top = 0;
  for (const band of inScope) {
    const first = band.jobs[0] as DagNodeRow;
    const repository = first.repository;
    const workflowPath = first.workflow_path as string;
    const blob = first.blob_sha;
    const label = `${repository} · ${first.workflow ?? workflowPath}`;
    const jobIds = new Set(band.jobs.map((j) => j.id));
    const needs = rows.dagEdges.filter((e) => e.type === "needs" && jobIds.has(e.source) && jobIds.has(e.target));
    const layerOf = layers(band.jobs.map((j) => j.id), needs);
    const path = paths.get(band.key);
    const critical = criticalPathIds(path && path.latest_blob_sha === blob ? path.usual_critical_path : null, repository, workflowPath, blob);
    const rowsUsed = new Map<number, number>();
    const slot = (layer: number) => {
      const i = rowsUsed.get(layer) ?? 0;
      rowsUsed.set(layer, i + 1);
      return top + i * ROW_HEIGHT;
    };
    const head = `workflow:${repository}/${workflowPath}`;
    const headRow = workflowNodes.get(head);
    const headElsewhere = placed.has(head);
    if (!headElsewhere) {
      placed.add(head);
      nodes.push(node(head, label, "workflow", 0, top, label, -1, headRow, false));
    }
    const ordered = [...band.jobs].sort((a, b) => (layerOf.get(a.id) ?? 0) - (layerOf.get(b.id) ?? 0) || (a.job_id ?? "").localeCompare(b.job_id ?? ""));
    for (const j of ordered) {
      const layer = layerOf.get(j.id) ?? 0;
      placed.add(j.id);
      nodes.push(node(j.id, j.label, "job", (layer + 1) * LAYER_WIDTH, slot(layer), label, layer, j, critical.nodes.has(j.id)));
    }
    // A reusable workflow drawn as a called node in an earlier band: link it to its root jobs here.
    if (headElsewhere) for (const j of ordered.filter((x) => (layerOf.get(x.id) ?? 0) === 0)) links.push({ source: head, target: j.id, kind: "calls", critical: false, value: 0, width: 0 });
    for (const e of needs) links.push({ source: e.source, target: e.target, kind: e.type, critical: critical.edges.has(`${e.source}\u0000${e.target}`), value: w(e), width: 0 });
    for (const e of rows.dagEdges.filter((x) => x.type === "calls" && jobIds.has(x.source))) {
      const layer = (layerOf.get(e.source) ?? 0) + 1;
      if (!placed.has(e.target)) {
        placed.add(e.target);
        const called = workflowNodes.get(e.target);
        nodes.push(node(e.target, called?.label ?? e.target.replace(/^workflow:/, ""), "called workflow", (layer + 1) * LAYER_WIDTH, slot(layer), label, layer, called, false));
      }
      links.push({ source: e.source, target: e.target, kind: e.type, critical: false, value: w(e), width: 0 });
    }
    const height = Math.max(1, ...rowsUsed.values()) * ROW_HEIGHT;
    bands.push({
      key: band.key,
      repository,
      workflow: first.workflow ?? workflowPath,
      workflow_path: workflowPath,
      layers: Math.max(0, ...layerOf.values()) + 1,
      jobs: band.jobs.length,
      p50_critical_path_seconds: path?.p50_critical_path_seconds ?? null,
      p50_share_of_wall_time: path?.p50_share_of_wall_time ?? null,
      top_job_id: path?.top_job_id ?? null,
      top_job_rate: path?.top_job_rate ?? null,
      usual_critical_path: path && path.latest_blob_sha === blob ? path.usual_critical_path : null,
      usual_critical_path_runs: path && path.latest_blob_sha === blob ? path.usual_critical_path_runs : null,
      run_attempts: path?.run_attempts ?? 0,
      labels: Object.fromEntries(band.jobs.flatMap((j) => (j.job_id === null ? [] : [[j.job_id, j.label]]))),
    });
    top += height + BAND_GAP;
  }
  // workflow -> workflow (on: workflow_run) between drawn bands; a source not drawn is placed left of its target.
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const e of rows.dagEdges.filter((x) => x.type === "workflow_run" && byId.has(x.target))) {
    if (!byId.has(e.source)) {
      const target = byId.get(e.target) as DagLayoutNode;
      const source = workflowNodes.get(e.source);
      const n = node(e.source, source?.label ?? e.source.replace(/^workflow(-name)?:/, ""), "workflow", -LAYER_WIDTH, target.y, target.band, -1, source, false);
      nodes.push(n);
      byId.set(n.id, n);
    }
    links.push({ source: e.source, target: e.target, kind: e.type, critical: false, value: w(e), width: 0 });
  }
  const max = Math.max(1, ...nodes.map((n) => n.value));
  for (const n of nodes) n.symbolSize = 12 + 30 * Math.sqrt(n.value / max);
  const maxLink = Math.max(1, ...links.map((l) => l.value));
  for (const l of links) l.width = (l.critical ? 3 : 1) + 3 * (l.value / maxLink);
  return { nodes, links, bands, rows: Math.round(top / ROW_HEIGHT) };

  function node(id: string, name: string, kind: DagNodeKind, x: number, y: number, band: string, layer: number, row: DagNodeRow | undefined, isCritical: boolean): DagLayoutNode {
    return {
      id,
      name,
      kind,
      x,
      y,
      band,
      value: row ? w(row) : 0,
      symbolSize: 0,
      critical: isCritical,
      executions: row?.executions ?? 0,
      failures: row?.failures ?? 0,
      runtime_seconds: row?.runtime_seconds ?? 0,
      avg_span_seconds: row?.avg_span_seconds ?? null,
      layer,
    };
  }
}
