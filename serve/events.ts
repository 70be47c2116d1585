/**
 * Deliveries become raw rows: the one way in. A webhook's `workflow_run` object is the REST run object
 * and its `workflow_job` the REST job object with steps, so they go through the extractor's own row
 * builders (`runRow`, `jobRow`, `stepRow`, `packageRow`, `packageVersionRow`) and the same `BatchWriter`
 * (schema check, quarantine, gzip NDJSON, manifest) into the warehouse's staging folder, with
 * `_extracted_at` = the time of receipt. The staging models' newest-version rule then makes webhook rows
 * and polled rows one truth.
 *
 * A spool segment becomes one staged extract, `webhook-<segment>`, whose manifest has an empty scope and
 * window: the extract watermark (the newest window of an extract that listed every run of its
 * repositories) never moves because of webhooks, while `known-runs` sees their rows like polled ones.
 *
 * Jobs: every version of a job is written, also one that arrives after a more advanced one (out of
 * order: `in_progress` after `completed`). The staging models choose a job's version by its lifecycle
 * first (`includes/constants.js` `lifecycleRankSql`: queued or waiting < in_progress < completed, then
 * the newest `_extracted_at`), so a late, stale version never wins, whether it follows another webhook or a poll.
 */
import { BatchWriter } from "../extract/batch-writer.js";
import { jobRow, packageRow, packageVersionRow, runRow, stepRow, type ApiJob, type ApiPackage, type ApiPackageVersion, type ApiRun } from "../extract/records.js";
import type { Manifest } from "../schemas/manifest.js";
import type { SpoolEntry } from "./spool.js";

export const WEBHOOK_EVENTS = ["workflow_run", "workflow_job", "registry_package", "package"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The GitHub object a ci-event carries, as the webhook event it stands for. */
export function githubObjectEvent(body: Record<string, unknown>): WebhookEvent | undefined {
  if (isObject(body.workflow_run)) return "workflow_run";
  if (isObject(body.workflow_job)) return "workflow_job";
  if (isObject(body.registry_package)) return "registry_package";
  if (isObject(body.package)) return "package";
  return undefined;
}

/** `owner/name` of a payload: the webhook's repository object or a ci-event's `repository` string. */
function repositoryOf(body: Record<string, unknown>, fallback = ""): string {
  const repo = body.repository;
  if (typeof repo === "string") return repo;
  if (isObject(repo) && typeof repo.full_name === "string") return repo.full_name;
  return fallback;
}

export interface StageOptions {
  stagingDir: string;
  extractId: string;
  /** `targetId(...)` of the warehouse the extract is for. */
  target: string;
}

export interface StageResult {
  manifest: Manifest;
  path: string;
}

const SOURCE = "webhook";

/** Longest stretch of staging work between two turns of the event loop. */
const YIELD_AFTER_MS = 5;

/**
 * Writes one spool segment as a staged extract (batches and manifest). An array is sorted by receipt
 * first; an async iterable (the flusher reading a segment line by line, so a large backlog never sits in
 * the heap at once) is staged in its own order, which for a spool segment is receipt order already:
 * `received_at` is stamped just before the append is queued, and appends are written in queue order.
 */
export async function stageDeliveries(entries: SpoolEntry[] | AsyncIterable<SpoolEntry>, options: StageOptions): Promise<StageResult> {
  const startedAt = new Date().toISOString();
  const date = startedAt.slice(0, 10);
  // gzip level 1: staged every few seconds and read back by DuckDB at once, on the cores that answer
  // deliveries; level 6 costs nearly four times the CPU for files a third smaller (a 37 MB jobs batch:
  // 553 ms and 2.2 MB at level 6, 146 ms and 3.2 MB at level 1).
  const writer = new BatchWriter(options.stagingDir, options.extractId, date, { gzipLevel: 1 });
  // Receipt order: the raw rows' `_extracted_at` grows with it.
  const ordered = Array.isArray(entries) ? [...entries].sort((a, b) => a.received_at.localeCompare(b.received_at)) : entries;
  // Staging runs on the server's event loop: give way to waiting requests every few milliseconds, so
  // a large segment costs the acknowledgements a little latency each time, not one long stall.
  let slice = performance.now();
  try {
    for await (const entry of ordered) {
      if (performance.now() - slice > YIELD_AFTER_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        slice = performance.now();
      }
      const at = entry.received_at;
      const body = entry.body;
      const source = `${SOURCE}:${entry.event}:${entry.delivery}`;
      const event = entry.source === "ci-events" ? (githubObjectEvent(body) ?? entry.event) : entry.event;
      const repository = repositoryOf(body);
      if (event === "workflow_run" && isObject(body.workflow_run)) {
        await writer.write("workflow_runs", runRow(repository, body.workflow_run as unknown as ApiRun, at), source);
      } else if (event === "workflow_job" && isObject(body.workflow_job)) {
        const job = body.workflow_job as unknown as ApiJob;
        if (await writer.write("workflow_jobs", jobRow(repository, job, at), source)) {
          for (const step of Array.isArray(job.steps) ? job.steps : []) await writer.write("job_steps", stepRow(repository, job, step, at), source);
        }
      } else if ((event === "registry_package" || event === "package") && isObject(body[event])) {
        await stagePackage(writer, body[event], body, source, at);
      } else {
        await writer.quarantine(
          { resource: "deliveries", source, reason: `a ${entry.source} delivery of event ${JSON.stringify(entry.event)} without a workflow_run, workflow_job or package object: nothing to load`, record: body },
          at,
        );
      }
    }
  } catch (error) {
    writer.abandon();
    throw error;
  }
  const finishedAt = new Date().toISOString();
  const { manifest, path } = await writer.finish({
    started_at: startedAt,
    finished_at: finishedAt,
    api_url: "webhook",
    target: options.target,
    // Empty scope: webhook extracts never move an extract watermark (load/watermark-duckdb.ts).
    scope: { repositories: [], organizations: [], users: [] },
    window: { since: finishedAt, until: finishedAt },
    api: { requests: 0, not_modified: 0, retries: 0, rate_limit_remaining: null },
  });
  return { manifest, path };
}

/**
 * `registry_package` / `package`: the webhook package object is close to the REST package (id, name,
 * package_type, owner, created_at, updated_at), and `package_version` to the REST version; the REST
 * fields they lack (visibility, version_count) fail the schema and the row is quarantined with the column.
 * The webhook's container tags (`container_metadata.tag.name`) become the REST `metadata.container.tags`.
 */
async function stagePackage(writer: BatchWriter, pkg: Record<string, unknown>, body: Record<string, unknown>, source: string, at: string): Promise<void> {
  const packageType = typeof pkg.package_type === "string" ? pkg.package_type.toLowerCase() : "";
  const owner = isObject(pkg.owner) && typeof pkg.owner.login === "string" ? pkg.owner.login : "";
  const ownerType = isObject(pkg.owner) && typeof pkg.owner.type === "string" ? pkg.owner.type : "";
  const repository = repositoryOf(body, "");
  const restPackage = {
    ...pkg,
    package_type: packageType,
    ...(repository && !isObject(pkg.repository) ? { repository: { full_name: repository } } : {}),
  } as unknown as ApiPackage;
  await writer.write("packages", packageRow(owner, ownerType, restPackage, at), source);
  const version = pkg.package_version;
  if (!isObject(version)) return;
  const containerTag = isObject(version.container_metadata) && isObject(version.container_metadata.tag) ? version.container_metadata.tag.name : undefined;
  const tags = typeof containerTag === "string" && containerTag !== "" ? [containerTag] : [];
  const metadata = isObject(version.metadata) ? version.metadata : {};
  const restVersion = {
    ...version,
    name: typeof version.name === "string" && version.name !== "" ? version.name : version.version,
    metadata: { package_type: packageType, ...metadata, ...(tags.length > 0 && !isObject(metadata.container) ? { container: { tags } } : {}) },
  } as unknown as ApiPackageVersion;
  await writer.write("package_versions", packageVersionRow(owner, { package_type: packageType, name: String(pkg.name ?? "") }, restVersion, at), source);
}
