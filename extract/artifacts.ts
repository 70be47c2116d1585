/**
 * Test reports from workflow artifacts (`--test-artifacts GLOB[,GLOB]`, issue 14).
 *
 * For the completed runs the extract fetched (new or changed since the warehouse's copy), the
 * artifacts are listed and those whose name matches a glob are read: every selected artifact gets a
 * `workflow_artifacts` row saying what happened to it, its JUnit files give `test_cases` rows and its
 * coverage files `coverage_reports` rows.
 *
 * - Listing, after the runs' details: per repository, whichever costs fewer requests of the repository's
 *   artifact list (`GET /repos/{o}/{r}/actions/artifacts`, 100 per page, every run) and one list per run
 *   (`GET .../runs/{id}/artifacts`). One request per run would double an extract's API use (5,000/h per
 *   token), while most runs upload no test report; the first page's total_count decides.
 *
 * - Download: `GET .../actions/artifacts/{id}/zip` answers 302 to a signed URL on another host, valid
 *   for one minute. The request is made with `redirect: "manual"` and the Location is fetched at once
 *   by a plain `fetch` with no Authorization header: the GitHub token never leaves for that host. A URL
 *   that has expired anyway (403/410) is asked for again once.
 * - The zip goes to a temporary file inside the staging folder (random access is what a zip needs) and
 *   is removed when read; its entries are never written anywhere: they stream into the parsers
 *   (extract/unzip.ts, limits and rejections).
 * - Each `.xml` entry is read twice: once to check it is well-formed and learn its root (testsuites /
 *   testsuite = JUnit, coverage = Cobertura, report = JaCoCo, anything else is not a report), then, for
 *   JUnit, to write its rows. So a file cut in the middle is quarantined whole instead of leaving half
 *   its test cases in the warehouse, and memory stays flat whatever the file's size.
 * - Outcomes: expired (counted, not downloaded), quarantined (the zip was rejected: bomb, traversal,
 *   corrupt; the quarantine row names the artifact, the entry and the reason), parsed, no_reports.
 *   A malformed XML file inside an otherwise good zip is quarantined alone; the rest of the artifact is
 *   read.
 * - Never twice: artifact ids the warehouse already holds (`ExtractState.knownArtifacts`, from fully
 *   loaded extracts) are skipped before any download. Runs the extract does not fetch (unchanged since
 *   the last extract) are not listed at all, so turning the flag on later covers runs new or changed
 *   from then on; `--refetch` covers the whole window again (known artifacts still skipped).
 */
import { createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import picomatch from "picomatch";
import type { BatchWriter } from "./batch-writer.js";
import type { GitHubClient } from "./client.js";
import { ApiFailure, apiBaseUrl, apiCall, toApiFailure, type ApiStage } from "./api-errors.js";
import { artifactRow, coverageRow, testCaseRow, type ApiArtifact, type ArtifactContext } from "./records.js";
import { JUNIT_ROOTS, parseJUnit } from "./junit.js";
import { coverageHandler } from "./coverage.js";
import { XmlParseError, streamXml } from "./xml-stream.js";
import { DEFAULT_UNZIP_LIMITS, readZip, ZipRejected, type UnzipLimits } from "./unzip.js";
import type { RepoRef } from "./actions.js";

export interface ArtifactStats {
  /** Runs whose artifacts were listed one run at a time. */
  runsListed: number;
  /** Pages of the repository-wide artifact list requested. */
  repoPages: number;
  listed: number;
  selected: number;
  known: number;
  expired: number;
  downloaded: number;
  /** Fetches of the signed redirect URL (not GitHub API requests). */
  redirectFetches: number;
  parsed: number;
  quarantined: number;
  testCases: number;
  coverageReports: number;
}

export const emptyArtifactStats = (): ArtifactStats => ({ runsListed: 0, repoPages: 0, listed: 0, selected: 0, known: 0, expired: 0, downloaded: 0, redirectFetches: 0, parsed: 0, quarantined: 0, testCases: 0, coverageReports: 0 });

export interface ArtifactOptions {
  /** Artifact name globs (picomatch), e.g. junit*, test-results*, coverage*. */
  globs: string[];
  limits?: UnzipLimits;
  /** Staging folder: the downloaded zip is kept under `<stagingDir>/tmp/` only while it is read. */
  stagingDir: string;
  extractId: string;
  /** Artifact ids already in the warehouse. */
  known: ReadonlySet<number>;
  stats: ArtifactStats;
  /** The fetch used for the redirect (tests and the bench observe it); the global fetch by default. */
  fetchRedirect?: typeof fetch;
}

/** When each attempt of the run started, to attribute an artifact to the attempt that created it. */
export interface AttemptStart {
  attempt: number;
  startedAt: number;
}

/** The artifact API object has no run_attempt: the attempt is the latest that started before it was created. */
export function attemptOf(createdAt: string | null | undefined, attempts: AttemptStart[]): number | null {
  if (!createdAt || attempts.length === 0) return null;
  const t = Date.parse(createdAt);
  let best: AttemptStart | null = null;
  for (const a of attempts) if (Number.isFinite(a.startedAt) && a.startedAt <= t && (!best || a.startedAt > best.startedAt)) best = a;
  return best?.attempt ?? null;
}

export function artifactMatcher(globs: string[]): (name: string) => boolean {
  const match = picomatch(globs, { dot: true });
  return (name) => match(name);
}

const on = (r: RepoRef, stage: string): ApiStage => ({ stage, resource: { kind: "repository", fullName: r.fullName } });
const label = (r: RepoRef, runId: number, a: ApiArtifact) => `artifact ${JSON.stringify(a.name)} (id ${a.id}) of run ${runId} in ${r.fullName}`;

/**
 * Removes downloaded zips a crashed extract left in `<staging>/tmp/` (a finished read removes its own);
 * younger ones may belong to an extract still running. Returns how many were removed.
 */
export function removeStaleDownloads(stagingDir: string, graceMs: number, now = Date.now()): number {
  const tmp = join(stagingDir, "tmp");
  if (!existsSync(tmp)) return 0;
  let removed = 0;
  for (const name of readdirSync(tmp)) {
    const path = join(tmp, name);
    if (!name.endsWith(".zip.partial") || now - statSync(path).mtimeMs < graceMs) continue;
    rmSync(path, { force: true });
    removed += 1;
  }
  return removed;
}

/** GitHub answered 410: the artifact expired (or was deleted) between listing and download. */
class ArtifactGone extends Error {}

/**
 * Asks GitHub for the artifact's signed URL and downloads it, without the token, into `path`, refusing
 * more than `maxBytes`.
 */
async function download(octokit: GitHubClient, r: RepoRef, runId: number, a: ApiArtifact, path: string, maxBytes: number, options: ArtifactOptions): Promise<void> {
  const fetchRedirect = options.fetchRedirect ?? fetch;
  for (let attempt = 1; ; attempt += 1) {
    const answer = await apiCall(octokit, on(r, `requesting the download URL of ${label(r, runId, a)}`), () =>
      octokit.request("GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}", {
        owner: r.owner,
        repo: r.repo,
        artifact_id: a.id,
        archive_format: "zip",
        // Manual: fetch would follow the 302 itself, and it keeps no promise about which headers it forwards.
        request: { redirect: "manual" },
      }),
    ).catch((error: unknown) => {
      if (error instanceof ApiFailure && error.status === 410) throw new ArtifactGone();
      throw error;
    });
    options.stats.downloaded += 1;
    const location = (answer.headers as Record<string, string | undefined>).location;
    if (answer.status !== 302 || !location) throw new Error(`GitHub answered ${answer.status} without a Location to the download of ${label(r, runId, a)}; expected 302 to a signed URL. Check GITHUB_API_URL and retry`);
    options.stats.redirectFetches += 1;
    // No headers at all: the signed URL is the credential. `redirect: "error"`: a second hop is not followed blindly.
    const response = await fetchRedirect(location, { redirect: "error", signal: AbortSignal.timeout(5 * 60_000) });
    if ((response.status === 403 || response.status === 410 || response.status >= 500) && attempt < 2) {
      await response.body?.cancel();
      continue;
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new Error(`the signed download URL of ${label(r, runId, a)} answered ${response.status} (after asking GitHub for a fresh URL once); the extract fails and the next run retries this artifact`);
    }
    const declared = Number(response.headers.get("content-length") ?? "0");
    if (declared > maxBytes) {
      await response.body.cancel();
      throw new ZipRejected(`is ${declared} bytes, above the compressed size limit of ${maxBytes}`);
    }
    let seen = 0;
    const cap = new Transform({
      transform(chunk: Buffer, _e, callback) {
        seen += chunk.length;
        callback(seen > maxBytes ? new ZipRejected(`is more than ${maxBytes} bytes, above the compressed size limit`) : null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(response.body as import("node:stream/web").ReadableStream<Uint8Array>), cap, createWriteStream(path));
    return;
  }
}

/** Reads one downloaded artifact zip; rows go to the writer as they are parsed. */
async function readArtifact(writer: BatchWriter, path: string, c: ArtifactContext, limits: UnzipLimits, source: string, where: string): Promise<{ testCases: number; coverageReports: number; badFiles: number }> {
  let ordinal = 0;
  let testCases = 0;
  let coverageReports = 0;
  let badFiles = 0;
  await readZip(path, limits, async (entry, open) => {
    if (!/\.xml$/i.test(entry.name)) return;
    const extractedAt = new Date().toISOString();
    // Pass 1: well-formed? which kind? (coverage totals come out of this pass directly)
    const coverage = coverageHandler();
    let root: string | null;
    try {
      ({ root } = await streamXml(await open(), coverage.handler));
    } catch (error) {
      if (!(error instanceof XmlParseError)) throw error;
      badFiles += 1;
      await writer.quarantine({ resource: "test_cases", source, reason: `${where}: file ${JSON.stringify(entry.name)} is ${error.message}`, record: { artifact: c.artifact, report_path: entry.name } }, extractedAt);
      return;
    }
    if (root !== null && JUNIT_ROOTS.has(root)) {
      await parseJUnit(await open(), async (t) => {
        ordinal += 1;
        if (await writer.write("test_cases", testCaseRow(c, entry.name, ordinal, t, extractedAt), source)) testCases += 1;
      });
      return;
    }
    const totals = coverage.totals();
    if (totals && (await writer.write("coverage_reports", coverageRow(c, entry.name, totals, extractedAt), source))) coverageReports += 1;
  });
  return { testCases, coverageReports, badFiles };
}

/** Artifacts of one run (`GET .../runs/{id}/artifacts`), those whose name matches. */
async function listRunArtifacts(octokit: GitHubClient, r: RepoRef, runId: number, matches: (name: string) => boolean, stats: ArtifactStats): Promise<ApiArtifact[]> {
  const selected: ApiArtifact[] = [];
  stats.runsListed += 1;
  try {
    const iterator = octokit.paginate.iterator(octokit.rest.actions.listWorkflowRunArtifacts, { owner: r.owner, repo: r.repo, run_id: runId, per_page: 100 });
    for await (const page of iterator) {
      // paginate.iterator unwraps the { total_count, artifacts } envelope into `data`.
      for (const a of page.data as ApiArtifact[]) {
        stats.listed += 1;
        if (typeof a?.name === "string" && matches(a.name)) selected.push(a);
      }
    }
  } catch (error) {
    throw await toApiFailure(error, on(r, `listing artifacts of run ${runId}`), apiBaseUrl(octokit));
  }
  return selected;
}

/**
 * The repository's artifacts (`GET /repos/{o}/{r}/actions/artifacts`), grouped by run, for the given
 * runs; or null when paging them all would cost more requests than listing each run (decided from the
 * first page's total_count), or when an artifact does not say which run it belongs to.
 */
async function listRepoArtifacts(octokit: GitHubClient, r: RepoRef, runIds: ReadonlySet<number>, matches: (name: string) => boolean, stats: ArtifactStats): Promise<Map<number, ApiArtifact[]> | null> {
  const byRun = new Map<number, ApiArtifact[]>();
  try {
    const iterator = octokit.paginate.iterator(octokit.rest.actions.listArtifactsForRepo, { owner: r.owner, repo: r.repo, per_page: 100 });
    let first = true;
    for await (const page of iterator) {
      stats.repoPages += 1;
      if (first) {
        first = false;
        const total = (page.data as unknown as { total_count?: number }).total_count ?? Number(page.headers["x-total-count"] ?? NaN);
        const pages = Math.ceil((Number.isFinite(total) ? total : (page.data as ApiArtifact[]).length) / 100);
        if (pages > runIds.size) return null;
      }
      for (const a of page.data as ApiArtifact[]) {
        stats.listed += 1;
        if (typeof a?.name !== "string" || !matches(a.name)) continue;
        const runId = a.workflow_run?.id;
        if (typeof runId !== "number") return null;
        if (!runIds.has(runId)) continue;
        byRun.set(runId, [...(byRun.get(runId) ?? []), a]);
      }
    }
  } catch (error) {
    throw await toApiFailure(error, on(r, "listing the repository's artifacts"), apiBaseUrl(octokit));
  }
  return byRun;
}

/**
 * Reads the selected artifacts of a repository's completed runs that this extract fetched. Called once
 * the runs' details are written, so every artifact of those runs is already uploaded (artifacts are
 * uploaded before a run completes). Listing costs the fewer requests of two ways: the repository's
 * artifact list, paged whole (one request per 100 artifacts, any run), or one list per run; the
 * choice is made from the first page's total_count. Each run's reading is handed to `enqueue`, which
 * runs it within the extract's concurrency. API failures (after the client's retries) fail the extract
 * like any other request; rejected zips and files are quarantined.
 */
export async function extractRepoArtifacts(
  octokit: GitHubClient,
  writer: BatchWriter,
  r: RepoRef,
  runs: ReadonlyMap<number, AttemptStart[]>,
  options: ArtifactOptions,
  enqueue: (task: () => Promise<void>) => void,
): Promise<void> {
  const matches = artifactMatcher(options.globs);
  const byRun = await listRepoArtifacts(octokit, r, new Set(runs.keys()), matches, options.stats);
  for (const [runId, attempts] of runs)
    enqueue(async () => {
      const artifacts = byRun ? (byRun.get(runId) ?? []) : await listRunArtifacts(octokit, r, runId, matches, options.stats);
      await readRunArtifacts(octokit, writer, r, runId, attempts, artifacts, options);
    });
}

/** Downloads and reads the selected artifacts of one run, skipping known ones and counting expired ones. */
async function readRunArtifacts(octokit: GitHubClient, writer: BatchWriter, r: RepoRef, runId: number, attempts: AttemptStart[], artifacts: ApiArtifact[], options: ArtifactOptions): Promise<void> {
  const limits = options.limits ?? DEFAULT_UNZIP_LIMITS;
  const source = `GET /repos/${r.fullName}/actions/runs/${runId}/artifacts`;
  const tmp = join(options.stagingDir, "tmp");
  for (const a of artifacts) {
    options.stats.selected += 1;
    if (options.known.has(a.id)) {
      options.stats.known += 1;
      continue;
    }
    const c: ArtifactContext = { repository: r.fullName, runId, runAttempt: attemptOf(a.created_at, attempts), artifact: a };
    const where = label(r, runId, a);
    if (a.expired) {
      options.stats.expired += 1;
      await writer.write("workflow_artifacts", artifactRow(c, "expired", { testCases: 0, coverageReports: 0 }, new Date().toISOString()), source);
      continue;
    }
    mkdirSync(tmp, { recursive: true });
    const path = join(tmp, `${options.extractId}-artifact-${a.id}.zip.partial`);
    let outcome: "parsed" | "no_reports" | "quarantined";
    let counts = { testCases: 0, coverageReports: 0 };
    try {
      await download(octokit, r, runId, a, path, limits.maxCompressedBytes, options);
      counts = await readArtifact(writer, path, c, limits, source, where);
      outcome = counts.testCases + counts.coverageReports > 0 ? "parsed" : "no_reports";
      if (outcome === "parsed") options.stats.parsed += 1;
    } catch (error) {
      if (error instanceof ArtifactGone) {
        options.stats.expired += 1;
        await writer.write("workflow_artifacts", artifactRow(c, "expired", counts, new Date().toISOString()), source);
        continue;
      }
      if (!(error instanceof ZipRejected)) throw error;
      outcome = "quarantined";
      options.stats.quarantined += 1;
      const entry = error.entry ? { entry: error.entry } : {};
      await writer.quarantine({ resource: "workflow_artifacts", source, reason: `${where}: zip rejected: ${error.reason}`, record: { artifact: a, ...entry } }, new Date().toISOString());
    } finally {
      rmSync(path, { force: true });
    }
    options.stats.testCases += counts.testCases;
    options.stats.coverageReports += counts.coverageReports;
    await writer.write("workflow_artifacts", artifactRow(c, outcome, counts, new Date().toISOString()), source);
  }
}
