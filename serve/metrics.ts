/**
 * Prometheus exporter of `actions-warehouse serve` (`GET /metrics`), fed by `workflow_run` and
 * `workflow_job` webhook bodies.
 *
 * Metric names carry `options.prefix` (the server's `--metrics-prefix`, default `github_actions_`):
 *
 * | metric | type | labels | what |
 * |---|---|---|---|
 * | `workflow_run_total` | counter | repository, workflow, status, conclusion | run attempts that reached `completed`, once per (run id, run attempt); `status` is always `completed` |
 * | `workflow_run_duration_seconds` | histogram | repository, workflow, conclusion | `run_started_at` → `updated_at` of the completed attempt |
 * | `workflow_run_active` | gauge | repository, workflow, status | run attempts seen but not completed: `status` is `queued` (requested, queued, waiting, pending) or `in_progress` |
 * | `job_run_total` | counter | repository, workflow, status, conclusion, runner_os | jobs that reached `completed`, once per job id (skipped jobs too); `status` is always `completed` |
 * | `job_run_duration_seconds` | histogram | repository, workflow, runner_os | `started_at` → `completed_at` of completed jobs that started |
 * | `job_queue_duration_seconds` | histogram | repository, workflow, runner_os | `created_at` → `started_at`, once per job id, as soon as it has started (in_progress or completed) |
 * | `job_active` | gauge | repository, workflow, runner_os, status | jobs seen but not completed: `status` is `queued` (queued, waiting, requested, pending) or `in_progress` |
 * | `job_cost` | counter | repository, workflow, runner_os | estimated USD of completed jobs |
 * | `webhook_deliveries_total` | counter | event, outcome | every delivery the server answered; `event` is the `X-GitHub-Event` name when it is one of `KNOWN_EVENTS`, else `other` (the header is sender-controlled) |
 * | `webhook_processing_errors_total` | counter | – | deliveries whose processing failed |
 *
 * plus prom-client's default process metrics (`process_*`, `nodejs_*`, not prefixed, so stock dashboards work).
 *
 * Same rules as the models (`fct_workflow_jobs`, `fct_workflow_runs`):
 * - runner OS from the job's labels with `includes/runner_os.js` (`Linux`, `Windows`, `macOS`, `Unknown`);
 * - a job "started" when it has `started_at`, is in_progress/completed, is not skipped, and is not a
 *   cancelled job no runner picked up (`runner_name` null). Only started jobs get queue and duration
 *   observations (GitHub sets `started_at = created_at` on jobs that never started);
 * - durations are whole seconds, truncated (TIMESTAMP_DIFF);
 * - cost: GitHub-hosted completed jobs that started are billed `ceil(duration_seconds / 60)` minutes at the
 *   `includes/runner_rates.js` rate of their runner OS valid on the UTC date of `started_at`. Self-hosted jobs
 *   (label `self-hosted`) cost 0 and add nothing; jobs with no known rate (runner OS `Unknown`) add nothing
 *   (the models leave their cost NULL).
 *
 * Labels stay bounded: repository, workflow name, runner OS, status and conclusion only; never run or job ids,
 * SHAs, branch names or runner names.
 *
 * Idempotency: every counter and histogram is driven by a key store that remembers what was already
 * counted. Runs are keyed by (run id, run attempt), jobs by job id. Each key moves forward only
 * (seen/queued → in_progress → completed); an event for a phase at or behind the remembered one changes nothing,
 * so redelivered and duplicate events never count twice, and out-of-order events (completed before
 * in_progress) count exactly once with the values of the completed payload. A completed key keeps a shared
 * marker only (no per-key labels), so the store costs about one Map slot per key (measured: about 75 bytes
 * per completed job key, so the default caps hold well under 30 MB).
 * The stores are LRUs bounded by `maxRunKeys` (default 100,000 run attempts) and `maxJobKeys` (default
 * 250,000 jobs): memory stays flat however many deliveries arrive. A key older than the cap is forgotten: a
 * redelivery of it would count again, and when a not-yet-completed key is evicted its `*_active` gauge is
 * decremented (so a run whose completion never arrives does not stay "active" forever).
 */
import { readFileSync } from "node:fs";
import { Script } from "node:vm";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export type DeliveryOutcome = "accepted" | "duplicate" | "ignored" | "bad_signature" | "malformed";

export interface MetricsOptions {
  prefix: string;
  /** Run attempts remembered for idempotency (LRU). Default `DEFAULT_MAX_RUN_KEYS`. */
  maxRunKeys?: number;
  /** Jobs remembered for idempotency (LRU). Default `DEFAULT_MAX_JOB_KEYS`. */
  maxJobKeys?: number;
  /** Collect prom-client's default process metrics in the registry. Default true. */
  defaultMetrics?: boolean;
}

export interface Metrics {
  registry: Registry;
  delivery(event: string, outcome: DeliveryOutcome): void;
  observe(event: "workflow_run" | "workflow_job", payload: Record<string, unknown>): void;
  processingError(): void;
  /** Redelivery requests serve's redelivery check made (serve/redeliver-timer.ts), by outcome. */
  redeliveries(outcome: "redelivered" | "failed", count: number): void;
  text(): Promise<string>;
  contentType: string;
  /** Sizes and caps of the idempotency key stores (for tests and /health). */
  keyStore(): { runs: number; jobs: number; maxRunKeys: number; maxJobKeys: number };
}

export const DEFAULT_MAX_RUN_KEYS = 100_000;
export const DEFAULT_MAX_JOB_KEYS = 250_000;

/** Buckets (seconds) around GitHub's 300 s and 600 s queue objectives, up to the 6 h job limit and beyond. */
export const QUEUE_BUCKETS = [5, 15, 30, 60, 120, 180, 300, 450, 600, 900, 1200, 1800, 3600, 7200, 14400];
export const DURATION_BUCKETS = [5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400];

/** Values the `event` label of `webhook_deliveries_total` can take (plus `other`). */
export const KNOWN_EVENTS: ReadonlySet<string> = new Set(["workflow_run", "workflow_job", "registry_package", "package", "ping", "ci_event"]);
const UNKNOWN = "(unknown)";

// ------------------------------------------------------------------ rules shared with the models

interface RunnerOsRule {
  runner_os: string;
  exact: string[];
  prefixes: string[];
}
interface RunnerRate {
  runner_os: string;
  valid_from: string;
  valid_to: string | null;
  usd_per_minute: number;
}

/**
 * Loads one of the Dataform `includes/*.js` files. They are CommonJS (Dataform requires them), while this
 * package is `"type": "module"`, so Node can neither `require` nor `import` them: evaluate the source in a
 * CommonJS wrapper instead.
 */
function loadInclude(name: string): Record<string, unknown> {
  const source = readFileSync(new URL(`../includes/${name}`, import.meta.url), "utf8");
  const wrapper: unknown = new Script(`(function (module, exports) {\n${source}\n})`, { filename: `includes/${name}` }).runInThisContext();
  if (typeof wrapper !== "function") throw new Error(`includes/${name}: not loadable`);
  const module: { exports: Record<string, unknown> } = { exports: {} };
  (wrapper as (m: typeof module, e: Record<string, unknown>) => void)(module, module.exports);
  return module.exports;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");

function loadRunnerRules(): { rules: RunnerOsRule[]; unknown: string; selfHosted: string } {
  const m = loadInclude("runner_os.js");
  const rules = m.RUNNER_OS_RULES;
  if (!Array.isArray(rules)) throw new Error("includes/runner_os.js: RUNNER_OS_RULES is not an array");
  const parsed = rules.map((r: unknown): RunnerOsRule => {
    if (!isRecord(r) || typeof r.runner_os !== "string" || !isStringArray(r.exact) || !isStringArray(r.prefixes)) {
      throw new Error("includes/runner_os.js: malformed rule");
    }
    return { runner_os: r.runner_os, exact: r.exact.map((e) => e.toLowerCase()), prefixes: r.prefixes.map((p) => p.toLowerCase()) };
  });
  if (typeof m.UNKNOWN_RUNNER_OS !== "string" || typeof m.SELF_HOSTED_LABEL !== "string") throw new Error("includes/runner_os.js: missing constants");
  return { rules: parsed, unknown: m.UNKNOWN_RUNNER_OS, selfHosted: m.SELF_HOSTED_LABEL.toLowerCase() };
}

function loadRates(): RunnerRate[] {
  const rates = loadInclude("runner_rates.js").RUNNER_RATES;
  if (!Array.isArray(rates)) throw new Error("includes/runner_rates.js: RUNNER_RATES is not an array");
  return rates.map((r: unknown): RunnerRate => {
    if (
      !isRecord(r) || typeof r.runner_os !== "string" || typeof r.valid_from !== "string" ||
      !(r.valid_to === null || typeof r.valid_to === "string") || typeof r.usd_per_minute !== "number"
    ) {
      throw new Error("includes/runner_rates.js: malformed rate");
    }
    return { runner_os: r.runner_os, valid_from: r.valid_from, valid_to: r.valid_to, usd_per_minute: r.usd_per_minute };
  });
}

const RUNNER = loadRunnerRules();
const RATES = loadRates();

/** Runner OS of a job's labels: the first rule any label matches (includes/runner_os.js). */
export function runnerOs(labels: readonly string[]): string {
  const lower = labels.map((l) => l.toLowerCase());
  for (const rule of RUNNER.rules) {
    if (lower.some((l) => rule.exact.includes(l) || rule.prefixes.some((p) => l.startsWith(p)))) return rule.runner_os;
  }
  return RUNNER.unknown;
}

export function isSelfHosted(labels: readonly string[]): boolean {
  return labels.some((l) => l.toLowerCase() === RUNNER.selfHosted);
}

/** USD per minute for a runner OS on a UTC date (`YYYY-MM-DD`), or undefined when no rate applies. */
export function usdPerMinute(os: string, date: string): number | undefined {
  const r = RATES.find((x) => x.runner_os === os && date >= x.valid_from && (x.valid_to === null || date <= x.valid_to));
  return r?.usd_per_minute;
}

// ------------------------------------------------------------------ payload access

const str = (o: Record<string, unknown> | undefined, k: string): string | undefined => {
  const v = o?.[k];
  return typeof v === "string" && v !== "" ? v : undefined;
};
const num = (o: Record<string, unknown> | undefined, k: string): number | undefined => {
  const v = o?.[k];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
};
const rec = (o: Record<string, unknown> | undefined, k: string): Record<string, unknown> | undefined => {
  const v = o?.[k];
  return isRecord(v) ? v : undefined;
};
/** Epoch milliseconds of an ISO instant, or undefined. */
const ms = (s: string | undefined): number | undefined => {
  if (s === undefined) return undefined;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : t;
};
/** Whole seconds between two instants, truncated toward zero like TIMESTAMP_DIFF(…, SECOND). */
const diffSeconds = (from: number, to: number): number => Math.trunc((to - from) / 1000);

/** Lifecycle phase: statuses only move forward through these. */
const Phase = { Queued: 1, InProgress: 2, Completed: 3 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];
function phaseOf(status: string | undefined): Phase | undefined {
  switch (status) {
    case "requested":
    case "queued":
    case "waiting":
    case "pending":
      return Phase.Queued;
    case "in_progress":
      return Phase.InProgress;
    case "completed":
      return Phase.Completed;
    default:
      return undefined;
  }
}
const activeStatus = (p: Phase): string => (p === Phase.InProgress ? "in_progress" : "queued");

// ------------------------------------------------------------------ bounded key store

type OpenPhase = typeof Phase.Queued | typeof Phase.InProgress;
/** What is remembered of a key that has not completed: its phase, labels of its active gauge, queue observed. */
interface OpenEntry {
  phase: OpenPhase;
  labels: Record<string, string>;
  queueObserved: boolean;
}
/** Shared marker of completed keys (no per-key allocation). */
const DONE = "done" as const;
type Entry = OpenEntry | typeof DONE;

/** Insertion-ordered Map used as an LRU: `touch` moves a key to the newest end, `set` evicts the oldest. */
class KeyStore<K> {
  private readonly map = new Map<K, Entry>();
  constructor(
    readonly cap: number,
    private readonly onEvict: (e: OpenEntry) => void,
  ) {}
  get size(): number {
    return this.map.size;
  }
  get(k: K): Entry | undefined {
    const e = this.map.get(k);
    if (e !== undefined) {
      this.map.delete(k);
      this.map.set(k, e);
    }
    return e;
  }
  set(k: K, e: Entry): void {
    this.map.delete(k);
    this.map.set(k, e);
    while (this.map.size > this.cap) {
      const oldest = this.map.entries().next();
      if (oldest.done) break;
      const [ok, ov] = oldest.value;
      this.map.delete(ok);
      if (ov !== DONE) this.onEvict(ov);
    }
  }
}

// ------------------------------------------------------------------ the exporter

export function createMetrics(options: MetricsOptions): Metrics {
  const p = options.prefix;
  const registry = new Registry();
  const registers = [registry];
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  const runTotal = new Counter({
    name: `${p}workflow_run_total`,
    help: "Workflow run attempts that reached completed, once per (run id, run attempt).",
    labelNames: ["repository", "workflow", "status", "conclusion"] as const,
    registers,
  });
  const runDuration = new Histogram({
    name: `${p}workflow_run_duration_seconds`,
    help: "Duration of completed workflow run attempts, run_started_at to updated_at, in seconds.",
    labelNames: ["repository", "workflow", "conclusion"] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const runActive = new Gauge({
    name: `${p}workflow_run_active`,
    help: "Workflow run attempts seen and not completed yet, by status (queued or in_progress).",
    labelNames: ["repository", "workflow", "status"] as const,
    registers,
  });
  const jobTotal = new Counter({
    name: `${p}job_run_total`,
    help: "Jobs that reached completed, once per job id.",
    labelNames: ["repository", "workflow", "status", "conclusion", "runner_os"] as const,
    registers,
  });
  const jobDuration = new Histogram({
    name: `${p}job_run_duration_seconds`,
    help: "Duration of completed jobs that ran, started_at to completed_at, in seconds.",
    labelNames: ["repository", "workflow", "runner_os"] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const jobQueue = new Histogram({
    name: `${p}job_queue_duration_seconds`,
    help: "Time jobs waited for a runner, created_at to started_at, in seconds; once per job id.",
    labelNames: ["repository", "workflow", "runner_os"] as const,
    buckets: QUEUE_BUCKETS,
    registers,
  });
  const jobActive = new Gauge({
    name: `${p}job_active`,
    help: "Jobs seen and not completed yet, by status (queued or in_progress).",
    labelNames: ["repository", "workflow", "runner_os", "status"] as const,
    registers,
  });
  const jobCost = new Counter({
    name: `${p}job_cost`,
    help: "Estimated cost of completed GitHub-hosted jobs in USD: minutes rounded up per job x the dated rate of includes/runner_rates.js; self-hosted jobs cost 0.",
    labelNames: ["repository", "workflow", "runner_os"] as const,
    registers,
  });
  const deliveries = new Counter({
    name: `${p}webhook_deliveries_total`,
    help: "Webhook deliveries received, by event and outcome.",
    labelNames: ["event", "outcome"] as const,
    registers,
  });
  const processingErrors = new Counter({
    name: `${p}webhook_processing_errors_total`,
    help: "Webhook deliveries whose processing failed.",
    registers,
  });
  const redeliveryRequests = new Counter({
    name: `${p}webhook_redeliveries_requested_total`,
    help: "Redeliveries of failed webhook deliveries serve asked GitHub for (--redeliver-every), by outcome of the request.",
    labelNames: ["outcome"] as const,
    registers,
  });

  const runs = new KeyStore<string>(options.maxRunKeys ?? DEFAULT_MAX_RUN_KEYS, (e) => runActive.dec({ ...e.labels, status: activeStatus(e.phase) }));
  const jobs = new KeyStore<number>(options.maxJobKeys ?? DEFAULT_MAX_JOB_KEYS, (e) => jobActive.dec({ ...e.labels, status: activeStatus(e.phase) }));

  function repositoryOf(payload: Record<string, unknown>, obj: Record<string, unknown>): string {
    return str(rec(payload, "repository"), "full_name") ?? str(rec(obj, "repository"), "full_name") ?? UNKNOWN;
  }

  /** Moves an open entry (or a new key) to `phase`, keeping the active gauge in step. */
  function advance(
    gauge: Gauge<string>,
    prev: OpenEntry | undefined,
    phase: OpenPhase,
    labels: Record<string, string>,
    queueObserved: boolean,
  ): OpenEntry {
    if (prev) gauge.dec({ ...prev.labels, status: activeStatus(prev.phase) });
    gauge.inc({ ...labels, status: activeStatus(phase) });
    return { phase, labels, queueObserved };
  }

  function observeRun(payload: Record<string, unknown>): void {
    const run = rec(payload, "workflow_run");
    const id = num(run, "id");
    const phase = phaseOf(str(run, "status"));
    if (!run || id === undefined || phase === undefined) return;
    const key = `${id}:${num(run, "run_attempt") ?? 1}`;
    const prev = runs.get(key);
    if (prev === DONE || (prev && prev.phase >= phase)) return;
    const repository = repositoryOf(payload, run);
    const workflow = str(run, "name") ?? str(run, "path") ?? UNKNOWN;
    if (phase !== Phase.Completed) {
      runs.set(key, advance(runActive, prev, phase, { repository, workflow }, false));
      return;
    }
    if (prev) runActive.dec({ ...prev.labels, status: activeStatus(prev.phase) });
    runs.set(key, DONE);
    const conclusion = str(run, "conclusion") ?? UNKNOWN;
    runTotal.inc({ repository, workflow, status: "completed", conclusion });
    const started = ms(str(run, "run_started_at"));
    const updated = ms(str(run, "updated_at"));
    if (started !== undefined && updated !== undefined) runDuration.observe({ repository, workflow, conclusion }, diffSeconds(started, updated));
  }

  function observeJob(payload: Record<string, unknown>): void {
    const job = rec(payload, "workflow_job");
    const id = num(job, "id");
    const status = str(job, "status");
    const phase = phaseOf(status);
    if (!job || id === undefined || phase === undefined) return;
    const prev = jobs.get(id);
    if (prev === DONE || (prev && prev.phase >= phase)) return;
    const labelsValue = job.labels;
    const jobLabels = isStringArray(labelsValue) ? labelsValue : [];
    const repository = repositoryOf(payload, job);
    const workflow = str(job, "workflow_name") ?? UNKNOWN;
    const os = runnerOs(jobLabels);
    const labels = { repository, workflow, runner_os: os };
    const conclusion = str(job, "conclusion");
    const created = ms(str(job, "created_at"));
    const started = ms(str(job, "started_at"));
    const completed = ms(str(job, "completed_at"));
    // fct_workflow_jobs.has_started
    const hasStarted =
      started !== undefined && phase !== Phase.Queued && conclusion !== "skipped" && !(conclusion === "cancelled" && str(job, "runner_name") === undefined);
    const queueObserved = prev?.queueObserved ?? false;
    if (hasStarted && !queueObserved && created !== undefined && started !== undefined) jobQueue.observe(labels, diffSeconds(created, started));
    const nowObserved = queueObserved || hasStarted;
    if (phase !== Phase.Completed) {
      jobs.set(id, advance(jobActive, prev, phase, labels, nowObserved));
      return;
    }
    if (prev) jobActive.dec({ ...prev.labels, status: activeStatus(prev.phase) });
    jobs.set(id, DONE);
    jobTotal.inc({ ...labels, status: "completed", conclusion: conclusion ?? UNKNOWN });
    if (!hasStarted || started === undefined || completed === undefined) return;
    const duration = diffSeconds(started, completed);
    jobDuration.observe(labels, duration);
    if (isSelfHosted(jobLabels)) return;
    const rate = usdPerMinute(os, new Date(started).toISOString().slice(0, 10));
    const minutes = Math.ceil(duration / 60);
    if (rate !== undefined && minutes > 0) jobCost.inc(labels, minutes * rate);
  }

  return {
    registry,
    contentType: registry.contentType,
    delivery(event, outcome) {
      // The event name comes from a request header: anything outside the known set is "other", so a
      // sender cannot grow the label set (bad signatures included).
      deliveries.inc({ event: KNOWN_EVENTS.has(event) ? event : "other", outcome });
    },
    observe(event, payload) {
      if (event === "workflow_run") observeRun(payload);
      else if (event === "workflow_job") observeJob(payload);
    },
    processingError() {
      processingErrors.inc();
    },
    redeliveries(outcome, count) {
      redeliveryRequests.inc({ outcome }, count);
    },
    text() {
      return registry.metrics();
    },
    keyStore() {
      return { runs: runs.size, jobs: jobs.size, maxRunKeys: runs.cap, maxJobKeys: jobs.cap };
    },
  };
}
