/**
 * Workflow definitions end to end at the raw level (issue 15): the simulator's workflow files per commit
 * (simulator/workflow-files.ts: the YAML job graph of every file version, computed from the dataset, not
 * by any parser) → extract → DuckDB load, compared with that ground truth; then incremental extracts that
 * must not read any (path, commit) again.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allJobsOf, generateDataset, startSimulator, type Dataset, type Simulator } from "../simulator/index.js";
import { CONTENTS_JSON_LIMIT, filesThatRan, workflowFileAt, yamlJobOfExecution, type RanFile, type WorkflowFileVersion } from "../simulator/workflow-files.js";
import { runExtract, type ExtractResult } from "../extract/run.js";
import { loadIntoDuckDb } from "../load/duckdb-load.js";
import { duckDbExtractState } from "../load/watermark-duckdb.js";
import { createLogger } from "../log/logger.js";
import type { Reply, RequestContext } from "../simulator/server.js";
import { parseWorkflowFile } from "../extract/workflow-parse.js";
import { pendingFromRow, splitReferencedPath, WorkflowFilePlan } from "../extract/workflow-definitions.js";
import { queryWarehouse as query } from "./warehouse-query.js";

const ANCHOR = "2026-10-15T12:00:00Z";
const SINCE = "2026-10-09";
const GONE = { repo: "acme/web", path: ".github/workflows/ci.yml" };

/** What the parser should have found in a file version, from the simulator's YAML model. */
function expectedJobs(v: WorkflowFileVersion) {
  return v.jobs.map((j) => ({
    job_id: j.id,
    name: j.name,
    needs: j.needs,
    runs_on: j.runsOn,
    environment: j.environment,
    uses: j.uses,
    matrix: j.matrix === null ? null : { include: j.matrix },
    if: j.if,
  }));
}

describe("workflow definitions: simulator ground truth in github_raw", () => {
  let dir: string;
  let ds: Dataset;
  let sim: Simulator;
  let duckdbPath: string;
  let stagingDir: string;
  let ran: RanFile[];
  let first: ExtractResult;
  let gone: RanFile;
  const lines: { level: string; msg: string; [k: string]: unknown }[] = [];
  const log = createLogger({ json: true, level: "info", write: (l) => lines.push(JSON.parse(l) as (typeof lines)[number]) });

  const extractAndLoad = async (): Promise<ExtractResult> => {
    const result = await runExtract(
      { orgs: ["acme"], since: SINCE, apiUrl: sim.url, stagingDir, concurrency: 8, packages: false, deployments: false, now: new Date(Date.parse(ANCHOR) + 3600_000) },
      { log, state: duckDbExtractState(duckdbPath) },
    );
    await loadIntoDuckDb({ stagingDir, duckdbPath, log: createLogger({ write: () => {} }) });
    return result;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-wfdefs-"));
    duckdbPath = join(dir, "warehouse.duckdb");
    stagingDir = join(dir, "staging");
    ds = generateDataset({ seed: "wfdefs", anchor: ANCHOR, days: 6, runsPerRepoPerDay: 4, busyDayRuns: 0, bigRunJobs: 6, bigPackageVersions: 3, workflowGraph: true });
    ran = filesThatRan(ds, ds.runs.filter((r) => r.repo.startsWith("acme/") && r.created_at >= `${SINCE}T00:00:00Z`));
    // One file GitHub answers 404 for at its commit (a file gone at that SHA), the way GitHub says it.
    const candidate = ran.find((f) => f.repo === GONE.repo && f.path === GONE.path);
    if (!candidate) throw new Error("no acme/web CI commit in the window");
    gone = candidate;
    const faults = (ctx: RequestContext): Reply | undefined =>
      ctx.route === "GET /repos/{owner}/{repo}/contents/{path}" && ctx.query.get("ref") === gone.commitSha && decodeURIComponent(ctx.path).endsWith(gone.path)
        ? { status: 404, body: { message: "Not Found", documentation_url: "https://docs.github.com/rest/repos/contents#get-repository-content", status: "404" } }
        : undefined;
    // A rate limit the whole first extract fits in: the reserve (a unit of its own below) is not what this tests.
    sim = await startSimulator({ dataset: ds, rateLimit: 50_000, faults });
    first = await extractAndLoad();
  }, 240_000);

  afterAll(async () => {
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the dataset has what the graph needs: several runs on one commit, a reusable call, a workflow_run trigger, an invalid and a >1 MB file", () => {
    const byKey = new Map<string, number>();
    for (const r of ds.runs) byKey.set(`${r.repo}|${r.workflow_path}|${r.head_sha}`, (byKey.get(`${r.repo}|${r.workflow_path}|${r.head_sha}`) ?? 0) + 1);
    expect(Math.max(...byKey.values())).toBeGreaterThanOrEqual(2);
    const versions = ran.flatMap((f) => (f.version ? [f.version] : []));
    expect(versions.some((v) => v.jobs.some((j) => j.uses?.startsWith("./.github/workflows/reusable-")))).toBe(true);
    expect(versions.some((v) => v.triggers.includes("workflow_run") && v.workflowRunSources.includes("CI"))).toBe(true);
    expect(versions.some((v) => !v.valid)).toBe(true);
    expect(versions.some((v) => v.size > CONTENTS_JSON_LIMIT)).toBe(true);
    // File versions change over time: some paths ran at several blobs, and most blobs at several commits.
    const blobsPerPath = new Map<string, Set<string>>();
    for (const v of versions) blobsPerPath.set(`${v.repo}|${v.path}`, (blobsPerPath.get(`${v.repo}|${v.path}`) ?? new Set()).add(v.blobSha));
    expect([...blobsPerPath.values()].some((s) => s.size >= 2)).toBe(true);
    expect(new Set(versions.map((v) => v.blobSha)).size).toBeLessThan(versions.length);
  });

  it("the simulated jobs follow the YAML: each execution maps to one YAML job, and starts after every execution of the jobs it needs", () => {
    let checked = 0;
    for (const run of ds.runs) {
      const file = workflowFileAt(ds, run.repo, run.workflow_path, run.head_sha);
      if (file.kind !== "file") continue; // dynamic/ CodeQL: no file, nothing to follow
      for (const jobs of allJobsOf(ds, run)) {
        const mapped = jobs.map((j) => ({ j, m: yamlJobOfExecution(ds, run, j.name) }));
        for (const { j, m } of mapped) {
          expect(m, `${run.repo} ${run.workflow_path} ${j.name}`).not.toBeNull();
          if (!m) continue;
          // The YAML ids this execution waits for: its own job's needs in its file (the caller's, for a called job's first level).
          const own = m.callerJobId === null ? file.version.jobs.find((y) => y.id === m.jobId) : undefined;
          const caller = m.callerJobId === null ? undefined : file.version.jobs.find((y) => y.id === m.callerJobId);
          const called = m.callerJobId === null ? undefined : workflowFileAt(ds, run.repo, m.path, run.head_sha);
          const inner = called?.kind === "file" ? called.version.jobs.find((y) => y.id === m.jobId) : undefined;
          const waits = mapped.filter(({ m: d }) => {
            if (!d) return false;
            const top = d.callerJobId ?? d.jobId;
            if (own?.needs.includes(top) && (d.callerJobId !== null || d.path === run.workflow_path)) return true;
            if (caller?.needs.includes(top)) return true;
            return inner !== undefined && d.callerJobId === m.callerJobId && inner.needs.includes(d.jobId);
          });
          for (const { j: d } of waits) {
            if (d.completed_at === null || d.conclusion === "skipped" || j.conclusion === "skipped") continue;
            expect(j.created_at >= d.completed_at, `${run.id} ${j.name} created ${j.created_at} before ${d.name} completed ${d.completed_at}`).toBe(true);
            checked += 1;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it("every file version that ran is in workflow_definitions exactly once, with the jobs, needs and edges of the simulator's YAML", async () => {
    const truth = new Map<string, WorkflowFileVersion>();
    for (const f of ran) if (f.version && f !== gone) truth.set(`${f.repo}|${f.path}|${f.version.blobSha}`, f.version);
    // The 404'd commit's blob may still be known from another commit; count only what some commit reached.
    const rows = await query(
      duckdbPath,
      `SELECT repository, path, blob_sha, size_bytes, workflow_name, valid, errors, triggers, workflow_run_sources, CAST(jobs AS VARCHAR) AS jobs, CAST(edges AS VARCHAR) AS edges
         FROM github_raw.workflow_definitions`,
    );
    const keys = rows.map((r) => `${String(r.repository)}|${String(r.path)}|${String(r.blob_sha)}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set(keys)).toEqual(new Set(truth.keys()));
    for (const r of rows) {
      const v = truth.get(`${String(r.repository)}|${String(r.path)}|${String(r.blob_sha)}`)!;
      const where = `${v.repo} ${v.path} revision ${v.revision}`;
      expect(r.valid, where).toBe(v.valid);
      expect(Number(r.size_bytes), where).toBe(v.size);
      expect(r.workflow_name, where).toBe(v.workflowName);
      if (!v.valid) continue;
      expect(JSON.parse(String(r.jobs)), where).toEqual({ jobs: expectedJobs(v) });
      expect(JSON.parse(String(r.edges)), where).toEqual({ edges: v.edges });
      expect(r.triggers, where).toEqual(v.triggers);
      expect(r.workflow_run_sources, where).toEqual(v.workflowRunSources);
    }
  });

  it("one refs row per (repository, path, commit) the runs used, naming the blob there (null where GitHub answered 404)", async () => {
    const rows = await query(duckdbPath, `SELECT repository, path, commit_sha, blob_sha FROM github_raw.workflow_definition_refs`);
    const got = new Map(rows.map((r) => [`${String(r.repository)}|${String(r.path)}|${String(r.commit_sha)}`, r.blob_sha === null ? null : String(r.blob_sha)]));
    expect(got.size).toBe(rows.length);
    const expected = new Map(ran.filter((f) => !f.path.startsWith("dynamic/")).map((f) => [`${f.repo}|${f.path}|${f.commitSha}`, f === gone ? null : (f.version?.blobSha ?? null)]));
    expect(got).toEqual(expected);
    expect(got.get(`${gone.repo}|${gone.path}|${gone.commitSha}`)).toBeNull();
    expect(first.workflowDefinitions).toMatchObject({ notFound: 1, deferred: 0, forbidden: 0 });
  });

  it("reads each (path, commit) once, however many runs used it, and never a dynamic/ path", () => {
    const requests = sim.contentsRequests();
    expect([...requests.values()].every((c) => c.json === 1)).toBe(true);
    // The 404 is answered by the fault hook, before the simulator's own count.
    expect(requests.size).toBe(ran.filter((f) => !f.path.startsWith("dynamic/")).length - 1);
    expect([...requests.keys()].some((k) => k.includes("|dynamic/"))).toBe(false);
    expect(first.workflowDefinitions?.notFiles).toBeGreaterThan(0);
    // Versions parsed once each: the rest of the reads were blobs already parsed.
    const stats = first.workflowDefinitions!;
    expect(stats.parsed).toBe(new Set(ran.flatMap((f) => (f.version && f !== gone ? [`${f.repo}|${f.path}|${f.version.blobSha}`] : []))).size);
    expect(stats.fetched).toBe(requests.size + 1);
  });

  it("reads a file over 1 MB with the raw media type (its JSON has no content), and parses it", async () => {
    const big = ran.filter((f) => f.version && f.version.size > CONTENTS_JSON_LIMIT);
    expect(big.length).toBeGreaterThan(0);
    const requests = sim.contentsRequests();
    for (const f of big) expect(requests.get(`${f.repo}|${f.path}|${f.commitSha}`)).toEqual({ json: 1, raw: 1 });
    expect([...requests.values()].filter((c) => c.raw > 0)).toHaveLength(big.length);
    // The simulator answers as GitHub does: without the raw media type there is nothing to parse.
    const plain = (await (await fetch(`${sim.url}/repos/${big[0]!.repo}/contents/${big[0]!.path}?ref=${big[0]!.commitSha}`)).json()) as { content: string; encoding: string; size: number };
    expect(plain).toMatchObject({ content: "", encoding: "none" });
    const [row] = await query(duckdbPath, `SELECT valid, size_bytes, content, CAST(jobs AS VARCHAR) AS jobs, CAST(payload AS VARCHAR) AS payload FROM github_raw.workflow_definitions WHERE blob_sha = '${big[0]!.version!.blobSha}'`);
    expect(row?.valid).toBe(true);
    expect(Number(row?.size_bytes)).toBe(big[0]!.version!.size);
    expect(JSON.parse(String(row?.jobs))).toEqual({ jobs: expectedJobs(big[0]!.version!) });
    // Too big for a row under --max-record-bytes: the text is left out, the parsed graph kept.
    expect(row?.content).toBe("");
    expect(JSON.parse(String(row?.payload))).toMatchObject({ content_omitted: true, sha: big[0]!.version!.blobSha });
  });

  it("quarantines the invalid file whole with the parser's message, keeps a valid = false row, warns and goes on", async () => {
    const invalid = ran.find((f) => f.version && !f.version.valid)!.version!;
    const [row] = await query(duckdbPath, `SELECT valid, errors, CAST(jobs AS VARCHAR) AS jobs FROM github_raw.workflow_definitions WHERE blob_sha = '${invalid.blobSha}'`);
    expect(row?.valid).toBe(false);
    const errors = row?.errors as string[];
    expect(errors.join("\n")).toMatch(/Job 'deploy-docs' depends on unknown job 'biuld-docs'/);
    expect(JSON.parse(String(row?.jobs))).toEqual({ jobs: [] });

    expect(first.manifest.quarantined).toBe(1);
    const qdir = join(stagingDir, "quarantine");
    const files = readdirSync(qdir, { recursive: true }).map(String).filter((f) => f.endsWith(".ndjson.gz") && statSync(join(qdir, f)).isFile());
    const entries = files.flatMap((f) => gunzipSync(readFileSync(join(qdir, f))).toString("utf8").trim().split("\n").map((l) => JSON.parse(l) as { resource: string; reason: string; record: { content: string } }));
    expect(entries).toHaveLength(1);
    const [q] = entries;
    expect(q?.resource).toBe("workflow_definitions");
    expect(q?.reason).toContain(`${invalid.repo} ${invalid.path} (blob ${invalid.blobSha})`);
    expect(q?.reason).toContain(errors[0]);
    expect(q?.record.content).toBe(invalid.content);
    const warned = lines.filter((l) => l.msg.startsWith("workflow file does not parse"));
    expect(warned).toHaveLength(1);
    expect(warned[0]?.level).toBe("warn");
    expect(lines.filter((l) => l.level === "error")).toEqual([]);
    // The runs and jobs of the extract are all there.
    expect(first.manifest.counts.workflow_runs).toBeGreaterThan(0);
  });

  it("reads the reusable workflows a run references at their SHA", () => {
    const callers = ds.runs.filter((r) => r.repo === "acme/platform" && r.workflow_name === "CI" && r.created_at >= `${SINCE}T00:00:00Z`);
    expect(callers.length).toBeGreaterThan(0);
    const requests = sim.contentsRequests();
    for (const run of callers) {
      const key = `acme/platform|.github/workflows/reusable-build.yml|${run.head_sha}`;
      expect(requests.get(key), key).toEqual({ json: 1, raw: 0 });
      const called = workflowFileAt(ds, "acme/platform", ".github/workflows/reusable-build.yml", run.head_sha);
      expect(called.kind).toBe("file");
    }
  });

  it("a second extract reads no file again; a new run reads only its own commit's files", async () => {
    sim.resetStats();
    const second = await extractAndLoad();
    expect(sim.contentsRequests().size).toBe(0);
    expect(second.workflowDefinitions).toMatchObject({ fetched: 0, deferred: 0 });

    const added = sim.addRun({ repo: "acme/platform", workflow: "CI" });
    sim.resetStats();
    const third = await extractAndLoad();
    const requests = sim.contentsRequests();
    expect(new Set(requests.keys())).toEqual(new Set([`acme/platform|.github/workflows/ci.yml|${added.head_sha}`, `acme/platform|.github/workflows/reusable-build.yml|${added.head_sha}`]));
    // Both files are versions read before: refs rows only, nothing parsed.
    expect(third.workflowDefinitions).toMatchObject({ fetched: 2, parsed: 0, blobsKnown: 2 });
    const [refs] = await query(duckdbPath, `SELECT COUNT(*) AS n FROM github_raw.workflow_definition_refs WHERE commit_sha = '${added.head_sha}'`);
    expect(Number(refs?.n)).toBe(2);
  }, 120_000);
});

describe("workflow definitions: the rate limit reserve defers files to a later extract, which reads them from the warehouse's backlog", () => {
  let dir: string;
  let ds: Dataset;
  let sim: Simulator;
  const SINCE2 = "2026-10-12";

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-wfdefs-reserve-"));
    ds = generateDataset({ seed: "reserve", anchor: ANCHOR, days: 3, runsPerRepoPerDay: 12, busyDayRuns: 0, bigRunJobs: 4, bigPackageVersions: 3, workflowGraph: true });
    sim = await startSimulator({ dataset: ds, rateLimit: 50_000 });
  });
  afterAll(async () => {
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads nothing above the reserve, then everything the runs used once the budget allows, without fetching a run again", async () => {
    const duckdbPath = join(dir, "warehouse.duckdb");
    const stagingDir = join(dir, "staging");
    const quiet = createLogger({ write: () => {} });
    const tick = async (reserve: number) => {
      const r = await runExtract(
        { orgs: ["acme"], since: SINCE2, apiUrl: sim.url, stagingDir, concurrency: 8, packages: false, deployments: false, workflowDefinitionsReserve: reserve, maxQuarantined: 10, now: new Date(Date.parse(ANCHOR) + 3600_000) },
        { log: quiet, state: duckDbExtractState(duckdbPath) },
      );
      await loadIntoDuckDb({ stagingDir, duckdbPath, log: quiet });
      return r;
    };
    const truth = filesThatRan(ds, ds.runs.filter((r) => r.repo.startsWith("acme/") && r.created_at >= `${SINCE2}T00:00:00Z`)).filter((f) => !f.path.startsWith("dynamic/"));
    expect(truth.some((f) => f.path.includes("/reusable-"))).toBe(true);

    // A reserve above the whole limit: every file waits.
    const first = await tick(1_000_000);
    expect(first.workflowDefinitions).toMatchObject({ fetched: 0, deferred: truth.length, files: truth.length });
    expect(sim.contentsRequests().size).toBe(0);

    // Next extract: its runs are unchanged (not fetched again), the warehouse names the files never read.
    sim.resetStats();
    const second = await tick(0);
    expect(sim.stats().byRoute["GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs"] ?? 0).toBe(0);
    const requests = sim.contentsRequests();
    expect(new Set(requests.keys())).toEqual(new Set(truth.map((f) => `${f.repo}|${f.path}|${f.commitSha}`)));
    expect([...requests.values()].every((c) => c.json === 1)).toBe(true);
    expect(second.workflowDefinitions).toMatchObject({ fetched: truth.length, deferred: 0 });
    const rows = await query(duckdbPath, `SELECT repository, path, commit_sha, blob_sha FROM github_raw.workflow_definition_refs`);
    expect(new Map(rows.map((r) => [`${String(r.repository)}|${String(r.path)}|${String(r.commit_sha)}`, r.blob_sha]))).toEqual(new Map(truth.map((f) => [`${f.repo}|${f.path}|${f.commitSha}`, f.version?.blobSha ?? null])));

    // And then nothing is left.
    sim.resetStats();
    const third = await tick(0);
    expect(sim.contentsRequests().size).toBe(0);
    expect(third.workflowDefinitions).toMatchObject({ fetched: 0, deferred: 0 });
  }, 180_000);
});

describe("workflow definitions: a token that cannot read contents", () => {
  it("skips the repository's files with one warning naming the permission; the runs are kept and the extract succeeds", async () => {
    const dir = mkdtempSync(join(tmpdir(), "aw-wfdefs-403-"));
    const ds = generateDataset({ seed: "forbidden", anchor: ANCHOR, days: 2, runsPerRepoPerDay: 6, busyDayRuns: 0, bigRunJobs: 4, bigPackageVersions: 3 });
    // GitHub's answer to an App installation without Contents: read.
    const faults = (ctx: RequestContext): Reply | undefined =>
      ctx.route === "GET /repos/{owner}/{repo}/contents/{path}" && /^\/repositories\/\d+\/contents\//.test(ctx.path) && ds.repos.some((r) => r.full_name === "acme/api" && ctx.path.startsWith(`/repositories/${r.id}/`))
        ? { status: 403, body: { message: "Resource not accessible by integration", documentation_url: "https://docs.github.com/rest/repos/contents#get-repository-content", status: "403" } }
        : undefined;
    const sim = await startSimulator({ dataset: ds, rateLimit: 50_000, faults });
    const lines: { level: string; msg: string }[] = [];
    try {
      const result = await runExtract(
        { repos: ["acme/api", "acme/web"], since: "2026-10-13", apiUrl: sim.url, stagingDir: join(dir, "staging"), packages: false, deployments: false, now: new Date(ANCHOR) },
        { log: createLogger({ json: true, write: (l) => lines.push(JSON.parse(l) as { level: string; msg: string }) }) },
      );
      const apiRuns = ds.runs.filter((r) => r.repo === "acme/api" && r.created_at >= "2026-10-13T00:00:00Z");
      expect(apiRuns.length).toBeGreaterThan(1);
      const warnings = lines.filter((l) => l.level === "warn" && l.msg.startsWith("workflow files of acme/api skipped"));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.msg).toMatch(/Contents: read/);
      expect(lines.filter((l) => l.level === "error")).toEqual([]);
      expect(result.workflowDefinitions?.forbidden).toBeGreaterThan(0);
      // acme/web's files were read; every run of both repositories is in the extract.
      expect([...sim.contentsRequests().keys()].every((k) => k.startsWith("acme/web|"))).toBe(true);
      expect(sim.contentsRequests().size).toBeGreaterThan(0);
      expect(result.manifest.counts.workflow_runs).toBeGreaterThanOrEqual(ds.runs.filter((r) => ["acme/api", "acme/web"].includes(r.repo) && r.created_at >= "2026-10-13T00:00:00Z").length);
    } finally {
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("workflow files: parsing and planning units", () => {
  it("keeps values as written: environment by name, runs-on groups, conditions, reusable workflows in another repository", async () => {
    const parsed = await parseWorkflowFile(
      ".github/workflows/release.yml",
      [
        "name: Release",
        "on:",
        "  workflow_run:",
        "    workflows: [CI, Nightly]",
        "    types: [completed]",
        "jobs:",
        "  build:",
        "    runs-on: { group: large-runners, labels: [linux] }",
        "    steps: [{ run: make }]",
        "  ship:",
        "    needs: build",
        "    if: github.event.workflow_run.conclusion == 'success'",
        "    environment: { name: production, url: https://example.com }",
        "    runs-on: ubuntu-latest",
        "    steps: [{ run: make ship }]",
        "  shared:",
        "    needs: [build, ship]",
        "    uses: octo/shared/.github/workflows/deploy.yml@v1",
      ].join("\n"),
    );
    expect(parsed).toMatchObject({ valid: true, errors: [], workflowName: "Release", triggers: ["workflow_run"], workflowRunSources: ["CI", "Nightly"] });
    expect(parsed.jobs).toEqual([
      { job_id: "build", name: null, needs: [], runs_on: { group: "large-runners", labels: ["linux"] }, environment: null, uses: null, matrix: null, if: null },
      { job_id: "ship", name: null, needs: ["build"], runs_on: "ubuntu-latest", environment: "production", uses: null, matrix: null, if: "github.event.workflow_run.conclusion == 'success'" },
      { job_id: "shared", name: null, needs: ["build", "ship"], runs_on: null, environment: null, uses: "octo/shared/.github/workflows/deploy.yml@v1", matrix: null, if: null },
    ]);
    expect(parsed.edges).toEqual([{ from: "build", to: "ship" }, { from: "build", to: "shared" }, { from: "ship", to: "shared" }]);
  });

  it("reports what is wrong with a file that does not parse: a cycle, broken YAML, not a workflow", async () => {
    const cycle = await parseWorkflowFile("c.yml", "on: push\njobs:\n  a:\n    needs: b\n    runs-on: x\n    steps: [{ run: a }]\n  b:\n    needs: a\n    runs-on: x\n    steps: [{ run: b }]\n");
    expect(cycle.valid).toBe(false);
    expect(cycle.errors.join("\n")).toMatch(/c\.yml/);
    expect(cycle.jobs).toEqual([]);
    const broken = await parseWorkflowFile("b.yml", "on: push\njobs:\n  a: [\n");
    expect(broken.valid).toBe(false);
    expect(broken.errors.join("\n")).toMatch(/b\.yml/);
    const notWorkflow = await parseWorkflowFile("n.yml", "just text");
    expect(notWorkflow.valid).toBe(false);
    expect(notWorkflow.errors.length).toBeGreaterThan(0);
  });

  it("plans each (repository, path, commit) once, newest commit of every file first, never a dynamic/ path", () => {
    const plan = new WorkflowFilePlan();
    const f = (path: string, sha: string) => ({ repository: "acme/api", path, commitSha: sha });
    plan.add(f(".github/workflows/ci.yml", "a"), 1);
    plan.add(f(".github/workflows/ci.yml", "b"), 3);
    plan.add(f(".github/workflows/ci.yml", "a"), 2);
    plan.add(f(".github/workflows/deploy.yml", "c"), 1);
    plan.add(f("dynamic/github-code-scanning/codeql", "d"), 9);
    expect(plan.size).toBe(3);
    expect(plan.notFiles).toBe(1);
    expect(plan.ordered().map((p) => `${p.path}@${p.commitSha}`)).toEqual([".github/workflows/ci.yml@b", ".github/workflows/deploy.yml@c", ".github/workflows/ci.yml@a"]);
    expect(splitReferencedPath("octo/shared/.github/workflows/deploy.yml@refs/heads/main")).toEqual({ repository: "octo/shared", path: ".github/workflows/deploy.yml" });
    expect(pendingFromRow({ repository: "acme/api", path: ".github/workflows/ci.yml", commit_sha: "e", created_ms: 5, referenced: JSON.stringify([{ path: "octo/shared/.github/workflows/deploy.yml@v1", sha: "f", ref: "refs/tags/v1" }]) })).toEqual([
      { repository: "acme/api", path: ".github/workflows/ci.yml", commitSha: "e", createdAt: 5 },
      { repository: "octo/shared", path: ".github/workflows/deploy.yml", commitSha: "f", createdAt: 5 },
    ]);
  });
});
