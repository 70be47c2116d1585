/**
 * Conformance: every simulator endpoint's JSON body validates against the response schema of the same
 * operation and status code in GitHub's official OpenAPI description (@octokit/openapi, dereferenced).
 */
import type { Ajv, ValidateFunction } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, landmarks, startSimulator, type Dataset, type Simulator } from "../simulator/index.js";
import { deploymentWorld } from "../simulator/deployments.js";
import { gitHubSpec, isObj, responseValidator, schemaValidatorFactory, toJsonSchema, type Json, type Obj } from "./openapi-schema.js";

let spec: Obj;
let ajv: Ajv;
const validators = new Map<string, ValidateFunction>();

function validatorFor(path: string, status: number): ValidateFunction {
  const key = `${path} ${status}`;
  let v = validators.get(key);
  if (!v) {
    v = responseValidator(spec, ajv, "get", path, status);
    validators.set(key, v);
  }
  return v;
}

let ds: Dataset;
let sim: Simulator;

async function check(operationPath: string, url: string, expectedStatus = 200): Promise<Json> {
  const res = await fetch(`${sim.url}${url}`);
  expect(res.status, `${url}`).toBe(expectedStatus);
  const body = (await res.json()) as Json;
  const validate = validatorFor(operationPath, expectedStatus);
  const ok = validate(body);
  expect(ok, `${url} does not match ${operationPath} ${expectedStatus}: ${JSON.stringify(validate.errors?.slice(0, 5), null, 1)}`).toBe(true);
  return body;
}

beforeAll(async () => {
  spec = gitHubSpec();
  ajv = schemaValidatorFactory();
  ds = generateDataset({ seed: 7, days: 3, runsPerRepoPerDay: 10, busyDayRuns: 0 });
  sim = await startSimulator({ dataset: ds });
});
afterAll(async () => {
  await sim?.close();
});

describe("simulator conforms to GitHub's OpenAPI description", () => {
  it("converts nullable and enforces date-time formats (sanity of the harness)", () => {
    const v = ajv.compile(toJsonSchema({ type: "string", format: "date-time", nullable: true }) as Obj);
    expect(v(null)).toBe(true);
    expect(v("2026-10-01T05:30:00Z")).toBe(true);
    expect(v("yesterday")).toBe(false);
  });

  it("root, rate limit, authenticated user", async () => {
    await check("/", "/");
    await check("/rate_limit", "/rate_limit");
    await check("/user", "/user");
  });

  it("repositories of the org and the user, and one repository", async () => {
    const org = await check("/orgs/{org}/repos", "/orgs/acme/repos?per_page=2&page=2");
    expect(Array.isArray(org) && org.length).toBe(2);
    await check("/orgs/{org}/repos", "/orgs/acme/repos?per_page=100");
    await check("/users/{username}/repos", "/users/octo-dev/repos");
    await check("/repos/{owner}/{repo}", "/repos/acme/api");
    await check("/repos/{owner}/{repo}", "/repos/octo-dev/dotfiles");
  });

  it("workflows", async () => {
    await check("/repos/{owner}/{repo}/actions/workflows", "/repos/acme/api/actions/workflows?per_page=2");
    await check("/repos/{owner}/{repo}/actions/workflows", "/repos/acme/web/actions/workflows");
  });

  it("workflow runs: paged, filtered, every state and event", async () => {
    for (const repo of ds.repos) {
      const body = await check("/repos/{owner}/{repo}/actions/runs", `/repos/${repo.full_name}/actions/runs?per_page=100`);
      expect(isObj(body) && Array.isArray(body.workflow_runs) && body.workflow_runs.length).toBeGreaterThan(0);
    }
    await check("/repos/{owner}/{repo}/actions/runs", "/repos/acme/api/actions/runs?per_page=100&page=2");
    const day = ds.runs[0]?.created_at.slice(0, 10) ?? "";
    await check("/repos/{owner}/{repo}/actions/runs", `/repos/acme/api/actions/runs?created=${encodeURIComponent(`>=${day}`)}&branch=main&per_page=50`);
    await check("/repos/{owner}/{repo}/actions/runs", "/repos/acme/api/actions/runs?status=queued");
    await check("/repos/{owner}/{repo}/actions/runs", "/repos/acme/web/actions/runs?status=in_progress");
    await check("/repos/{owner}/{repo}/actions/runs", "/repos/acme/api/actions/runs?event=pull_request&per_page=100");
  });

  it("one run, its attempts, its jobs (latest, all, per attempt)", async () => {
    const lm = landmarks(ds);
    for (const id of [lm.bigRunId, lm.rerunRunId, lm.rerun3RunId, lm.queuedRunId, lm.inProgressRunId, lm.midnightRunId, lm.stuckQueuedRunId]) {
      const run = ds.runs.find((r) => r.id === id);
      if (!run) throw new Error(`landmark ${id} missing`);
      const base = `/repos/${run.repo}/actions/runs/${id}`;
      await check("/repos/{owner}/{repo}/actions/runs/{run_id}", base);
      for (const a of run.attempts) {
        await check("/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}", `${base}/attempts/${a.run_attempt}`);
        await check("/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs", `${base}/attempts/${a.run_attempt}/jobs?per_page=100`);
      }
      await check("/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", `${base}/jobs?per_page=100`);
      await check("/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", `${base}/jobs?filter=all&per_page=100&page=2`);
      await check("/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", `${base}/jobs?filter=all&per_page=100`);
    }
    // a sample of ordinary runs: every conclusion shows up
    for (const run of ds.runs.filter((_, i) => i % 17 === 0)) {
      await check("/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", `/repos/${run.repo}/actions/runs/${run.id}/jobs?filter=all&per_page=100`);
    }
  });

  it("packages and versions (org and user, container and npm)", async () => {
    for (const [scope, login] of [["orgs", "acme"], ["users", "octo-dev"]] as const) {
      for (const type of ["container", "npm"]) {
        const path = scope === "orgs" ? "/orgs/{org}/packages" : "/users/{username}/packages";
        const pkgs = await check(path, `/${scope}/${login}/packages?package_type=${type}`);
        expect(Array.isArray(pkgs) && pkgs.length).toBeGreaterThan(0);
        for (const p of Array.isArray(pkgs) ? pkgs : []) {
          if (!isObj(p)) continue;
          const vpath = scope === "orgs" ? "/orgs/{org}/packages/{package_type}/{package_name}/versions" : "/users/{username}/packages/{package_type}/{package_name}/versions";
          await check(vpath, `/${scope}/${login}/packages/${type}/${String(p.name)}/versions?per_page=100`);
          await check(vpath, `/${scope}/${login}/packages/${type}/${String(p.name)}/versions?per_page=100&page=2`);
          await check(vpath, `/${scope}/${login}/packages/${type}/${String(p.name)}/versions?state=deleted`);
        }
      }
    }
  });

  it("deployments (filters, paging), their statuses, and compare (every status, paged and unpaged, 404)", async () => {
    const world = deploymentWorld(ds);
    const all = await check("/repos/{owner}/{repo}/deployments", "/repos/acme/api/deployments?per_page=100");
    expect(Array.isArray(all) && all.length).toBe(Math.min(100, world.deployments.length));
    await check("/repos/{owner}/{repo}/deployments", "/repos/acme/api/deployments?per_page=5&page=2");
    const prod = await check("/repos/{owner}/{repo}/deployments", "/repos/acme/api/deployments?environment=production&task=deploy");
    expect(Array.isArray(prod) && prod.every((d) => isObj(d) && d.environment === "production" && d.production_environment === true)).toBe(true);
    expect(await check("/repos/{owner}/{repo}/deployments", "/repos/acme/web/deployments")).toEqual([]);
    for (const d of world.deployments.filter((_, i) => i % 3 === 0)) await check("/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", `/repos/acme/api/deployments/${d.id}/statuses`);
    await check("/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", "/repos/acme/api/deployments/1/statuses", 404);
    // identical, ahead, behind and diverged comparisons between deployed SHAs
    const seen = new Set<string>();
    const prodDeploys = world.deployments.filter((d) => d.environment === "production");
    for (let i = 0; i < prodDeploys.length; i++) {
      const base = (prodDeploys[i - 1] ?? prodDeploys[i])?.sha as string;
      const head = prodDeploys[i]?.sha as string;
      const body = await check("/repos/{owner}/{repo}/compare/{basehead}", `/repos/acme/api/compare/${base}...${head}`);
      if (isObj(body)) seen.add(String(body.status));
    }
    // a side-branch commit against main just before its merge: each has a commit the other lacks
    const merge = world.commits.find((c) => c.parents.length === 2);
    if (!merge) throw new Error("no merge commit");
    const diverged = await check("/repos/{owner}/{repo}/compare/{basehead}", `/repos/acme/api/compare/${merge.parents[1]}...${merge.parents[0]}`);
    if (isObj(diverged)) seen.add(String(diverged.status));
    const behind = await check("/repos/{owner}/{repo}/compare/{basehead}", `/repos/acme/api/compare/main...${merge.parents[0]}`);
    if (isObj(behind)) seen.add(String(behind.status));
    expect([...seen].sort()).toEqual(["ahead", "behind", "diverged", "identical"]);
    const first = world.commits[0]?.sha as string;
    await check("/repos/{owner}/{repo}/compare/{basehead}", `/repos/acme/api/compare/${first}...main?per_page=100&page=2`);
    await check("/repos/{owner}/{repo}/compare/{basehead}", `/repos/acme/api/compare/${first.slice(0, 7)}...main`);
    await check("/repos/{owner}/{repo}/compare/{basehead}", `/repos/acme/api/compare/${first}...${"0".repeat(40)}`, 404);
  });

  it("workflow file contents per commit: a file, one over 1 MB (no content), 404s; runs naming their reusable workflows", async () => {
    const graph = generateDataset({ seed: 7, days: 3, runsPerRepoPerDay: 16, busyDayRuns: 0, bigRunJobs: 4, bigPackageVersions: 3, workflowGraph: true });
    const other = await startSimulator({ dataset: graph });
    const previous = sim;
    sim = other;
    try {
      const contents = "/repos/{owner}/{repo}/contents/{path}";
      const ci = graph.runs.find((r) => r.repo === "acme/platform" && r.workflow_name === "CI");
      const big = graph.runs.find((r) => r.repo === "acme/platform" && r.workflow_path.endsWith("/generated.yml"));
      if (!ci || !big) throw new Error("no acme/platform CI or generated run");
      const file = await check(contents, `/repos/acme/platform/contents/${ci.workflow_path}?ref=${ci.head_sha}`);
      expect(file).toMatchObject({ type: "file", encoding: "base64", path: ci.workflow_path });
      const large = await check(contents, `/repos/acme/platform/contents/${big.workflow_path}?ref=${big.head_sha}`);
      expect(large).toMatchObject({ type: "file", encoding: "none", content: "" });
      await check(contents, `/repos/acme/platform/contents/.github/workflows/nope.yml?ref=${ci.head_sha}`, 404);
      await check(contents, `/repos/acme/platform/contents/${ci.workflow_path}?ref=${"0".repeat(40)}`, 404);
      const run = await check("/repos/{owner}/{repo}/actions/runs/{run_id}", `/repos/acme/platform/actions/runs/${ci.id}`);
      expect(isObj(run) && Array.isArray(run.referenced_workflows) && run.referenced_workflows.length).toBe(1);
    } finally {
      sim = previous;
      await other.close();
    }
  });

  it("rejects a body missing a required field (the harness has teeth)", async () => {
    const run = ds.runs[0];
    if (!run) throw new Error("no runs");
    const res = await fetch(`${sim.url}/repos/${run.repo}/actions/runs/${run.id}/jobs`);
    const body = (await res.json()) as Json;
    const validate = validatorFor("/repos/{owner}/{repo}/actions/runs/{run_id}/jobs", 200);
    expect(validate(body)).toBe(true);
    const job = isObj(body) && Array.isArray(body.jobs) ? body.jobs[0] : undefined;
    if (!isObj(job)) throw new Error("no job");
    delete job.started_at;
    expect(validate(body)).toBe(false);
  });

  it("error bodies where the description has them", async () => {
    await check("/orgs/{org}/packages/{package_type}/{package_name}/versions", "/orgs/acme/packages/container/nope/versions", 404);
    await check("/repos/{owner}/{repo}", "/repos/acme/nope", 404);
  });
});
