/**
 * Test artifacts end to end at the raw level (issue 14): the simulator's seeded JUnit and coverage zips
 * → `--test-artifacts` extract → DuckDB load (the pipeline's first two stages, in-process), compared
 * with the simulator's ground truth; then a second extract that must not download any artifact again.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifactTruth, generateDataset, startSimulator, type ArtifactTruth, type Dataset, type Simulator } from "../simulator/index.js";
import { runExtract, type ExtractResult } from "../extract/run.js";
import { loadIntoDuckDb } from "../load/duckdb-load.js";
import { runTransform } from "../transform/run.js";
import { duckDbExtractState } from "../load/watermark-duckdb.js";
import { silentLogger } from "../log/logger.js";
import { gitHubSpec, responseValidator, schemaValidatorFactory, type Json } from "./openapi-schema.js";
import { runDoctor } from "../jobs/doctor.js";
import { createGitHubClient } from "../extract/client.js";
import { BatchWriter } from "../extract/batch-writer.js";
import { emptyArtifactStats, extractRepoArtifacts } from "../extract/artifacts.js";
import { repoRef } from "../extract/actions.js";
import { queryWarehouse as query } from "./warehouse-query.js";

const ANCHOR = "2026-10-15T12:00:00Z";
const SINCE = "2026-10-01";
const REPOS = ["acme/ml-platform", "acme/api", "acme/mobile"];
const GLOBS = ["junit*", "test-results*", "coverage*"];

describe("test artifacts: simulator ground truth in github_raw", () => {
  let dir: string;
  let ds: Dataset;
  let sim: Simulator;
  let duckdbPath: string;
  let stagingDir: string;
  let truth: ArtifactTruth;
  let first: ExtractResult;

  const extractAndLoad = async (extra: { refetch?: boolean } = {}): Promise<ExtractResult> => {
    const result = await runExtract(
      { repos: REPOS, since: SINCE, apiUrl: sim.url, stagingDir, concurrency: 8, testArtifacts: GLOBS, maxQuarantined: 10, ...extra },
      { log: silentLogger, state: duckDbExtractState(duckdbPath) },
    );
    await loadIntoDuckDb({ stagingDir, duckdbPath, log: silentLogger });
    return result;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-artifacts-"));
    duckdbPath = join(dir, "warehouse.duckdb");
    stagingDir = join(dir, "staging");
    ds = generateDataset({ seed: 7, anchor: ANCHOR, days: 14, busyDayRuns: 0 });
    // Listing every run's artifacts costs one request per run: above the default 5,000/h for this scope.
    sim = await startSimulator({ dataset: ds, rateLimit: 100_000 });
    truth = artifactTruth(ds);
    first = await extractAndLoad();
  }, 300_000);

  afterAll(async () => {
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the seeded artifacts hold what the issue asks for", () => {
    expect(truth.cases.length).toBeGreaterThan(1000);
    expect(truth.expired).toHaveLength(1);
    expect(truth.rejected.map((r) => r.kind).sort()).toEqual(["bomb", "corrupt", "traversal"]);
    // Matrix legs share test names.
    const ubuntu = new Set(truth.cases.filter((c) => c.artifactName === "junit-ubuntu").map((c) => c.name));
    const windows = new Set(truth.cases.filter((c) => c.artifactName === "junit-windows").map((c) => c.name));
    expect([...ubuntu].sort()).toEqual([...windows].sort());
    // A test failing on attempt 1 and passing on attempt 2 of the same run (same SHA).
    const coupon = truth.cases.filter((c) => c.runId === ds.special.rerun2RunId && c.name === "applies coupon");
    expect(coupon.map((c) => [c.runAttempt, c.status])).toEqual([
      [1, "failed"],
      [2, "passed"],
    ]);
    expect(truth.flaky.map((f) => `${f.artifactName} ${f.name}`).sort()).toEqual(["junit-ubuntu test_read_parquet", "test-results applies coupon", "test-results-android syncRetriesOnTimeout"]);
  });

  it("every test case of the simulator's artifacts is in github_raw.test_cases exactly once, with its attempt, status and file", async () => {
    const rows = await query(
      duckdbPath,
      `SELECT artifact_id, ordinal, run_id, run_attempt, artifact_name, report_path, classname, name, status, duration_seconds, flaky_failures, rerun_failures, suite
       FROM github_raw.test_cases ORDER BY artifact_id, ordinal`,
    );
    const got = rows.map((r) => JSON.stringify([Number(r.artifact_id), Number(r.ordinal), Number(r.run_id), Number(r.run_attempt), r.artifact_name, r.report_path, r.classname, r.name, r.status, Number(r.duration_seconds), Number(r.flaky_failures), Number(r.rerun_failures), r.suite]));
    const want = [...truth.cases]
      .sort((a, b) => a.artifactId - b.artifactId || a.ordinal - b.ordinal)
      .map((c) => JSON.stringify([c.artifactId, c.ordinal, c.runId, c.runAttempt, c.artifactName, c.reportPath, c.classname, c.name, c.status, c.durationSeconds, c.flakyFailures, c.rerunFailures, c.suite]));
    expect(rows.length).toBe(truth.cases.length);
    expect(new Set(got).size).toBe(got.length);
    expect(got).toEqual(want);
  });

  it("the raw rows show exactly the seeded flaky tests (same SHA failed and passed per matrix leg, or a Surefire flakyFailure)", async () => {
    const rows = await query(
      duckdbPath,
      `WITH t AS (
         SELECT c.repository, c.artifact_name, c.classname, c.name, c.status, c.flaky_failures, r.head_sha
         FROM github_raw.test_cases c
         JOIN (SELECT DISTINCT run_id, head_sha FROM github_raw.workflow_runs) r USING (run_id))
       SELECT repository, artifact_name, classname, name FROM t
       GROUP BY repository, artifact_name, classname, name
       HAVING MAX(flaky_failures) > 0
           OR COUNT(DISTINCT CASE WHEN status IN ('failed', 'error') THEN head_sha END) FILTER (WHERE head_sha IN (SELECT head_sha FROM t t2 WHERE t2.repository = t.repository AND t2.artifact_name = t.artifact_name AND t2.classname = t.classname AND t2.name = t.name AND t2.status = 'passed')) > 0
       ORDER BY 1, 2, 3, 4`,
    );
    expect(rows.map((r) => `${String(r.artifact_name)} ${String(r.name)}`).sort()).toEqual(truth.flaky.map((f) => `${f.artifactName} ${f.name}`).sort());
  });

  it("coverage per run equals the seeded values, Cobertura and JaCoCo", async () => {
    const rows = await query(duckdbPath, `SELECT run_id, run_attempt, artifact_id, report_path, format, lines_covered, lines_valid, branches_covered, branches_valid, line_rate, branch_rate FROM github_raw.coverage_reports`);
    const got = new Map(rows.map((r) => [`${String(r.artifact_id)} ${String(r.report_path)}`, r]));
    expect(rows).toHaveLength(truth.coverage.length);
    expect(new Set(truth.coverage.map((c) => c.format))).toEqual(new Set(["cobertura", "jacoco"]));
    for (const c of truth.coverage) {
      const r = got.get(`${c.artifactId} ${c.reportPath}`);
      expect(r, `coverage of run ${c.runId}`).toBeDefined();
      expect([Number(r?.run_id), Number(r?.run_attempt), r?.format, Number(r?.lines_covered), Number(r?.lines_valid), Number(r?.branches_covered), Number(r?.branches_valid)]).toEqual([c.runId, c.runAttempt, c.format, c.linesCovered, c.linesValid, c.branchesCovered, c.branchesValid]);
      expect(Number(r?.line_rate)).toBeCloseTo(c.lineRate, 12);
      expect(Number(r?.branch_rate)).toBeCloseTo(c.branchRate, 12);
    }
  });

  it("the models: every seeded test case is in fct_test_cases exactly once; rpt_flaky_tests finds exactly the seeded flaky tests, matrix legs apart", async () => {
    await runTransform({ duckdbPath });
    const facts = await query(duckdbPath, `SELECT artifact_id, ordinal, status, name, COUNT(*) OVER (PARTITION BY artifact_id, ordinal) AS n FROM actions_warehouse.fct_test_cases`);
    expect(facts).toHaveLength(truth.cases.length);
    expect(facts.every((f) => Number(f.n) === 1)).toBe(true);
    const got = new Map(facts.map((f) => [`${String(f.artifact_id)}:${String(f.ordinal)}`, `${String(f.name)} ${String(f.status)}`]));
    for (const c of truth.cases) expect(got.get(`${c.artifactId}:${c.ordinal}`), `${c.artifactName} ${c.name}`).toBe(`${c.name} ${c.status}`);
    const flaky = await query(duckdbPath, `SELECT repository, leg, job, classname, name FROM actions_warehouse.rpt_flaky_tests`);
    expect(flaky.map((f) => `${String(f.repository)} ${String(f.classname)} ${String(f.name)}`).sort()).toEqual(truth.flaky.map((f) => `${f.repository} ${f.classname} ${f.name}`).sort());
    // The matrix test failed on Windows and passed on Ubuntu of one SHA (not flaky), and flaked on Ubuntu:
    // one row, the Ubuntu leg (its artifact), with the job that leg maps to.
    const parquet = flaky.filter((f) => f.name === "test_read_parquet");
    expect(parquet).toHaveLength(1);
    expect(parquet[0]?.leg).toBe("junit-ubuntu");
    expect(parquet[0]?.job).toBe(truth.flaky.find((f) => f.name === "test_read_parquet")?.jobName);
  });

  it("the expired artifact is counted, not downloaded, not an error; rejected ones are quarantined; the rest parsed", async () => {
    const rows = await query(duckdbPath, `SELECT artifact_id, artifact_name, outcome, expired, test_cases FROM github_raw.workflow_artifacts`);
    const byId = new Map(rows.map((r) => [Number(r.artifact_id), r]));
    const selected = truth.artifacts.filter((a) => GLOBS.some((g) => a.name.startsWith(g.slice(0, -1))));
    expect(rows).toHaveLength(selected.length);
    expect(byId.get(truth.expired[0]!)?.outcome).toBe("expired");
    for (const r of truth.rejected) expect(byId.get(r.id)?.outcome, r.name).toBe("quarantined");
    expect(rows.filter((r) => r.outcome === "parsed")).toHaveLength(selected.length - 1 - truth.rejected.length);
    expect(rows.some((r) => r.artifact_name === "dist")).toBe(false);
    expect(first.artifacts?.expired).toBe(1);
    // The three rejected zips, and the malformed file beside a good report (whose cases are in the truth).
    expect(truth.malformed).toHaveLength(1);
    expect(first.manifest.quarantined).toBe(3 + truth.malformed.length);
    expect(byId.get(truth.malformed[0]!.artifactId)?.outcome).toBe("parsed");
    const downloads = sim.artifactDownloads();
    expect(downloads.some((d) => d.artifactId === truth.expired[0])).toBe(false);
    // Requests for artifacts: one list per completed run fetched, one download per selected live artifact.
    const routes = sim.stats().byRoute;
    expect(routes["GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}"]).toBe(selected.length - 1);
    expect(downloads).toHaveLength(selected.length - 1);
  });

  it("a second extract, even with --refetch, downloads nothing it already holds; a re-run's new artifacts are read once", async () => {
    // A run that already uploaded reports on attempt 1 (every 6th ml-platform run does, simulator/artifacts.ts).
    const rerunOf = ds.runs.find((r) => r.repo === "acme/ml-platform" && r.seq % 6 === 0 && r.attempts.length === 1 && r.attempts[0]?.conclusion === "failure" && r.workflow_name === "CI")!;
    expect(truth.artifacts.some((a) => a.run.id === rerunOf.id)).toBe(true);
    sim.rerun(rerunOf.id, { outcome: "success" });
    const before = sim.artifactDownloads().length;
    const second = await extractAndLoad({ refetch: true });
    const downloaded = sim.artifactDownloads().slice(before);
    // The new attempt's junit-ubuntu, junit-windows and coverage, nothing else.
    expect(downloaded.map((d) => d.artifactId).sort()).toEqual(
      artifactTruth(ds, { runIds: new Set([rerunOf.id]) })
        .artifacts.filter((a) => a.attempt.run_attempt === 2 && a.name !== "dist")
        .map((a) => a.id)
        .sort(),
    );
    expect(second.artifacts?.known).toBe(first.artifacts?.selected);
    const after = artifactTruth(ds);
    const [counts] = await query(duckdbPath, `SELECT COUNT(*) AS n, COUNT(DISTINCT (artifact_id, ordinal)) AS keys FROM github_raw.test_cases`);
    expect([Number(counts?.n), Number(counts?.keys)]).toEqual([after.cases.length, after.cases.length]);
  }, 300_000);

  it("the artifact list conforms to GitHub's OpenAPI description; the zip answers 302 (410 once expired)", async () => {
    const spec = gitHubSpec();
    const ajv = schemaValidatorFactory();
    const run = truth.artifacts.find((a) => a.kind === "expired")!.run;
    const res = await fetch(`${sim.url}/repos/${run.repo}/actions/runs/${run.id}/artifacts?per_page=3`);
    const body = (await res.json()) as Json;
    const validate = responseValidator(spec, ajv, "get", "/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts", 200);
    expect(validate(body), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    expect(res.headers.get("link")).toMatch(/rel="next"/);
    const live = truth.artifacts.find((a) => a.run.id === run.id && a.kind === "junit")!;
    const zip = await fetch(`${sim.url}/repos/${run.repo}/actions/artifacts/${live.id}/zip`, { redirect: "manual" });
    expect(zip.status).toBe(302);
    expect(new URL(zip.headers.get("location") ?? "").origin).toBe(sim.downloadUrl);
    const gone = await fetch(`${sim.url}/repos/${run.repo}/actions/artifacts/${truth.expired[0]}/zip`, { redirect: "manual" });
    expect(gone.status).toBe(410);
    const validateGone = responseValidator(spec, ajv, "get", "/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}", 410);
    expect(validateGone((await gone.json()) as Json)).toBe(true);
    const repoList = (await (await fetch(`${sim.url}/repos/acme/ml-platform/actions/artifacts?per_page=2`)).json()) as Json;
    expect(responseValidator(spec, ajv, "get", "/repos/{owner}/{repo}/actions/artifacts", 200)(repoList)).toBe(true);
  });

  it("lists the repository's artifacts when that is cheaper (first extract), one run at a time when it is not", async () => {
    // The first extract fetched hundreds of runs per repository: a few pages of the repository list cost less.
    expect(first.artifacts?.repoPages).toBeGreaterThan(0);
    expect(first.artifacts?.runsListed).toBe(0);
    // One run of a repository holding more than 100 artifacts: its own list (after the one probing page).
    const run = truth.artifacts.find((a) => a.kind === "coverage" && a.run.repo === "acme/ml-platform")!.run;
    const { octokit } = createGitHubClient({ apiUrl: sim.url, log: silentLogger });
    const writer = new BatchWriter(join(dir, "one-run"), "20261015T120000Z-00000000", "2026-10-15");
    const stats = emptyArtifactStats();
    const tasks: Promise<void>[] = [];
    await extractRepoArtifacts(octokit, writer, repoRef(run.repo), new Map([[run.id, []]]), { globs: GLOBS, stagingDir: join(dir, "one-run"), extractId: "20261015T120000Z-00000000", known: new Set(), stats }, (task) => tasks.push(task()));
    await Promise.all(tasks);
    writer.abandon();
    const want = truth.artifacts.filter((a) => a.run.id === run.id && a.name !== "dist");
    expect([stats.repoPages, stats.runsListed, stats.selected]).toEqual([1, 1, want.length]);
    expect(stats.testCases).toBe(truth.cases.filter((c) => c.runId === run.id).length);
  });

  it("doctor says whether test artifacts are on and whether the token can list them", async () => {
    const check = async (testArtifacts: string[], repos: string[]) =>
      (await runDoctor({ apiUrl: sim.url, duckdbPath: join(dir, "doctor.duckdb"), stagingDir: join(dir, "doctor-staging"), testArtifacts, scope: { repos } })).find((r) => r.check === "test artifacts");
    expect(await check([], ["acme/ml-platform"])).toMatchObject({ status: "skip", detail: expect.stringMatching(/^off/) });
    expect(await check(GLOBS, [])).toMatchObject({ status: "warn", detail: expect.stringMatching(/give --repo/) });
    expect(await check(GLOBS, ["acme/ml-platform"])).toMatchObject({ status: "ok", detail: expect.stringMatching(/on for junit\*, test-results\*, coverage\*; the token can list the artifacts of acme\/ml-platform \(\d+ kept\)/) });
    expect(await check(GLOBS, ["acme/nope"])).toMatchObject({ status: "fail", detail: expect.stringMatching(/answered 404: the token needs Actions: read/) });
  });
});
