/**
 * One extract: resolves the scope (repositories, organisations, users), then pulls workflows, runs with
 * every attempt, jobs with steps, packages and versions into gzip NDJSON batches, and writes the manifest.
 *
 * Incremental by default: the window starts at the warehouse's watermark (the newest fully loaded
 * extract of each repository) minus a lookback (30 days: runs can be re-run that long), every list page
 * is requested with the ETag the warehouse holds for it (304s cost no rate limit), and a run whose
 * attempt, status and updated_at match the warehouse's copy is not fetched again.
 *
 * Any request that still fails after the client's retries fails the whole extract before the manifest
 * is written, so an incomplete extract is never loaded and the next run simply covers the window again;
 * the same holds for a crash at any instant. Files a crash leaves behind are never listed in a manifest,
 * and the next extract removes them. Such a failure is an `ApiFailure` (extract/api-errors.ts) naming the
 * stage, the resource, the HTTP status and what to do.
 *
 * One exception, packages: they are optional in an extract. When GitHub refuses an owner's packages
 * endpoints for lack of the `read:packages` scope (a 403, or a 404 to a token whose scopes lack it),
 * or a GitHub App without GITHUB_PACKAGES_TOKEN would be refused them, that owner's packages are skipped
 * with one warning naming `read:packages` and `--no-packages`; the runs, jobs and other owners'
 * packages are kept, the manifest is written and `packagesSkipped` names the owners. Any other failure
 * of a packages request still fails the extract.
 */
import { randomBytes } from "node:crypto";
import PQueue from "p-queue";
import { BatchWriter, removeOrphans } from "./batch-writer.js";
import { createGitHubClient, PACKAGES_WITH_APP_WARNING } from "./client.js";
import { ApiFailure, resourceLabel } from "./api-errors.js";
import type { AuthUsage } from "./app-auth.js";
import { ConfigError, extractWindow, parseExtractConfig, type ExtractConfig, type ExtractConfigInput } from "./config.js";
import { extractRunDetail, extractWorkflows, listRepositories, listRuns, repoRef } from "./actions.js";
import { extractPackages, type PackageOwner } from "./packages.js";
import { emptyArtifactStats, extractRepoArtifacts, removeStaleDownloads, type ArtifactStats, type AttemptStart } from "./artifacts.js";
import { HttpCache } from "./pages.js";
import { emptyDeploymentStats, extractRepoDeployments, type DeploymentStats } from "./deployments.js";
import { createProgress, type ExtractStats, type Progress } from "./progress.js";
import { emptyKnownWorkflowDefinitions, emptyWorkflowDefinitionStats, extractWorkflowDefinitions, WorkflowFilePlan, type WorkflowDefinitionStats } from "./workflow-definitions.js";
import { dayWindows, isoSecond, windowOf } from "./windows.js";
import type { Logger } from "../log/logger.js";
import type { Manifest } from "../schemas/manifest.js";
import { emptyExtractState, type ExtractState, type KnownRun } from "../load/watermark.js";
import type { ApiRun } from "./records.js";

export interface ExtractResult {
  manifest: Manifest;
  manifestPath: string;
  stats: ExtractStats;
  durationMs: number;
  /** GitHub App runs: installation lookups and token minting (not in `manifest.api`, which counts data requests). */
  auth: AuthUsage | null;
  /**
   * Owners whose packages were not extracted: a GitHub App without GITHUB_PACKAGES_TOKEN cannot read
   * them, or the token lacks `read:packages` (see the module comment).
   */
  packagesSkipped: string[];
  /** Why `packagesSkipped` is not empty, and what to do; null when it is. */
  packagesSkippedReason: string | null;
  /** With --test-artifacts: artifacts listed, selected, skipped as known, expired, downloaded, parsed, quarantined. */
  artifacts?: ArtifactStats | null;
  /** Workflow files read per (path, commit) and parsed (extract/workflow-definitions.ts); null with --no-workflow-definitions. */
  workflowDefinitions?: WorkflowDefinitionStats | null;
  /** Deployments, statuses and compares (extract/deployments.ts); null with --no-deployments. */
  deployments?: DeploymentStats | null;
}

/** Why packages were skipped, for summaries. */
export const PACKAGES_SKIPPED_APP = "GitHub Apps cannot read packages; set GITHUB_PACKAGES_TOKEN (a classic token with read:packages) or run with --no-packages";
export const PACKAGES_SKIPPED_SCOPE = "the token lacks the read:packages scope; add it (or set GITHUB_PACKAGES_TOKEN to a classic token with read:packages) or run with --no-packages";

/** The summary line of --test-artifacts, or null when it is off. */
export function artifactsLine(result: Pick<ExtractResult, "artifacts">): string | null {
  const a = result.artifacts;
  if (!a) return null;
  return `test artifacts: ${a.selected} selected of ${a.listed} listed (${a.repoPages} repository list pages, ${a.runsListed} run lists); ${a.parsed} parsed (${a.testCases} test cases, ${a.coverageReports} coverage reports), ${a.expired} expired, ${a.quarantined} quarantined, ${a.known} already in the warehouse`;
}

/** The summary line of skipped packages, or null when none were skipped. */
export function packagesSkippedLine(result: Pick<ExtractResult, "packagesSkipped" | "packagesSkippedReason">): string | null {
  if (result.packagesSkipped.length === 0) return null;
  return `packages skipped for ${result.packagesSkipped.join(", ")}: ${result.packagesSkippedReason ?? "see the log"}; workflow runs were kept`;
}

export interface ExtractDeps {
  log: Logger;
  progress?: Progress;
  /** The warehouse's view of earlier extracts (watermark, known runs, ETags); none = a full extract. */
  state?: ExtractState;
  /** Called before every request, record and file step: throws to simulate a crash (resilience tests). */
  crashPoint?: () => void;
}

/** More records were quarantined than `--max-quarantined` allows. The manifest is written (nothing is lost). */
export class QuarantineThresholdError extends Error {
  override readonly name = "QuarantineThresholdError";
  constructor(readonly result: ExtractResult, limit: string) {
    super(
      `${result.manifest.quarantined} of ${result.manifest.quarantined + Object.values(result.manifest.counts).reduce((n, c) => n + c, 0)} records were quarantined, above --max-quarantined ${limit}; ` +
        `they are in ${result.manifest.quarantine_path ?? "quarantine"} with their reasons: ${JSON.stringify(result.manifest.quarantine_reasons ?? {})}`,
    );
  }
}

/** Extract ids are `YYYYMMDDTHHMMSSZ-` and 8 hex digits; batch ids start with them (`<extract id>-<table>`). */
export const EXTRACT_ID_LENGTH = 25;

export function newExtractId(at: Date): string {
  return `${at.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z")}-${randomBytes(4).toString("hex")}`;
}

const DAY_MS = 86_400_000;

/** The first day of the window: --since, or the oldest watermark of the scope minus the lookback. */
async function chooseSince(config: ExtractConfig, state: ExtractState, repositories: string[], log: Logger): Promise<{ sinceDay: string; watermark: Date | null }> {
  if (config.since) return { sinceDay: config.since, watermark: null };
  const marks = await state.watermarks(repositories);
  if (marks.size === 0 && config.initialSince) {
    log.info("no completed extract of this scope yet: starting at --initial-since", { initial_since: config.initialSince });
    return { sinceDay: config.initialSince, watermark: null };
  }
  if (marks.size === 0) {
    throw new ConfigError([
      {
        field: "since",
        message: "--since is required: the warehouse holds no completed extract of this scope yet, so there is no watermark to continue from (give the first UTC day to extract, YYYY-MM-DD, or --initial-since for unattended first runs)",
      },
    ]);
  }
  const missing = repositories.filter((r) => !marks.has(r));
  if (missing.length > 0) log.warn("repositories never extracted before: covered from the scope's oldest watermark minus the lookback", { repositories: missing });
  const watermark = new Date(Math.min(...[...marks.values()].map((d) => d.getTime())));
  return { sinceDay: new Date(watermark.getTime() - config.lookbackDays * DAY_MS).toISOString().slice(0, 10), watermark };
}

function sameRun(run: ApiRun, known: { runAttempt: number; status: string; updatedAt: number } | undefined): boolean {
  return known !== undefined && (run.run_attempt ?? 1) === known.runAttempt && run.status === known.status && Date.parse(run.updated_at) === known.updatedAt;
}

function overLimit(config: ExtractConfig, quarantined: number, seen: number): boolean {
  const limit = config.maxQuarantined;
  return limit.kind === "count" ? quarantined > limit.value : seen > 0 && quarantined / seen > limit.value;
}

export async function runExtract(input: ExtractConfigInput, deps: ExtractDeps): Promise<ExtractResult> {
  const config = parseExtractConfig(input);
  const startedAt = new Date();
  const extractId = newExtractId(startedAt);
  const log = deps.log.child({ extract_id: extractId });
  const progress = deps.progress ?? createProgress(log);
  const state = deps.state ?? emptyExtractState;
  const crash = deps.crashPoint ?? (() => {});
  const { octokit, usage } = createGitHubClient({
    apiUrl: config.apiUrl,
    token: config.token,
    ...(config.app ? { app: { ...config.app, scope: { repos: config.repos, orgs: config.orgs, users: config.users } } } : {}),
    packagesToken: config.packagesToken,
    log,
    requestTimeoutMs: config.requestTimeoutMs,
    maxRetries: config.maxRetries,
    maxRetrySeconds: config.maxRetrySeconds,
    retryTimeScaleMs: config.retryTimeScaleMs,
    beforeRequest: crash,
  });
  const removed = removeOrphans(config.stagingDir, config.orphanGraceMs);
  if (removed.length > 0) log.info("removed files of extracts that never finished", { files: removed.length });
  const staleZips = removeStaleDownloads(config.stagingDir, config.orphanGraceMs);
  if (staleZips > 0) log.info("removed artifact zips of extracts that never finished", { files: staleZips });
  const writer = new BatchWriter(config.stagingDir, extractId, startedAt.toISOString().slice(0, 10), { maxRecordBytes: config.maxRecordBytes, crashPoint: crash });
  const stats: ExtractStats = { repositories: 0, runsDiscovered: 0, runsDone: 0, runsUnchanged: 0, jobs: 0, packageVersions: 0, requests: 0, quarantined: 0 };
  const tick = () => {
    stats.requests = usage.requests;
    stats.quarantined = writer.quarantined;
    progress.update(stats);
  };
  const cache = new HttpCache(config.refetch ? new Map() : await state.httpCache());

  const failures: unknown[] = [];
  // Two queues share the concurrency budget, so no more than `concurrency` requests are ever in flight
  // (GitHub's secondary limit is 100 concurrent): listing gets a quarter, run details the rest. They are
  // separate so a listing task waiting for the detail backlog to drain (backpressure, below) can never
  // hold the slots the detail tasks need.
  const listConcurrency = Math.max(1, Math.floor(config.concurrency / 4));
  const listQueue = new PQueue({ concurrency: listConcurrency });
  const detailQueue = new PQueue({ concurrency: Math.max(1, config.concurrency - listConcurrency) });
  const enqueueOn = (queue: PQueue) => (task: () => Promise<void>) => {
    queue.add(task).catch((error: unknown) => {
      failures.push(error);
      listQueue.clear();
      detailQueue.clear();
    });
  };
  const enqueue = enqueueOn(detailQueue);
  const enqueueListing = enqueueOn(listQueue);
  // Listed runs wait in memory only until their details are fetched: listing pauses while this many are
  // pending, so memory stays flat however many runs the window holds.
  const maxPendingRuns = Math.max(100, config.concurrency * 8);
  const fail = (error: unknown): never => {
    writer.abandon();
    log.error("extract failed; no manifest written, nothing from this extract will be loaded", { error: error instanceof Error ? error.message : String(error), failures: failures.length });
    throw error instanceof Error ? error : new Error(String(error));
  };

  let window: { from: Date; to: Date };
  let watermark: Date | null;
  let repositories: Set<string>;
  try {
    repositories = new Set(config.repos);
    for (const org of config.orgs) for (const name of await listRepositories(octokit, cache, { org })) repositories.add(name);
    for (const user of config.users) for (const name of await listRepositories(octokit, cache, { user })) repositories.add(name);
    stats.repositories = repositories.size;
    const chosen = await chooseSince(config, state, [...repositories], log);
    watermark = chosen.watermark;
    const { since, until } = extractWindow(config, chosen.sinceDay);
    window = windowOf(since, until);
  } catch (error) {
    state.close?.();
    if (error instanceof ConfigError) {
      writer.abandon();
      throw error;
    }
    return fail(error);
  }
  let known: Map<number, KnownRun>;
  // Artifacts stay known even with --refetch: a download is never repeated (extract/artifacts.ts).
  let knownArtifacts = new Set<number>();
  let knownDefinitions = emptyKnownWorkflowDefinitions();
  let knownCompares = new Set<string>();
  try {
    // Compares stay known even with --refetch: the commits between two SHAs never change.
    if (config.deployments && repositories.size > 0 && state.knownCompares) knownCompares = await state.knownCompares([...repositories]);
    known = config.refetch || repositories.size === 0 ? new Map() : await state.knownRuns([...repositories], window.from);
    if (config.testArtifacts.length > 0 && repositories.size > 0 && state.knownArtifacts) knownArtifacts = await state.knownArtifacts([...repositories], window.from);
    // Workflow files stay known even with --refetch: a commit's file never changes (extract/workflow-definitions.ts).
    if (config.workflowDefinitions && repositories.size > 0 && state.knownWorkflowDefinitions) knownDefinitions = await state.knownWorkflowDefinitions([...repositories], window.from);
  } finally {
    state.close?.();
  }
  log.info("extract started", {
    api_url: config.apiUrl,
    since: isoSecond(window.from),
    until: isoSecond(window.to),
    watermark: watermark ? isoSecond(watermark) : null,
    lookback_days: config.since ? null : config.lookbackDays,
    known_runs: known.size,
    ...(config.testArtifacts.length > 0 ? { test_artifacts: config.testArtifacts, known_artifacts: knownArtifacts.size } : {}),
    repos: config.repos,
    orgs: config.orgs,
    users: config.users,
  });

  const artifacts: ArtifactStats = emptyArtifactStats();
  const deployments: DeploymentStats = emptyDeploymentStats();
  /** Completed runs fetched by this extract, per repository, with their attempts' start times: their artifacts are read after the details. */
  const artifactRuns = new Map<string, Map<number, AttemptStart[]>>();
  /** The workflow files the fetched runs used (read after the runs, below). */
  const workflowFiles = new WorkflowFilePlan();
  const definitions = emptyWorkflowDefinitionStats();
  const seenRuns = new Set<number>();
  const onRun = (fullName: string, r: ReturnType<typeof repoRef>) => async (run: ApiRun): Promise<void> => {
    if (typeof run?.id !== "number") {
      enqueue(() => writer.quarantine({ resource: "workflow_runs", source: `GET /repos/${fullName}/actions/runs`, reason: "id: missing or not a number; the run cannot be fetched", record: run as unknown as Record<string, unknown> }, new Date().toISOString()));
      return;
    }
    // Runs arriving while the list pages shift items to later pages: the same run can be listed twice.
    if (seenRuns.has(run.id)) return;
    seenRuns.add(run.id);
    stats.runsDiscovered += 1;
    if (sameRun(run, known.get(run.id))) {
      stats.runsUnchanged += 1;
      return;
    }
    if (detailQueue.size >= maxPendingRuns) await detailQueue.onSizeLessThan(maxPendingRuns);
    const listedAt = new Date().toISOString();
    enqueue(async () => {
      const detail = await extractRunDetail(octokit, writer, r, run, listedAt);
      if (config.workflowDefinitions) workflowFiles.addRun(fullName, run);
      // Artifacts of completed runs only: a run still going may upload more, and it will be fetched
      // again once it completes (its status changes), when the ones already read are known.
      if (config.testArtifacts.length > 0 && run.status === "completed") {
        const runs = artifactRuns.get(fullName) ?? new Map<number, AttemptStart[]>();
        artifactRuns.set(fullName, runs);
        runs.set(run.id, detail.attemptStarts);
      }
      stats.runsDone += 1;
      stats.jobs += detail.jobs;
      tick();
    });
  };

  for (const fullName of repositories) {
    const r = repoRef(fullName);
    enqueueListing(async () => {
      await extractWorkflows(octokit, cache, writer, r);
    });
    if (config.deployments)
      enqueueListing(async () => {
        await extractRepoDeployments(octokit, cache, writer, r, { since: window.from, until: window.to, knownCompares, stats: deployments }, log);
      });
    // One task per day: list requests are latency-bound, and days are independent.
    for (const day of dayWindows(window.from, window.to))
      enqueueListing(async () => {
        const listed = await listRuns(octokit, cache, r, [day], onRun(fullName, r), log);
        log.debug("runs listed", { repository: fullName, day: isoSecond(day.from).slice(0, 10), runs: listed.runs, windows: listed.windows, pages_not_modified: listed.pagesNotModified });
      });
  }

  const packagesSkipped: string[] = [];
  let packagesSkippedReason: string | null = null;
  if (config.packages) {
    const owners: PackageOwner[] = [
      ...config.orgs.map((login) => ({ login, kind: "Organization" as const })),
      ...config.users.map((login) => ({ login, kind: "User" as const })),
    ];
    // GitHub Apps cannot call the packages endpoints: say so once and skip them, unless a token that can is given.
    if (config.app && !config.packagesToken && owners.length > 0) {
      packagesSkipped.push(...owners.map((o) => o.login));
      packagesSkippedReason = PACKAGES_SKIPPED_APP;
      log.warn(PACKAGES_WITH_APP_WARNING, { packages_skipped: packagesSkipped });
    }
    for (const owner of packagesSkipped.length ? [] : owners)
      for (const type of config.packageTypes)
        enqueue(async () => {
          if (packagesSkipped.includes(owner.login)) return;
          try {
            const result = await extractPackages(octokit, cache, writer, owner, type, log);
            stats.packageVersions += result.versions;
          } catch (error) {
            // Policy (module comment): a missing read:packages scope skips the owner's packages, nothing else.
            if (!(error instanceof ApiFailure) || error.kind !== "packages-scope") throw error;
            if (packagesSkipped.includes(owner.login)) return;
            packagesSkipped.push(owner.login);
            packagesSkippedReason = PACKAGES_SKIPPED_SCOPE;
            const who = resourceLabel({ kind: owner.kind === "Organization" ? "organization" : "user", login: owner.login });
            log.warn(`packages of ${who} skipped: ${error.details.problem}. ${error.details.fix}. The workflow runs of this extract are kept.`, {
              owner: owner.login,
              status: error.status,
              scope: "read:packages",
              packages_skipped: [...packagesSkipped],
            });
          }
          tick();
        });
  }

  // Listing feeds the detail queue, so wait for listing first, then for the details it enqueued.
  await listQueue.onIdle();
  await detailQueue.onIdle();
  // Then the artifacts of the completed runs fetched (extract/artifacts.ts): listed per repository
  // once every run's details are in, read within the same concurrency.
  if (failures.length === 0 && artifactRuns.size > 0) {
    for (const [fullName, runs] of artifactRuns)
      enqueue(() => extractRepoArtifacts(octokit, writer, repoRef(fullName), runs, { globs: config.testArtifacts, stagingDir: config.stagingDir, extractId, known: knownArtifacts, stats: artifacts }, enqueue));
    await detailQueue.onIdle();
  }
  // Then the workflow files those runs used, each (path, commit) once, within the rate limit reserve.
  if (failures.length === 0 && config.workflowDefinitions) {
    const maxContentBytes = Math.floor(config.maxRecordBytes / 2);
    extractWorkflowDefinitions(octokit, writer, workflowFiles, { known: knownDefinitions, reserve: config.workflowDefinitionsReserve, usage, stats: definitions, maxContentBytes }, enqueue, log);
    await detailQueue.onIdle();
    log.info("workflow files read", { ...definitions });
  }
  tick();
  progress.stop(stats);
  if (failures.length > 0) return fail(failures[0]);

  let finished: { manifest: Manifest; path: string };
  try {
    finished = await writer.finish(
      {
        started_at: startedAt.toISOString(),
        finished_at: new Date().toISOString(),
        api_url: config.apiUrl,
        ...(config.target ? { target: config.target } : {}),
        scope: { repositories: [...repositories].sort(), organizations: config.orgs, users: config.users },
        window: { since: window.from.toISOString(), until: window.to.toISOString() },
        api: {
          requests: usage.requests,
          not_modified: usage.notModified,
          retries: usage.retries,
          rate_limit_remaining: usage.rateLimitRemaining,
          costly: usage.costly,
          faults: { ...usage.faults },
        },
        incremental: {
          watermark: watermark ? watermark.toISOString() : null,
          lookback_days: config.lookbackDays,
          runs_unchanged: stats.runsUnchanged,
          pages_not_modified: cache.notModified,
        },
      },
      cache.entries(),
    );
  } catch (error) {
    return fail(error);
  }
  const { manifest, path } = finished;
  const durationMs = Date.now() - startedAt.getTime();
  log.info("extract finished", {
    manifest: path,
    counts: manifest.counts,
    quarantined: manifest.quarantined,
    quarantine_reasons: manifest.quarantine_reasons,
    unknown_fields: manifest.unknown_fields,
    runs_unchanged: stats.runsUnchanged,
    api_requests: usage.requests,
    api_costly: usage.costly,
    api_not_modified: usage.notModified,
    api_retries: usage.retries,
    faults: usage.faults,
    ...(usage.auth ? { auth_requests: usage.auth.requests, tokens_minted: usage.auth.tokensMinted, installations: usage.auth.installations } : {}),
    ...(packagesSkipped.length ? { packages_skipped: packagesSkipped } : {}),
    ...(config.testArtifacts.length > 0 ? { artifacts } : {}),
    ...(config.deployments ? { deployments } : {}),
    ...(config.workflowDefinitions ? { workflow_definitions: definitions } : {}),
    duration_ms: durationMs,
  });
  const auth = usage.auth ? { requests: usage.auth.requests, tokensMinted: usage.auth.tokensMinted, installations: usage.auth.installations } : null;
  const result = { manifest, manifestPath: path, stats, durationMs, auth, artifacts: config.testArtifacts.length > 0 ? artifacts : null, workflowDefinitions: config.workflowDefinitions ? definitions : null, deployments: config.deployments ? deployments : null, packagesSkipped: [...config.orgs, ...config.users].filter((login) => packagesSkipped.includes(login)), packagesSkippedReason };
  if (overLimit(config, manifest.quarantined, writer.seen)) {
    const limit = config.maxQuarantined.kind === "count" ? String(config.maxQuarantined.value) : `${config.maxQuarantined.value * 100}%`;
    throw new QuarantineThresholdError(result, limit);
  }
  return result;
}
