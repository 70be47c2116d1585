/**
 * One extract: resolves the scope (repositories, organisations, users), then pulls workflows, runs with
 * every attempt, jobs with steps, packages and versions into gzip NDJSON batches, and writes the manifest.
 *
 * Any request that still fails after the client's retries fails the whole extract before the manifest
 * is written, so an incomplete extract is never loaded and the next run simply covers the window again.
 */
import { randomBytes } from "node:crypto";
import PQueue from "p-queue";
import { BatchWriter } from "./batch-writer.js";
import { createGitHubClient } from "./client.js";
import { extractWindow, parseExtractConfig, type ExtractConfigInput } from "./config.js";
import { extractRunDetail, extractWorkflows, listRepositories, listRuns, repoRef } from "./actions.js";
import { extractPackages, type PackageOwner } from "./packages.js";
import { createProgress, type ExtractStats, type Progress } from "./progress.js";
import { isoSecond, windowOf } from "./windows.js";
import type { Logger } from "../log/logger.js";
import type { Manifest } from "../schemas/manifest.js";

export interface ExtractResult {
  manifest: Manifest;
  manifestPath: string;
  stats: ExtractStats;
  durationMs: number;
}

export interface ExtractDeps {
  log: Logger;
  progress?: Progress;
}

function newExtractId(at: Date): string {
  return `${at.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z")}-${randomBytes(4).toString("hex")}`;
}

export async function runExtract(input: ExtractConfigInput, deps: ExtractDeps): Promise<ExtractResult> {
  const config = parseExtractConfig(input);
  const startedAt = new Date();
  const { since, until } = extractWindow(config);
  const window = windowOf(since, until);
  const extractId = newExtractId(startedAt);
  const log = deps.log.child({ extract_id: extractId });
  const progress = deps.progress ?? createProgress(log);
  const { octokit, usage } = createGitHubClient({
    apiUrl: config.apiUrl,
    token: config.token,
    log,
    requestTimeoutMs: config.requestTimeoutMs,
  });
  const writer = new BatchWriter(config.stagingDir, extractId, startedAt.toISOString().slice(0, 10));
  const stats: ExtractStats = { repositories: 0, runsDiscovered: 0, runsDone: 0, jobs: 0, packageVersions: 0, requests: 0, quarantined: 0 };
  const tick = () => {
    stats.requests = usage.requests;
    stats.quarantined = writer.quarantined;
    progress.update(stats);
  };

  log.info("extract started", { api_url: config.apiUrl, since: isoSecond(window.from), until: isoSecond(window.to), repos: config.repos, orgs: config.orgs, users: config.users });

  const repositories = new Set(config.repos);
  for (const org of config.orgs) for (const name of await listRepositories(octokit, { org })) repositories.add(name);
  for (const user of config.users) for (const name of await listRepositories(octokit, { user })) repositories.add(name);
  stats.repositories = repositories.size;

  // One queue bounds every concurrent request, so secondary limits (100 concurrent) are never approached.
  const queue = new PQueue({ concurrency: config.concurrency });
  const failures: unknown[] = [];
  const enqueue = (task: () => Promise<void>) => {
    queue.add(task).catch((error: unknown) => {
      failures.push(error);
      queue.clear();
    });
  };

  for (const fullName of repositories) {
    const r = repoRef(fullName);
    enqueue(async () => {
      await extractWorkflows(octokit, writer, r);
    });
    enqueue(async () => {
      const listed = await listRuns(
        octokit,
        r,
        window,
        (run) => {
          stats.runsDiscovered += 1;
          const listedAt = new Date().toISOString();
          enqueue(async () => {
            const detail = await extractRunDetail(octokit, writer, r, run, listedAt);
            stats.runsDone += 1;
            stats.jobs += detail.jobs;
            tick();
          });
        },
        log,
      );
      log.debug("runs listed", { repository: fullName, runs: listed.runs, windows: listed.windows });
    });
  }

  if (config.packages) {
    const owners: PackageOwner[] = [
      ...config.orgs.map((login) => ({ login, kind: "Organization" as const })),
      ...config.users.map((login) => ({ login, kind: "User" as const })),
    ];
    for (const owner of owners)
      for (const type of config.packageTypes)
        enqueue(async () => {
          const result = await extractPackages(octokit, writer, owner, type, log);
          stats.packageVersions += result.versions;
          tick();
        });
  }

  await queue.onIdle();
  tick();
  progress.stop(stats);
  if (failures.length > 0) {
    const first = failures[0];
    log.error("extract failed; no manifest written, nothing from this extract will be loaded", { error: first instanceof Error ? first.message : String(first), failures: failures.length });
    throw first instanceof Error ? first : new Error(String(first));
  }

  const { manifest, path } = await writer.finish({
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    api_url: config.apiUrl,
    scope: { repositories: [...repositories].sort(), organizations: config.orgs, users: config.users },
    window: { since: window.from.toISOString(), until: window.to.toISOString() },
    api: {
      requests: usage.requests,
      not_modified: usage.notModified,
      retries: usage.retries,
      rate_limit_remaining: usage.rateLimitRemaining,
    },
  });
  const durationMs = Date.now() - startedAt.getTime();
  log.info("extract finished", { manifest: path, counts: manifest.counts, quarantined: manifest.quarantined, api_requests: usage.requests, duration_ms: durationMs });
  return { manifest, manifestPath: path, stats, durationMs };
}
