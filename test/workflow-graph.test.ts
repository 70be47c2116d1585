/**
 * The workflow graph end to end (issue 15, Must show): simulator (option workflowGraph: acme/platform with a
 * matrix job, a reusable workflow, a job graph that changes between file versions, a workflow_run trigger and
 * an invalid file) → extract (workflow files per commit) → DuckDB → the graph models, compared with ground
 * truth computed here in TypeScript from the dataset, independently of the SQL:
 *   - DAG edges: each job template's `needs` (display names) turned into YAML job ids of the file version the
 *     run used (the simulator's own rendering: yamlJobOfExecution), per (repository, path, blob SHA);
 *   - critical paths: per completed run attempt, the generated job timings grouped by YAML job (a matrix job's
 *     legs, a reusable caller's called jobs: first start to last end), chained along those needs, the longest
 *     sum of spans (ties: more jobs, then text order), its share of the attempt's wall time;
 * with a run whose critical path runs through a matrix job and one through a reusable workflow; every workflow
 * file version is fetched once, whatever the number of runs; the Grafana node graph's SQL reads the same views.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, jobsOfAttempt, startSimulator, type Dataset, type SimJob, type SimRun, type Simulator } from "../simulator/index.js";
import { executes, filesThatRan, templatesOfRun, workflowFileAt, yamlJobOfExecution } from "../simulator/workflow-files.js";
import { runExtract } from "../extract/run.js";
import { loadIntoDuckDb } from "../load/duckdb-load.js";
import { duckDbExtractState } from "../load/watermark-duckdb.js";
import { silentLogger } from "../log/logger.js";
import { runTransform } from "../transform/run.js";
import { projectRoot } from "../transform/compile.js";
import { translate } from "../transform/translate.js";
import { queryWarehouse as query } from "./warehouse-query.js";

const ANCHOR = "2026-10-15T12:00:00Z";
const SINCE = "2026-10-03";
const PLATFORM = "acme/platform";
const SEPARATOR = " > ";

// ---- ground truth ------------------------------------------------------------------------------------

/** The YAML node (job id of the run's own file; the caller's id for a called job) and the file holding the job. */
interface Node {
  /** Job id in the run's workflow file: the node of its DAG. */
  node: string;
  /** For a job of a called reusable workflow: its path and job id there. */
  called: { path: string; jobId: string } | null;
}

function nodeOf(ds: Dataset, run: SimRun, executionName: string): Node {
  const y = yamlJobOfExecution(ds, run, executionName);
  if (!y) throw new Error(`simulator: no YAML job for ${run.repo} ${run.workflow_path} ${executionName}`);
  return y.callerJobId === null ? { node: y.jobId, called: null } : { node: y.callerJobId, called: { path: y.path, jobId: y.jobId } };
}

interface Edge {
  repository: string;
  path: string;
  blob: string;
  from: string;
  to: string;
}

const edgeKey = (e: Edge) => `${e.repository}|${e.path}|${e.blob}|${e.from}>${e.to}`;

/**
 * needs edges of every file version a run used, from the templates: a template needs a display name; every
 * template that executes it (itself, its matrix legs, the called jobs of a caller) gives an edge from its
 * node to the needing template's node. Inside a caller (both templates called jobs of one caller) the edge
 * belongs to the called workflow's file, between called job ids.
 */
function expectedEdges(ds: Dataset, runs: SimRun[]): Map<string, Edge> {
  const out = new Map<string, Edge>();
  for (const run of runs) {
    const own = workflowFileAt(ds, run.repo, run.workflow_path, run.head_sha);
    if (own.kind !== "file" || !own.version.valid) continue;
    const templates = templatesOfRun(ds, run);
    for (const t of templates) {
      // A template's display name is an execution name (the simulator names matrix legs and called jobs so).
      const target = nodeOf(ds, run, t.name);
      for (const need of t.needs) {
        for (const source of templates.filter((x) => executes(x.name, need)).map((x) => nodeOf(ds, run, x.name))) {
          if (source.node === target.node) {
            if (source.called && target.called && source.called.path === target.called.path && source.called.jobId !== target.called.jobId) {
              const file = workflowFileAt(ds, run.repo, source.called.path, run.head_sha);
              if (file.kind !== "file") throw new Error(`simulator: no called file ${source.called.path}`);
              const e = { repository: run.repo, path: source.called.path, blob: file.version.blobSha, from: source.called.jobId, to: target.called.jobId };
              out.set(edgeKey(e), e);
            }
            continue;
          }
          const e = { repository: run.repo, path: run.workflow_path, blob: own.version.blobSha, from: source.node, to: target.node };
          out.set(edgeKey(e), e);
        }
      }
    }
  }
  return out;
}

/** A job ran when a runner took it: started, not skipped, not cancelled before a runner picked it up (fct_workflow_jobs.has_started). */
const ran = (j: SimJob) => j.status === "completed" && j.started_at !== null && j.completed_at !== null && j.conclusion !== "skipped" && !(j.conclusion === "cancelled" && j.runner_name === null);

export interface CriticalPath {
  run_id: number;
  run_attempt: number;
  critical_path: string;
  critical_path_seconds: number;
  share_of_wall_time: number | null;
  jobs_ran: number;
}

/** Every chain from a root, the longest sum of spans first, then the most jobs, then text order. */
function longestChain(spans: Map<string, number>, edges: { from: string; to: string }[]): { path: string[]; seconds: number } {
  const next = (n: string) => edges.filter((e) => e.from === n).map((e) => e.to);
  const roots = [...spans.keys()].filter((n) => !edges.some((e) => e.to === n));
  let best: { path: string[]; seconds: number } | null = null;
  const better = (a: { path: string[]; seconds: number }, b: { path: string[]; seconds: number }) =>
    a.seconds !== b.seconds ? a.seconds > b.seconds : a.path.length !== b.path.length ? a.path.length > b.path.length : a.path.join(SEPARATOR) < b.path.join(SEPARATOR);
  const walk = (path: string[], seconds: number) => {
    const candidate = { path, seconds };
    if (best === null || better(candidate, best)) best = candidate;
    for (const n of next(path[path.length - 1] as string)) walk([...path, n], seconds + (spans.get(n) ?? 0));
  };
  for (const r of roots) walk([r], spans.get(r) ?? 0);
  if (best === null) throw new Error("no chain");
  return best;
}

function expectedCriticalPaths(ds: Dataset, runs: SimRun[], edges: Map<string, Edge>): CriticalPath[] {
  const out: CriticalPath[] = [];
  for (const run of runs) {
    const own = workflowFileAt(ds, run.repo, run.workflow_path, run.head_sha);
    if (own.kind !== "file" || !own.version.valid) continue;
    const fileEdges = [...edges.values()].filter((e) => e.repository === run.repo && e.path === run.workflow_path && e.blob === own.version.blobSha);
    for (const attempt of run.attempts) {
      if (attempt.status !== "completed") continue;
      const byNode = new Map<string, { start: number; end: number }>();
      for (const j of jobsOfAttempt(ds, run, attempt.run_attempt).filter(ran)) {
        const n = nodeOf(ds, run, j.name).node;
        const s = Date.parse(j.started_at as string);
        const e = Date.parse(j.completed_at as string);
        const cur = byNode.get(n);
        byNode.set(n, cur ? { start: Math.min(cur.start, s), end: Math.max(cur.end, e) } : { start: s, end: e });
      }
      if (byNode.size === 0) continue;
      const spans = new Map([...byNode].map(([n, x]) => [n, Math.trunc((x.end - x.start) / 1000)]));
      const chain = longestChain(spans, fileEdges.filter((e) => spans.has(e.from) && spans.has(e.to)));
      const wall = attempt.run_started_at ? Math.trunc((Date.parse(attempt.updated_at) - Date.parse(attempt.run_started_at)) / 1000) : null;
      out.push({
        run_id: run.id,
        run_attempt: attempt.run_attempt,
        critical_path: chain.path.join(SEPARATOR),
        critical_path_seconds: chain.seconds,
        share_of_wall_time: wall ? chain.seconds / wall : null,
        jobs_ran: spans.size,
      });
    }
  }
  return out.sort((a, b) => a.run_id - b.run_id || a.run_attempt - b.run_attempt);
}

// ---- the warehouse -----------------------------------------------------------------------------------

describe("workflow graph on the simulator", () => {
  let dir: string;
  let duckdbPath: string;
  let ds: Dataset;
  let sim: Simulator;
  let runs: SimRun[];
  let truthEdges: Map<string, Edge>;
  let truthPaths: CriticalPath[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-workflow-graph-"));
    duckdbPath = join(dir, "warehouse.duckdb");
    ds = generateDataset({ seed: 11, anchor: ANCHOR, days: 12, runsPerRepoPerDay: 3, busyDayRuns: 0, bigRunJobs: 6, bigPackageVersions: 3, workflowGraph: true });
    runs = ds.runs.filter((r) => r.created_at >= `${SINCE}T00:00:00Z`);
    truthEdges = expectedEdges(ds, runs);
    truthPaths = expectedCriticalPaths(ds, runs, truthEdges);
    sim = await startSimulator({ dataset: ds });
    const stagingDir = join(dir, "staging");
    await runExtract(
      { orgs: [ds.org.login], users: [ds.user.login], since: SINCE, apiUrl: sim.url, stagingDir, now: new Date(ANCHOR), concurrency: 8 },
      { log: silentLogger, state: duckDbExtractState(duckdbPath) },
    );
    await loadIntoDuckDb({ stagingDir, duckdbPath, log: silentLogger });
    await runTransform({ duckdbPath, tags: ["graph"], includeDependencies: true });
  }, 600_000);

  afterAll(async () => {
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("has the cases the issue asks for in its ground truth", () => {
    const platform = truthPaths.filter((p) => runs.find((r) => r.id === p.run_id)?.repo === PLATFORM);
    // acme/platform CI: test is a matrix job (two legs), build calls .github/workflows/reusable-build.yml.
    expect(platform.some((p) => p.critical_path.split(SEPARATOR).includes("test"))).toBe(true);
    expect(platform.some((p) => p.critical_path.split(SEPARATOR).includes("build"))).toBe(true);
    expect(truthEdges.size).toBeGreaterThan(10);
    expect(truthPaths.length).toBeGreaterThan(50);
    const viaMatrix = platform.filter((p) => p.critical_path.split(SEPARATOR).includes("test")).length;
    const viaReusable = platform.filter((p) => p.critical_path.split(SEPARATOR).includes("build")).length;
    console.log(`workflow graph ground truth: ${runs.length} runs, ${truthEdges.size} needs edges, ${truthPaths.length} critical paths (acme/platform: ${viaMatrix} through the matrix job test, ${viaReusable} through the reusable caller build)`);
  });

  it("draws the needs edges of every workflow version the runs used, and no other", async () => {
    const rows = await query(
      duckdbPath,
      `SELECT repository, workflow_path, blob_sha, source_job_id, target_job_id FROM actions_warehouse.rpt_workflow_dag_edges WHERE edge_type = 'needs'`,
    );
    const actual = rows.map((r) => edgeKey({ repository: String(r.repository), path: String(r.workflow_path), blob: String(r.blob_sha), from: String(r.source_job_id), to: String(r.target_job_id) })).sort();
    expect(actual).toEqual([...truthEdges.keys()].sort());
    // The graph of acme/platform CI changes between its versions: verify needs build only, then build and test.
    const verifyNeeds = [...truthEdges.values()].filter((e) => e.repository === PLATFORM && e.path === ".github/workflows/ci.yml" && e.to === "smoke");
    expect(new Set(verifyNeeds.map((e) => `${e.blob.slice(0, 7)}:${e.from}`)).size).toBeGreaterThanOrEqual(3);
  });

  it("draws the reusable workflow call and the workflow_run trigger", async () => {
    const rows = await query(duckdbPath, `SELECT source_id, target_id, edge_type, resolved FROM actions_warehouse.rpt_workflow_dag_edges WHERE edge_type <> 'needs' AND repository = '${PLATFORM}'`);
    expect(rows.some((r) => r.edge_type === "calls" && String(r.source_id).endsWith("#build") && r.target_id === `workflow:${PLATFORM}/.github/workflows/reusable-build.yml`)).toBe(true);
    expect(rows.some((r) => r.edge_type === "workflow_run" && r.resolved === true && r.source_id === `workflow:${PLATFORM}/.github/workflows/ci.yml` && r.target_id === `workflow:${PLATFORM}/.github/workflows/publish.yml`)).toBe(true);
  });

  it("maps every job execution of a parsed workflow version to its YAML job", async () => {
    const rows = await query(
      duckdbPath,
      `SELECT m.run_id, m.job_name, m.yaml_job_id, m.called_path, m.called_job_id, m.mapping_status FROM actions_warehouse.fct_workflow_job_mapping AS m`,
    );
    const byRun = new Map(runs.map((r) => [r.id, r]));
    let checked = 0;
    for (const r of rows) {
      const run = byRun.get(Number(r.run_id));
      if (!run) continue;
      const file = workflowFileAt(ds, run.repo, run.workflow_path, run.head_sha);
      if (file.kind !== "file") {
        expect(r.mapping_status, `${run.repo} ${run.workflow_path} ${String(r.job_name)}`).toBe("unmapped_no_definition");
        continue;
      }
      const expected = nodeOf(ds, run, String(r.job_name));
      expect({ node: r.yaml_job_id, called: r.called_job_id === null ? null : { path: r.called_path, jobId: r.called_job_id }, status: r.mapping_status }, `${run.repo} ${String(r.job_name)}`).toEqual({
        ...expected,
        status: "mapped",
      });
      checked++;
    }
    expect(checked).toBeGreaterThan(200);
  });

  it("finds each completed run attempt's critical path, its length and its share of the wall time", async () => {
    const rows = await query(
      duckdbPath,
      `SELECT run_id, run_attempt, critical_path, critical_path_seconds, share_of_wall_time, jobs_ran FROM actions_warehouse.rpt_critical_path ORDER BY run_id, run_attempt`,
    );
    const actual = rows.map((r) => ({
      run_id: Number(r.run_id),
      run_attempt: Number(r.run_attempt),
      critical_path: String(r.critical_path),
      critical_path_seconds: Number(r.critical_path_seconds),
      share_of_wall_time: r.share_of_wall_time === null ? null : Number(Number(r.share_of_wall_time).toFixed(9)),
      jobs_ran: Number(r.jobs_ran),
    }));
    const expected = truthPaths.map((p) => ({ ...p, share_of_wall_time: p.share_of_wall_time === null ? null : Number(p.share_of_wall_time.toFixed(9)) }));
    expect(actual).toEqual(expected);
    // The two Must-show cases, on the warehouse side.
    const platformRuns = new Set(runs.filter((r) => r.repo === PLATFORM && r.workflow_path === ".github/workflows/ci.yml").map((r) => r.id));
    const platform = actual.filter((p) => platformRuns.has(p.run_id));
    expect(platform.find((p) => p.critical_path.split(SEPARATOR).includes("test"))).toBeDefined();
    expect(platform.find((p) => p.critical_path.split(SEPARATOR).includes("build"))).toBeDefined();
  });

  it("summarises the critical path per workflow: p50 and the job most often on it", async () => {
    const rows = await query(duckdbPath, `SELECT repository, workflow_path, run_attempts, p50_critical_path_seconds, top_job_id, top_job_runs FROM actions_warehouse.rpt_critical_path_workflows`);
    const byWorkflow = new Map<string, CriticalPath[]>();
    for (const p of truthPaths) {
      const run = runs.find((r) => r.id === p.run_id) as SimRun;
      const key = `${run.repo}|${run.workflow_path}`;
      byWorkflow.set(key, [...(byWorkflow.get(key) ?? []), p]);
    }
    const median = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      const mid = (s.length - 1) / 2;
      return ((s[Math.floor(mid)] as number) + (s[Math.ceil(mid)] as number)) / 2;
    };
    const expected = [...byWorkflow.entries()].map(([key, paths]) => {
      const counts = new Map<string, number>();
      for (const p of paths) for (const j of p.critical_path.split(SEPARATOR)) counts.set(j, (counts.get(j) ?? 0) + 1);
      const [top, topRuns] = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0] as [string, number];
      return { key, run_attempts: paths.length, p50: median(paths.map((p) => p.critical_path_seconds)), top, topRuns };
    });
    const actual = rows.map((r) => ({ key: `${String(r.repository)}|${String(r.workflow_path)}`, run_attempts: Number(r.run_attempts), p50: Number(r.p50_critical_path_seconds), top: String(r.top_job_id), topRuns: Number(r.top_job_runs) }));
    const sort = (xs: typeof actual) => [...xs].sort((a, b) => (a.key < b.key ? -1 : 1));
    expect(sort(actual)).toEqual(sort(expected));
  });

  it("feeds the Grafana node graph: its BigQuery SQL, run on the warehouse, gives nodes for every edge end", async () => {
    interface Target { refId: string; rawSql?: string }
    const dashboard = JSON.parse(readFileSync(join(projectRoot, "docs", "grafana-dashboard.json"), "utf8")) as { panels: { type: string; targets?: Target[] }[] };
    const panel = dashboard.panels.find((p) => p.type === "nodeGraph");
    const sql = (refId: string) =>
      translate((panel?.targets?.find((t) => t.refId === refId)?.rawSql ?? "").replaceAll("${models_dataset}", "actions_warehouse").replaceAll("${repository:regex}", ".*"));
    const nodes = await query(duckdbPath, sql("nodes"));
    const edges = await query(duckdbPath, sql("edges"));
    const ids = new Set(nodes.map((n) => String(n.id)));
    expect(ids.size).toBe(nodes.length);
    expect(edges.length).toBeGreaterThan(10);
    for (const e of edges) {
      expect(ids.has(String(e.source)), String(e.source)).toBe(true);
      expect(ids.has(String(e.target)), String(e.target)).toBe(true);
    }
    for (const n of nodes) expect(Number(n.arc__failed) + Number(n.arc__passed)).toBeCloseTo(1, 9);
    expect(nodes.some((n) => String(n.id).startsWith(`job:${PLATFORM}/.github/workflows/ci.yml@`) && n.highlighted === true)).toBe(true);
  });

  it("read each workflow file once per (repository, path, commit) the runs used, whatever the number of runs and attempts", () => {
    const requests = sim.contentsRequests();
    // A default-setup path (dynamic/...) is no file: the extract does not ask for it.
    const expected = filesThatRan(ds, runs)
      .filter((f) => !f.path.startsWith("dynamic/"))
      .map((f) => `${f.repo}|${f.path}|${f.commitSha}`)
      .sort();
    expect([...requests.keys()].sort()).toEqual(expected);
    for (const [key, n] of requests) expect(n.json, key).toBe(1);
    // Re-run attempts and the workflow_run Publish (on CI's commit) read nothing more; versions repeat across commits.
    const attempts = runs.reduce((n, r) => n + r.attempts.length, 0);
    expect(attempts).toBeGreaterThan(expected.length);
    const blobs = new Set(filesThatRan(ds, runs).flatMap((f) => (f.version ? [f.version.blobSha] : [])));
    expect(blobs.size).toBeLessThan(expected.length / 4);
  });
});
