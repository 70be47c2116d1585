/**
 * Workflow definitions: the YAML file each run executed, read at the run's commit, so the job graph
 * (`needs`, which no API returns) can be modelled per file version.
 *
 * What is fetched: for every (repository, workflow path, head SHA) among the runs this extract fetched,
 * every `referenced_workflows` entry of those runs (reusable workflows: path and SHA), and the backlog the
 * warehouse names (runs of the window whose file was never read, e.g. left by an earlier extract's
 * reserve, below). A path outside `.github/workflows/` (GitHub's `dynamic/...` default setups) is not a
 * file and is not requested.
 *
 * Cost: one `GET /repos/{o}/{r}/contents/{path}?ref={sha}` per new (repository, path, commit), plus one
 * raw request per file over 1 MB (GitHub sends such a file's JSON without its content: encoding "none";
 * the raw media type returns the bytes). A (repository, path, commit) the warehouse already holds in
 * `workflow_definition_refs` is not requested again, --refetch or not (a commit's file never changes):
 * the extract asks the warehouse for the refs read since its window's start and those at any commit its
 * window's runs ran on, so only a file read before the window at a commit no run of the window used (a
 * reusable workflow pinned in another repository) is read again, about once per lookback. A blob already
 * in `workflow_definitions` is not parsed or written again. Requests go through the extract's client:
 * rate limits, retries and GitHub App tokens apply; an App needs Contents: read.
 *
 * Reserve: workflow files are read after every run and job of the extract, and only while the primary
 * rate limit left stays above `reserve` requests; the files not read are counted (`deferred`) and read by
 * a later extract (the warehouse's backlog query). So a first extract of a large history spends the
 * hour's remaining budget on them without starving the next extract, and catches up over later runs.
 * Files are read newest commit of each (repository, path) first, so every workflow's current graph comes
 * early, then the other commits newest first.
 *
 * Outcomes per (repository, path, commit): a `workflow_definition_refs` row naming the blob SHA (null on
 * a 404: the file is not there at that commit); per new blob, a `workflow_definitions` row parsed by
 * `@actions/workflow-parser` (extract/workflow-parse.ts). A file that does not parse gets a row with
 * valid = false and the parser's errors, and is quarantined whole with those errors as the reason
 * (repository, path and blob SHA named); it is logged at warn and the extract goes on. A 403 (the token
 * cannot read contents) skips the repository's remaining files with one warning. Bytes that do not hash
 * to the blob SHA GitHub named are not recorded (a later extract reads them again).
 */
import type { BatchWriter } from "./batch-writer.js";
import type { ApiUsage, GitHubClient } from "./client.js";
import { apiBaseUrl, apiCall, toApiFailure, type ApiStage } from "./api-errors.js";
import { parseWorkflowFile } from "./workflow-parse.js";
import { workflowDefinitionRefRow, workflowDefinitionRow, type ApiRun } from "./records.js";
import { createHash } from "node:crypto";
import type { Logger } from "../log/logger.js";

/** One workflow file at one commit. */
export interface WorkflowFileRef {
  repository: string;
  path: string;
  commitSha: string;
}

/** A file the warehouse's runs used but whose commit it has not read yet, with the newest run's creation. */
export interface PendingWorkflowFile extends WorkflowFileRef {
  /** Creation of the newest run on it (epoch ms): orders the reads. */
  createdAt: number;
}

/** What the warehouse holds already (load/watermark.ts `knownWorkflowDefinitions`). */
export interface KnownWorkflowDefinitions {
  /** `refKey` of every (repository, path, commit) read. */
  refs: Set<string>;
  /** `blobKey` of every (repository, path, blob SHA) parsed. */
  blobs: Set<string>;
  /** Runs of the window whose file was never read (backlog). */
  pending: PendingWorkflowFile[];
}

export const emptyKnownWorkflowDefinitions = (): KnownWorkflowDefinitions => ({ refs: new Set(), blobs: new Set(), pending: [] });

export const refKey = (repository: string, path: string, commitSha: string): string => `${repository.toLowerCase()}|${path}|${commitSha}`;
export const blobKey = (repository: string, path: string, blobSha: string): string => `${repository.toLowerCase()}|${path}|${blobSha}`;

/** Workflow files live here; anything else (`dynamic/github-code-scanning/codeql`) is not a file. */
export const WORKFLOW_DIR = ".github/workflows/";

export interface WorkflowDefinitionStats {
  /** Distinct (repository, path, commit) the runs used (backlog included). */
  files: number;
  /** Already in the warehouse: not requested. */
  known: number;
  /** Contents requests with the JSON media type. */
  fetched: number;
  /** Contents requests with the raw media type (files over 1 MB). */
  raw: number;
  /** 404: no file at that commit. */
  notFound: number;
  /** New blobs parsed (a row each). */
  parsed: number;
  /** Of those, files the parser rejected (quarantined). */
  invalid: number;
  /** Blobs read at a new commit but parsed before: only the ref row is written. */
  blobsKnown: number;
  /** Left for a later extract: the rate limit left reached the reserve. */
  deferred: number;
  /** Not read because the token cannot read the repository's contents (403). */
  forbidden: number;
  /** Paths outside .github/workflows/ (GitHub's dynamic default setups): no file to read. */
  notFiles: number;
}

export const emptyWorkflowDefinitionStats = (): WorkflowDefinitionStats => ({
  files: 0, known: 0, fetched: 0, raw: 0, notFound: 0, parsed: 0, invalid: 0, blobsKnown: 0, deferred: 0, forbidden: 0, notFiles: 0,
});

/** `owner/repo/.github/workflows/x.yml@ref` (a run's referenced_workflows path) → repository and path. */
export function splitReferencedPath(value: string): { repository: string; path: string } | null {
  const m = /^([^/]+\/[^/]+)\/(.+?)(?:@.*)?$/.exec(value);
  return m?.[1] && m[2] ? { repository: m[1], path: m[2] } : null;
}

/**
 * The files a backlog row of the warehouse names: the run's own file at its commit, and the reusable
 * workflows in its `referenced_workflows` (`referenced`: that array as JSON text, or null).
 */
export function pendingFromRow(row: Record<string, unknown>): PendingWorkflowFile[] {
  const createdAt = Number(row.created_ms);
  const out: PendingWorkflowFile[] = [{ repository: String(row.repository), path: String(row.path), commitSha: String(row.commit_sha), createdAt }];
  let refs: unknown = null;
  try {
    refs = typeof row.referenced === "string" && row.referenced !== "" ? JSON.parse(row.referenced) : null;
  } catch {
    refs = null; // a payload the warehouse holds is JSON; anything else names no reusable workflow
  }
  for (const ref of Array.isArray(refs) ? refs : []) {
    const r = ref as { path?: unknown; sha?: unknown };
    const where = typeof r.path === "string" ? splitReferencedPath(r.path) : null;
    if (where && typeof r.sha === "string") out.push({ ...where, commitSha: r.sha, createdAt });
  }
  return out;
}

/** The files an extract will read: collected from the runs as they are fetched, plus the backlog. */
export class WorkflowFilePlan {
  private readonly files = new Map<string, PendingWorkflowFile>();
  notFiles = 0;

  add(file: WorkflowFileRef, createdAt: number): void {
    if (!file.path.startsWith(WORKFLOW_DIR)) {
      this.notFiles += 1;
      return;
    }
    const key = refKey(file.repository, file.path, file.commitSha);
    const seen = this.files.get(key);
    if (!seen || seen.createdAt < createdAt) this.files.set(key, { ...file, createdAt });
  }

  /** A run's own file at its head SHA, and the reusable workflows it references. */
  addRun(repository: string, run: Pick<ApiRun, "path" | "head_sha" | "created_at" | "referenced_workflows" | "repository">): void {
    const at = Date.parse(run.created_at);
    const repo = run.repository?.full_name ?? repository;
    if (typeof run.path === "string" && run.path !== "" && typeof run.head_sha === "string") this.add({ repository: repo, path: run.path, commitSha: run.head_sha }, at);
    for (const ref of run.referenced_workflows ?? []) {
      const where = splitReferencedPath(ref.path);
      if (where && ref.sha) this.add({ ...where, commitSha: ref.sha }, at);
    }
  }

  get size(): number {
    return this.files.size;
  }

  /** Newest commit of each (repository, path) first, then the rest newest first. */
  ordered(): PendingWorkflowFile[] {
    const all = [...this.files.values()].sort((a, b) => b.createdAt - a.createdAt || a.repository.localeCompare(b.repository) || a.path.localeCompare(b.path));
    const first = new Set<string>();
    const head: PendingWorkflowFile[] = [];
    const rest: PendingWorkflowFile[] = [];
    for (const f of all) {
      const k = `${f.repository.toLowerCase()}|${f.path}`;
      if (first.has(k)) rest.push(f);
      else {
        first.add(k);
        head.push(f);
      }
    }
    return [...head, ...rest];
  }
}

/** Git's blob id: sha1("blob <size>\0" + bytes), the `sha` the contents API names. */
export function gitBlobSha(bytes: Buffer): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

/** Content objects GitHub answers for a file (https://docs.github.com/rest/repos/contents#get-repository-content). */
interface ContentFile {
  type: string;
  name?: string;
  path?: string;
  sha: string;
  size: number;
  encoding?: string;
  content?: string;
  [field: string]: unknown;
}

const isContentFile = (v: unknown): v is ContentFile =>
  typeof v === "object" && v !== null && !Array.isArray(v) && typeof (v as ContentFile).sha === "string" && typeof (v as ContentFile).size === "number" && typeof (v as ContentFile).type === "string";

const statusOf = (error: unknown): number | undefined => (typeof error === "object" && error !== null && typeof (error as { status?: unknown }).status === "number" ? (error as { status: number }).status : undefined);

type Fetched =
  | { kind: "file"; object: ContentFile; bytes: Buffer; raw: boolean }
  | { kind: "absent"; status: number; type?: string }
  | { kind: "forbidden" }
  | { kind: "mismatch"; expected: string; got: string };

/** The raw media type: the file's bytes, for files over 1 MB (https://docs.github.com/rest/using-the-rest-api/getting-started-with-the-rest-api#media-types). */
export const RAW_MEDIA_TYPE = "application/vnd.github.raw";

async function fetchFile(octokit: GitHubClient, f: WorkflowFileRef, stats: WorkflowDefinitionStats): Promise<Fetched> {
  const [owner = "", repo = ""] = f.repository.split("/");
  const where: ApiStage = { stage: `reading workflow file ${f.path} at ${f.commitSha}`, resource: { kind: "repository", fullName: f.repository } };
  const params = { owner, repo, path: f.path, ref: f.commitSha };
  let object: unknown;
  try {
    stats.fetched += 1;
    object = (await octokit.request("GET /repos/{owner}/{repo}/contents/{path}", params)).data;
  } catch (error) {
    const status = statusOf(error);
    if (status === 404) return { kind: "absent", status };
    if (status === 403) return { kind: "forbidden" };
    throw await toApiFailure(error, where, apiBaseUrl(octokit));
  }
  if (!isContentFile(object) || object.type !== "file") return { kind: "absent", status: 200, type: isContentFile(object) ? object.type : "directory" };
  let bytes: Buffer;
  let raw = false;
  if (object.encoding === "base64" && typeof object.content === "string") {
    bytes = Buffer.from(object.content, "base64");
  } else {
    // Over 1 MB the JSON carries no content (encoding "none"): ask for the raw bytes.
    raw = true;
    stats.raw += 1;
    const data: unknown = (await apiCall(octokit, where, () => octokit.request("GET /repos/{owner}/{repo}/contents/{path}", { ...params, headers: { accept: RAW_MEDIA_TYPE } }))).data;
    bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.from(String(data), "utf8");
  }
  const got = gitBlobSha(bytes);
  if (got !== object.sha) return { kind: "mismatch", expected: object.sha, got };
  return { kind: "file", object, bytes, raw };
}

export interface WorkflowDefinitionOptions {
  known: KnownWorkflowDefinitions;
  /** Stop reading files when the primary rate limit left falls to this many requests. */
  reserve: number;
  usage: ApiUsage;
  stats: WorkflowDefinitionStats;
  /** Content longer than this (bytes) is left out of the row (content ""), so the row stays under --max-record-bytes. */
  maxContentBytes: number;
}

/**
 * Reads the plan's files not in the warehouse, each once, as tasks of `enqueue` (the extract's detail
 * queue, so its concurrency applies). Resolves when every task is queued; the caller waits for the queue.
 */
export function extractWorkflowDefinitions(
  octokit: GitHubClient,
  writer: BatchWriter,
  plan: WorkflowFilePlan,
  options: WorkflowDefinitionOptions,
  enqueue: (task: () => Promise<void>) => void,
  log: Logger,
): void {
  const { known, stats, usage } = options;
  for (const p of known.pending) plan.add(p, p.createdAt);
  stats.files = plan.size;
  stats.notFiles = plan.notFiles;
  const blobsSeen = new Set(known.blobs);
  const forbidden = new Set<string>();
  let deferredLogged = false;
  for (const file of plan.ordered()) {
    if (known.refs.has(refKey(file.repository, file.path, file.commitSha))) {
      stats.known += 1;
      continue;
    }
    enqueue(async () => {
      if (forbidden.has(file.repository.toLowerCase())) {
        stats.forbidden += 1;
        return;
      }
      if (usage.rateLimitRemaining !== null && usage.rateLimitRemaining <= options.reserve) {
        stats.deferred += 1;
        if (!deferredLogged) {
          deferredLogged = true;
          log.info("workflow files left for a later extract: the rate limit left reached the reserve", { rate_limit_remaining: usage.rateLimitRemaining, reserve: options.reserve });
        }
        return;
      }
      const fetched = await fetchFile(octokit, file, stats);
      const at = new Date().toISOString();
      const source = `GET /repos/${file.repository}/contents/${file.path}?ref=${file.commitSha}`;
      if (fetched.kind === "forbidden") {
        stats.forbidden += 1;
        if (!forbidden.has(file.repository.toLowerCase())) {
          forbidden.add(file.repository.toLowerCase());
          log.warn(`workflow files of ${file.repository} skipped: the token cannot read its contents (403). A GitHub App needs the Contents: read permission, a fine-grained token Contents: read; or run with --no-workflow-definitions. Runs and jobs are kept.`, { repository: file.repository, path: file.path });
        }
        return;
      }
      if (fetched.kind === "mismatch") {
        log.warn("workflow file skipped: its bytes do not hash to the blob SHA GitHub named; a later extract reads it again", { repository: file.repository, path: file.path, commit_sha: file.commitSha, blob_sha: fetched.expected, hashed: fetched.got });
        return;
      }
      if (fetched.kind === "absent") {
        stats.notFound += fetched.status === 404 ? 1 : 0;
        await writer.write("workflow_definition_refs", workflowDefinitionRefRow(file, null, fetched.type ? { status: fetched.status, type: fetched.type } : { status: fetched.status }, at), source);
        return;
      }
      const { object, bytes } = fetched;
      const payload = Object.fromEntries(Object.entries(object).filter(([k]) => k !== "content"));
      await writer.write("workflow_definition_refs", workflowDefinitionRefRow(file, object.sha, payload, at), source);
      const key = blobKey(file.repository, file.path, object.sha);
      if (blobsSeen.has(key)) {
        stats.blobsKnown += 1;
        return;
      }
      blobsSeen.add(key);
      const content = bytes.toString("utf8");
      const parsed = await parseWorkflowFile(file.path, content);
      stats.parsed += 1;
      const omit = bytes.length > options.maxContentBytes;
      await writer.write("workflow_definitions", workflowDefinitionRow(file, { blobSha: object.sha, size: bytes.length, content: omit ? "" : content, payload: omit ? { ...payload, content_omitted: true } : payload }, parsed, at), source);
      if (!parsed.valid) {
        stats.invalid += 1;
        const reason = `workflow file ${file.repository} ${file.path} (blob ${object.sha}) does not parse: ${parsed.errors.join("; ")}`;
        await writer.quarantine({ resource: "workflow_definitions", source, reason, record: { repository: file.repository, path: file.path, blob_sha: object.sha, commit_sha: file.commitSha, errors: parsed.errors, content } }, at);
        log.warn("workflow file does not parse: quarantined, its row has valid = false", { repository: file.repository, path: file.path, blob_sha: object.sha, commit_sha: file.commitSha, errors: parsed.errors });
      }
    });
  }
}

/** The summary line of the workflow definitions stage, or null when it was off. */
export function workflowDefinitionsLine(stats: WorkflowDefinitionStats | null | undefined): string | null {
  if (!stats) return null;
  const s = stats;
  return `workflow files: ${s.files} (path, commit) used, ${s.known} already in the warehouse, ${s.fetched} read (${s.raw} over 1 MB read raw, ${s.notFound} not found), ${s.parsed} new versions parsed (${s.invalid} invalid, quarantined)${s.deferred ? `, ${s.deferred} left for a later extract (rate limit reserve)` : ""}${s.forbidden ? `, ${s.forbidden} not readable (403)` : ""}`;
}
