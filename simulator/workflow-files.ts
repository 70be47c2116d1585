/**
 * Workflow files of the simulated repositories, per commit: what `GET /repos/{o}/{r}/contents/{path}?ref={sha}`
 * serves, and the ground truth (the YAML job graph of every file version) tests compare the extract with.
 *
 * Rendering: each `SimWorkflow` becomes real workflow YAML. Matrix legs (`test (ubuntu-latest, 20)`) are
 * one YAML job with `strategy.matrix.include`; shard legs (`e2e (shard 3/128)`) one job with a `name:`
 * template; some jobs have an id different from their display name (`RENAMED`, with `name:`); a group of
 * `caller / called` jobs is one caller job `uses: ./.github/workflows/reusable-<caller>.yml`, whose file
 * holds the called jobs (`on: workflow_call`). `needs` name YAML job ids.
 *
 * Versions: a file changes over time. A workflow with `versions` (acme/platform CI) has one file revision
 * per version (their job graphs differ, and the runs' jobs follow them); every other workflow file gets a
 * second revision (a comment and a timeout, same graph) from a time per workflow, except the files listed
 * in `ONE_REVISION`. The revision a commit holds follows the creation time of the first run on that commit,
 * so many head SHAs share a blob and some SHAs have another. The `dynamic/...` path of a default-setup
 * CodeQL workflow is not a file: 404, as on GitHub.
 *
 * Everything is derived from the dataset (deterministic from its seed) and independent of any parser.
 */
import { createHash } from "node:crypto";
import { stringify } from "yaml";
import { executes, jobsAt, toSec, workflowOf, type Dataset, type RunnerKind, type SimJobTemplate, type SimRun } from "./dataset.js";

/** One job of a workflow file, as written in the YAML. */
export interface YamlJob {
  /** The key under `jobs:`. */
  id: string;
  /** The `name:` value when the file sets one (may hold `${{ matrix.* }}`), else null. */
  name: string | null;
  /** YAML job ids, in file order. */
  needs: string[];
  /** `runs-on` (null for a job calling a reusable workflow). */
  runsOn: string | string[] | null;
  /** `strategy.matrix.include`, or null. */
  matrix: Record<string, string | number>[] | null;
  /** `uses:` of a job calling a reusable workflow, or null. */
  uses: string | null;
  environment: string | null;
  if: string | null;
  steps: string[];
  /** Display names of the jobs GitHub runs for it (matrix legs; `caller / called` for a reusable call). */
  executions: string[];
}

/** One revision of one workflow file: its text and the graph it holds. */
export interface WorkflowFileVersion {
  repo: string;
  path: string;
  revision: number;
  /** Top-level `name:`, null when the file has none. */
  workflowName: string | null;
  /** Event names under `on:`. */
  triggers: string[];
  /** `on.workflow_run.workflows`. */
  workflowRunSources: string[];
  jobs: YamlJob[];
  /** `{from, to}`: from the needed job to the job that needs it, in file order. */
  edges: { from: string; to: string }[];
  /** False for the file the parser rejects (a job needs a job that does not exist). */
  valid: boolean;
  content: string;
  size: number;
  /** Git blob SHA: sha1("blob <size>\0<bytes>"), as `git hash-object` computes it. */
  blobSha: string;
}

/** GitHub's contents API serves JSON content up to this size; larger files need the raw media type. */
export const CONTENTS_JSON_LIMIT = 1024 * 1024;

/** Display bases whose YAML job id differs (the file then sets `name:`). */
const RENAMED: Record<string, string> = { "build-image": "docker-image", deploy: "release", report: "merge-reports", analyze: "codeql", publish: "publish-package", verify: "smoke" };
/** Matrix key of a leg's first value that is not the runner. */
const FIRST_KEY: Record<string, string> = { analyze: "language", train: "accelerator" };
/** Files with a single revision. */
const ONE_REVISION = new Set(["acme/platform|.github/workflows/docs.yml", "acme/platform|.github/workflows/generated.yml"]);
const HOSTED: ReadonlySet<string> = new Set(["ubuntu-latest", "ubuntu-22.04", "windows-latest", "macos-14"]);
const DAY = 86_400;

export function gitBlobSha(bytes: Buffer): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

const idOf = (display: string): string => RENAMED[display] ?? display;
const runsOnOf = (runner: RunnerKind): string | string[] =>
  runner === "self-hosted" ? ["self-hosted", "linux", "x64"] : runner === "gpu" ? ["self-hosted", "linux", "x64", "gpu"] : runner;
const legOf = (name: string): { base: string; values: string[] } | null => {
  const m = /^(.+?) \((.+)\)$/.exec(name);
  return m?.[1] && m[2] ? { base: m[1], values: m[2].split(", ") } : null;
};

/** Groups executed job templates into YAML jobs (file order = first appearance). */
function yamlJobs(templates: SimJobTemplate[], repo: string, reusable: Map<string, SimJobTemplate[]>): YamlJob[] {
  const groups = new Map<string, { kind: "plain" | "matrix" | "call"; members: SimJobTemplate[] }>();
  for (const t of templates) {
    const call = t.name.includes(" / ") ? t.name.slice(0, t.name.indexOf(" / ")) : null;
    const leg = call === null ? legOf(t.name) : null;
    const key = call ?? leg?.base ?? t.name;
    const g = groups.get(key) ?? { kind: call !== null ? "call" : leg ? "matrix" : "plain", members: [] };
    g.members.push(t);
    groups.set(key, g);
  }
  const baseOfNeed = (need: string): string => idOf(need);
  const jobs: YamlJob[] = [];
  for (const [display, g] of groups) {
    const id = idOf(display);
    const first = g.members[0];
    if (!first) continue;
    const external = [...new Set(g.members.flatMap((m) => m.needs).filter((n) => !n.startsWith(`${display} / `)).map(baseOfNeed))];
    const common = {
      id, needs: external, uses: null, matrix: null, name: null as string | null, executions: g.members.map((m) => m.name),
      environment: /^deploy|^publish/.test(display) ? "production" : null,
      if: first.defaultBranchOnly ? "github.ref == 'refs/heads/main'" : null,
      steps: first.steps,
    };
    if (g.kind === "call") {
      const file = `.github/workflows/reusable-${id}.yml`;
      reusable.set(`${repo}|${file}`, g.members.map((m) => ({ ...m, name: m.name.slice(display.length + 3), needs: m.needs.filter((n) => n.startsWith(`${display} / `)).map((n) => n.slice(display.length + 3)) })));
      jobs.push({ ...common, runsOn: null, uses: `./${file}`, steps: [], environment: null, name: id === display ? null : display });
    } else if (g.kind === "matrix") {
      const legs = g.members.map((m) => ({ m, values: legOf(m.name)?.values ?? [] }));
      const shard = legs.every((l) => l.values.length === 1 && /^shard \d+\/\d+$/.test(l.values[0] ?? ""));
      const mixedRunners = new Set(g.members.map((m) => m.runner)).size > 1;
      if (shard) {
        const total = (legs[0]?.values[0] ?? "").split("/")[1] ?? "1";
        const include = legs.map((l) => ({ shard: Number(/shard (\d+)/.exec(l.values[0] ?? "")?.[1] ?? 0), ...(mixedRunners ? { os: l.m.runner } : {}) }));
        jobs.push({ ...common, name: `${display} (shard \${{ matrix.shard }}/${total})`, runsOn: mixedRunners ? "${{ matrix.os }}" : runsOnOf(first.runner), matrix: include });
      } else {
        const osFirst = legs.every((l) => l.values[0] === l.m.runner && HOSTED.has(l.m.runner));
        const keys = (l: { values: string[] }) => l.values.map((v, i) => (i === 0 ? (osFirst ? "os" : (FIRST_KEY[display] ?? "target")) : /^\d+$/.test(v) ? "node" : /^\d+\.\d+$/.test(v) ? "python" : `v${i}`));
        const include = legs.map((l) => Object.fromEntries(l.values.map((v, i) => [keys(l)[i] ?? `v${i}`, /^\d+$/.test(v) ? Number(v) : v])));
        const name = id === display ? null : `${display} (${keys(legs[0] ?? { values: [] }).map((k) => `\${{ matrix.${k} }}`).join(", ")})`;
        jobs.push({ ...common, name, runsOn: osFirst ? "${{ matrix.os }}" : runsOnOf(first.runner), matrix: include });
      }
    } else {
      jobs.push({ ...common, name: id === display ? null : display, runsOn: runsOnOf(first.runner) });
    }
  }
  return jobs;
}

function edgesOf(jobs: YamlJob[]): { from: string; to: string }[] {
  return jobs.flatMap((j) => j.needs.map((n) => ({ from: n, to: j.id })));
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");

function stepYaml(step: string): Record<string, string> {
  const uses = /^Run (actions\/[\w-]+@v\d+)$/.exec(step)?.[1];
  return uses ? { uses } : { name: step, run: `./ci/${slug(step)}.sh` };
}

function onYaml(events: string[], sources: string[]): Record<string, unknown> {
  const on: Record<string, unknown> = {};
  for (const e of events) {
    if (e === "push") on.push = { branches: ["main", "feature/**", "fix/**"] };
    else if (e === "pull_request") on.pull_request = { branches: ["main"] };
    else if (e === "schedule") on.schedule = [{ cron: "0 2 * * *" }];
    else if (e === "workflow_dispatch") on.workflow_dispatch = null;
    else if (e === "workflow_call") on.workflow_call = null;
    else if (e === "workflow_run") on.workflow_run = { workflows: sources, types: ["completed"], branches: ["main"] };
    else on[e] = null;
  }
  return on;
}

function jobYaml(j: YamlJob, revision: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (j.name !== null) out.name = j.name;
  if (j.needs.length === 1) out.needs = j.needs[0];
  else if (j.needs.length > 1) out.needs = j.needs;
  if (j.if !== null) out.if = j.if;
  if (j.uses !== null) {
    out.uses = j.uses;
    out.secrets = "inherit";
    return out;
  }
  if (j.matrix !== null) out.strategy = { "fail-fast": false, matrix: { include: j.matrix } };
  out["runs-on"] = j.runsOn;
  if (j.environment !== null) out.environment = j.environment;
  if (revision > 1) out["timeout-minutes"] = 60;
  out.steps = j.steps.map(stepYaml);
  return out;
}

interface FileSpec {
  repo: string;
  path: string;
  workflowName: string | null;
  events: string[];
  sources: string[];
  /** One job list per revision. */
  revisions: YamlJob[][];
  /** Start of each revision after the first (epoch seconds), ascending. */
  changes: number[];
  invalid: boolean;
  padToBytes: number;
}

interface Files {
  specs: Map<string, FileSpec>;
  versions: Map<string, WorkflowFileVersion[]>;
  /** head SHA → creation (epoch s) of the first run on it, per repository. */
  commits: Map<string, Map<string, number>>;
  runCount: number;
}
const cache = new WeakMap<Dataset, Files>();
const fileKey = (repo: string, path: string) => `${repo}|${path}`;

/** The rejected file's error: a job needs a job id that is not in the file. */
const INVALID_NEEDS = "biuld-docs";

function buildSpecs(ds: Dataset): Map<string, FileSpec> {
  const specs = new Map<string, FileSpec>();
  const anchorDay = toSec(ds.anchor) - (toSec(ds.anchor) % DAY);
  for (const w of ds.workflows) {
    if (w.path.startsWith("dynamic/")) continue; // GitHub default setups: no file
    const reusable = new Map<string, SimJobTemplate[]>();
    const versions = w.versions ?? [{ from: w.created_at, jobs: w.jobs }];
    const revisions = versions.map((v) => yamlJobs(v.jobs, w.repo, reusable));
    let changes = versions.slice(1).map((v) => toSec(v.from));
    const key = fileKey(w.repo, w.path);
    if (!w.versions && !ONE_REVISION.has(key)) {
      // Same graph, edited file: a second revision from a time of its own in the last fortnight.
      changes = [anchorDay - (3 + (w.id % 9)) * DAY + (w.id % 13) * 3600];
      revisions.push(revisions[0] ?? []);
    }
    const invalid = w.repo === "acme/platform" && w.path.endsWith("/docs.yml");
    if (invalid) {
      const docs: YamlJob = { id: "build-docs", name: null, needs: [], runsOn: "ubuntu-latest", matrix: null, uses: null, environment: null, if: null, steps: ["Run actions/checkout@v4", "Build docs"], executions: [] };
      revisions.splice(0, revisions.length, [docs, { ...docs, id: "deploy-docs", needs: [INVALID_NEEDS], steps: ["Deploy docs"], environment: "docs" }]);
    }
    const sources = w.events.includes("workflow_run") ? ds.workflows.filter((x) => x.repo === w.repo && x.name === "CI").map((x) => x.name) : [];
    specs.set(key, {
      repo: w.repo, path: w.path, workflowName: w.name, events: w.events, sources, revisions, changes, invalid,
      padToBytes: w.path.endsWith("/generated.yml") ? CONTENTS_JSON_LIMIT + 64 * 1024 : 0,
    });
    // The reusable workflows it calls: same revision times as the caller.
    for (const [rkey, templates] of reusable) {
      const [repo = "", path = ""] = rkey.split("|");
      const jobs = yamlJobs(templates, repo, new Map());
      specs.set(rkey, { repo, path, workflowName: `Reusable ${path.replace(/^.*reusable-|\.yml$/g, "")}`, events: ["workflow_call"], sources: [], revisions: revisions.map(() => jobs), changes, invalid: false, padToBytes: 0 });
    }
  }
  return specs;
}

function render(spec: FileSpec, revision: number): WorkflowFileVersion {
  const jobs = spec.revisions[revision - 1] ?? [];
  const doc: Record<string, unknown> = {};
  if (spec.workflowName !== null) doc.name = spec.workflowName;
  doc.on = onYaml(spec.events, spec.sources);
  if (revision > 1) doc.concurrency = { group: "${{ github.workflow }}-${{ github.ref }}", "cancel-in-progress": true };
  doc.jobs = Object.fromEntries(jobs.map((j) => [j.id, jobYaml(j, revision)]));
  let content = `# ${spec.repo} ${spec.path} (revision ${revision})\n${stringify(doc, { lineWidth: 0 })}`;
  if (spec.padToBytes > 0) {
    // A generated file: a long comment block (a checksum table) takes it past the contents API's JSON limit.
    const lines: string[] = [];
    let size = Buffer.byteLength(content);
    for (let i = 0; size < spec.padToBytes; i++) {
      const line = `# checksum ${String(i).padStart(6, "0")} ${createHash("sha1").update(`${spec.path}|${i}`).digest("hex")} ${"=".repeat(20)}\n`;
      lines.push(line);
      size += line.length;
    }
    content += lines.join("");
  }
  const bytes = Buffer.from(content, "utf8");
  return {
    repo: spec.repo, path: spec.path, revision, workflowName: spec.workflowName, triggers: Object.keys(doc.on as object), workflowRunSources: spec.sources,
    jobs, edges: spec.invalid ? [] : edgesOf(jobs), valid: !spec.invalid, content, size: bytes.length, blobSha: gitBlobSha(bytes),
  };
}

function files(ds: Dataset): Files {
  let f = cache.get(ds);
  if (!f || f.runCount !== ds.runs.length) {
    const specs = f?.specs ?? buildSpecs(ds);
    const versions = f?.versions ?? new Map([...specs].map(([k, s]) => [k, s.revisions.map((_, i) => render(s, i + 1))]));
    const commits = new Map<string, Map<string, number>>();
    for (const r of ds.runs) {
      const m = commits.get(r.repo) ?? new Map<string, number>();
      commits.set(r.repo, m);
      const t = toSec(r.created_at);
      if (!m.has(r.head_sha) || (m.get(r.head_sha) ?? t) > t) m.set(r.head_sha, t);
    }
    f = { specs, versions, commits, runCount: ds.runs.length };
    cache.set(ds, f);
  }
  return f;
}

export type FileLookup = { kind: "file"; version: WorkflowFileVersion } | { kind: "no-commit" } | { kind: "no-file" };

/** The file at `path` in `repo` at commit `sha` (a head SHA of one of the repository's runs). */
export function workflowFileAt(ds: Dataset, repo: string, path: string, sha: string): FileLookup {
  const f = files(ds);
  const at = f.commits.get(repo)?.get(sha);
  if (at === undefined) return { kind: "no-commit" };
  const spec = f.specs.get(fileKey(repo, path));
  const versions = f.versions.get(fileKey(repo, path));
  if (!spec || !versions) return { kind: "no-file" };
  const revision = 1 + spec.changes.filter((c) => c <= at).length;
  const version = versions[revision - 1];
  return version ? { kind: "file", version } : { kind: "no-file" };
}

/** Every revision of every workflow file (reusable ones included), in revision order per file. */
export function allWorkflowFileVersions(ds: Dataset): WorkflowFileVersion[] {
  return [...files(ds).versions.values()].flat();
}

/** A run's `referenced_workflows`: the reusable workflows its file calls, at the run's commit. */
export function referencedWorkflows(ds: Dataset, run: SimRun): { path: string; sha: string; ref: string }[] {
  const file = workflowFileAt(ds, run.repo, run.workflow_path, run.head_sha);
  if (file.kind !== "file") return [];
  return file.version.jobs
    .filter((j) => j.uses?.startsWith("./"))
    .map((j) => ({ path: `${run.repo}/${(j.uses ?? "").slice(2)}@${run.head_sha}`, sha: run.head_sha, ref: `refs/heads/${run.head_branch}` }));
}

/** One file version a run used: its own file, or a reusable workflow it called. */
export interface RanFile {
  repo: string;
  path: string;
  commitSha: string;
  /** null when the path is not a file at that commit (404). */
  version: WorkflowFileVersion | null;
}

/**
 * Ground truth of the fetch: every (repository, path, commit) the runs used (each run's file at its head
 * SHA and the reusable workflows it references), with the file version there. Distinct by key.
 */
export function filesThatRan(ds: Dataset, runs: SimRun[] = ds.runs): RanFile[] {
  const out = new Map<string, RanFile>();
  const add = (repo: string, path: string, sha: string) => {
    const key = `${repo}|${path}|${sha}`;
    if (out.has(key)) return;
    const found = workflowFileAt(ds, repo, path, sha);
    out.set(key, { repo, path, commitSha: sha, version: found.kind === "file" ? found.version : null });
  };
  for (const run of runs) {
    add(run.repo, run.workflow_path, run.head_sha);
    for (const ref of referencedWorkflows(ds, run)) {
      const m = /^([^/]+\/[^/]+)\/(.+)@/.exec(ref.path);
      if (m?.[1] && m[2]) add(m[1], m[2], ref.sha);
    }
  }
  return [...out.values()];
}

/** The YAML job a run's executed job (display name) belongs to: the file, the job id, and for a reusable call the caller's id. */
export function yamlJobOfExecution(ds: Dataset, run: SimRun, jobName: string): { path: string; jobId: string; callerJobId: string | null } | null {
  const file = workflowFileAt(ds, run.repo, run.workflow_path, run.head_sha);
  if (file.kind !== "file") return null;
  for (const j of file.version.jobs) {
    if (!j.executions.includes(jobName)) continue;
    if (j.uses === null) return { path: run.workflow_path, jobId: j.id, callerJobId: null };
    const called = workflowFileAt(ds, run.repo, j.uses.slice(2), run.head_sha);
    const display = jobName.slice(jobName.indexOf(" / ") + 3);
    const inner = called.kind === "file" ? called.version.jobs.find((c) => c.executions.includes(display)) : undefined;
    return inner ? { path: j.uses.slice(2), jobId: inner.id, callerJobId: j.id } : null;
  }
  return null;
}

/** The job templates of the run's workflow at its creation (re-exported for ground-truth helpers). */
export function templatesOfRun(ds: Dataset, run: SimRun): SimJobTemplate[] {
  return jobsAt(workflowOf(ds, run), run.created_at);
}

/** Whether the executed job `name` is an execution of `need` (same rule as the dataset's timings). */
export { executes };

// ------------------------------------------------------------------ the contents endpoint

/** Requests per (repository, path, ref) and media type, for fetch-once assertions. */
export class ContentsLog {
  private readonly counts = new Map<string, { json: number; raw: number }>();
  record(repo: string, path: string, ref: string, raw: boolean): void {
    const key = `${repo}|${path}|${ref}`;
    const c = this.counts.get(key) ?? { json: 0, raw: 0 };
    if (raw) c.raw += 1;
    else c.json += 1;
    this.counts.set(key, c);
  }
  /** `repo|path|ref` → requests with the JSON and the raw media type. */
  snapshot(): Map<string, { json: number; raw: number }> {
    return new Map([...this.counts].map(([k, v]) => [k, { ...v }]));
  }
  reset(): void {
    this.counts.clear();
  }
}

export interface ContentsReply {
  status: number;
  body?: unknown;
  raw?: Buffer;
  headers?: Record<string, string>;
}

/** The raw media types: application/vnd.github.raw, .raw+json, and the v3-style vnd.github.v3.raw. */
export function wantsRaw(accept: string | string[] | undefined): boolean {
  const a = Array.isArray(accept) ? accept.join(",") : (accept ?? "");
  return /application\/vnd\.github(?:\.v3)?\.raw(?:\+json)?\b/i.test(a);
}

/**
 * `GET /repos/{owner}/{repo}/contents/{path}?ref={sha}` for a file, as GitHub answers it
 * (https://docs.github.com/rest/repos/contents#get-repository-content):
 * - the JSON object of a file: type "file", encoding "base64", content (base64 in lines of 60 characters,
 *   as GitHub sends it), sha (the git blob SHA), size, name, path, url, git_url, html_url, download_url, _links;
 * - a file over 1 MB: "Between 1-100 MB: Only the raw or object custom media types are supported ... the
 *   content field will be an empty string and the encoding field will be "none". To get the contents of
 *   these larger files, use the raw media type." (same page, Notes): with a JSON media type the object has
 *   content "" and encoding "none";
 * - `Accept: application/vnd.github.raw+json` (or `application/vnd.github.raw`): the file's bytes
 *   ("Returns the raw file contents for files and symlinks", same page; media types:
 *   https://docs.github.com/rest/using-the-rest-api/getting-started-with-the-rest-api#media-types);
 * - 404 when the ref names no commit of the repository ("No commit found for the ref ...") or the path is
 *   not a file at that commit ("Not Found").
 * `ref` defaults to the default branch on GitHub; the simulator has no branch heads, so a missing ref is a 404.
 */
export function contentsReply(ds: Dataset, log: ContentsLog, opts: { repo: string; path: string; ref: string | null; accept: string | string[] | undefined; apiBase: string; htmlBase: string }): ContentsReply {
  const docs = "https://docs.github.com/rest/repos/contents#get-repository-content";
  const raw = wantsRaw(opts.accept);
  log.record(opts.repo, opts.path, opts.ref ?? "", raw);
  if (opts.ref === null) return { status: 404, body: { message: "Not Found", documentation_url: docs, status: "404" } };
  const found = workflowFileAt(ds, opts.repo, opts.path, opts.ref);
  if (found.kind === "no-commit") return { status: 404, body: { message: `No commit found for the ref ${opts.ref}`, documentation_url: docs, status: "404" } };
  if (found.kind === "no-file") return { status: 404, body: { message: "Not Found", documentation_url: docs, status: "404" } };
  const v = found.version;
  const bytes = Buffer.from(v.content, "utf8");
  if (raw) return { status: 200, raw: bytes, headers: { "content-type": "text/plain; charset=utf-8" } };
  const encPath = opts.path.split("/").map(encodeURIComponent).join("/");
  const self = `${opts.apiBase}/repos/${opts.repo}/contents/${encPath}?ref=${opts.ref}`;
  const git = `${opts.apiBase}/repos/${opts.repo}/git/blobs/${v.blobSha}`;
  const html = `${opts.htmlBase}/${opts.repo}/blob/${opts.ref}/${encPath}`;
  const big = v.size > CONTENTS_JSON_LIMIT;
  const content = big ? "" : (bytes.toString("base64").match(/.{1,60}/g) ?? []).map((l) => `${l}\n`).join("");
  return {
    status: 200,
    body: {
      name: opts.path.slice(opts.path.lastIndexOf("/") + 1), path: opts.path, sha: v.blobSha, size: v.size, url: self, html_url: html, git_url: git,
      download_url: `https://raw.githubusercontent.com/${opts.repo}/${opts.ref}/${encPath}`, type: "file", content, encoding: big ? "none" : "base64",
      _links: { self, git, html },
    },
  };
}
