/**
 * The Prometheus exporter of `serve` (serve/metrics.ts): a simulator dataset's lifecycle, as webhook bodies
 * built from the simulator's exact REST run and job objects, shuffled and 5% duplicated, gives metrics equal
 * to ground truth computed here from the dataset itself, independently of the exporter's code.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import seedrandom from "seedrandom";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetrics, type DeliveryOutcome } from "../serve/metrics.js";
import { allJobsOf, generateDataset, startSimulator, type Dataset, type SimJob, type Simulator } from "../simulator/index.js";
import { parseExposition, type Sample } from "./prometheus-text.js";

const PREFIX = "github_actions_";

// ------------------------------------------------------------------ Prometheus text parsing


/** Sum of a metric's samples whose labels match `where`, grouped by the value of label `by` ("" = one group). */
function sumBy(samples: Sample[], name: string, by = "", where: Record<string, string> = {}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(where).some(([k, v]) => s.labels[k] !== v)) continue;
    const k = by === "" ? "" : (s.labels[by] ?? "");
    out[k] = (out[k] ?? 0) + s.value;
  }
  return out;
}
const total = (samples: Sample[], name: string, where: Record<string, string> = {}): number => sumBy(samples, name, "", where)[""] ?? 0;
/** Drops zero groups (gauges that went back to 0 keep their series). */
const nonZero = (r: Record<string, number>): Record<string, number> => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== 0));

// ------------------------------------------------------------------ ground truth, written independently

const sec = (iso: string): number => Date.parse(iso) / 1000;

function osOf(labels: string[]): string {
  const l = labels.map((x) => x.toLowerCase());
  if (l.some((x) => x === "linux" || x.startsWith("ubuntu-"))) return "Linux";
  if (l.some((x) => x === "windows" || x.startsWith("windows-"))) return "Windows";
  if (l.some((x) => x === "macos" || x.startsWith("macos-"))) return "macOS";
  return "Unknown";
}
/** The rate table, copied by hand from includes/runner_rates.js (a price change on 2026-01-01). */
function rate(os: string, startedAt: string): number {
  const old = startedAt < "2026-01-01";
  const r: Record<string, [number, number]> = { Linux: [0.008, 0.006], Windows: [0.016, 0.01], macOS: [0.08, 0.062] };
  const pair = r[os];
  if (!pair) throw new Error(`no rate for ${os}`);
  return old ? pair[0] : pair[1];
}
const ran = (j: SimJob): boolean =>
  (j.status === "in_progress" || j.status === "completed") && j.conclusion !== "skipped" && !(j.conclusion === "cancelled" && j.runner_name === null);

interface Truth {
  runsByConclusion: Record<string, number>;
  runDurationSum: number;
  runsActive: Record<string, number>;
  jobsByConclusion: Record<string, number>;
  jobsByOs: Record<string, number>;
  jobsActive: Record<string, number>;
  queueSum: number;
  queueCount: number;
  jobDurationSum: number;
  jobDurationCount: number;
  cost: number;
  costByOs: Record<string, number>;
  oldRateJobs: number;
  branches: Set<string>;
  ids: Set<string>;
  shas: Set<string>;
}

function groundTruth(ds: Dataset): Truth {
  const t: Truth = {
    runsByConclusion: {}, runDurationSum: 0, runsActive: {}, jobsByConclusion: {}, jobsByOs: {}, jobsActive: {}, queueSum: 0, queueCount: 0,
    jobDurationSum: 0, jobDurationCount: 0, cost: 0, costByOs: {}, oldRateJobs: 0, branches: new Set(), ids: new Set(), shas: new Set(),
  };
  const add = (r: Record<string, number>, k: string, v = 1) => (r[k] = (r[k] ?? 0) + v);
  for (const run of ds.runs) {
    t.branches.add(run.head_branch);
    t.ids.add(String(run.id));
    t.shas.add(run.head_sha);
    for (const a of run.attempts) {
      if (a.status === "completed") {
        add(t.runsByConclusion, a.conclusion ?? "");
        t.runDurationSum += sec(a.updated_at) - sec(a.run_started_at);
      } else add(t.runsActive, a.status);
    }
    for (const j of allJobsOf(ds, run).flat()) {
      t.ids.add(String(j.id));
      const os = osOf(j.labels);
      if (j.status !== "completed") add(t.jobsActive, j.status);
      if (ran(j)) {
        t.queueSum += sec(j.started_at) - sec(j.created_at);
        t.queueCount++;
      }
      if (j.status !== "completed") continue;
      add(t.jobsByConclusion, j.conclusion ?? "");
      add(t.jobsByOs, os);
      if (!ran(j) || j.completed_at === null) continue;
      const d = sec(j.completed_at) - sec(j.started_at);
      t.jobDurationSum += d;
      t.jobDurationCount++;
      if (j.labels.includes("self-hosted")) continue;
      const usd = Math.ceil(d / 60) * rate(os, j.started_at);
      t.cost += usd;
      add(t.costByOs, os, usd);
      if (j.started_at < "2026-01-01") t.oldRateJobs++;
    }
  }
  return t;
}

// ------------------------------------------------------------------ webhook bodies from the simulator's REST objects

type Json = Record<string, unknown>;
interface Delivery {
  event: "workflow_run" | "workflow_job";
  body: Json;
  duplicate: boolean;
}

async function getJson(sim: Simulator, path: string): Promise<Json> {
  const res = await fetch(`${sim.url}${path}`);
  expect(res.status, path).toBe(200);
  return (await res.json()) as Json;
}

/** The lifecycle of every run attempt and job, as GitHub would deliver it (before shuffling). */
async function lifecycle(ds: Dataset, sim: Simulator): Promise<Delivery[]> {
  const out: Delivery[] = [];
  const org = { login: ds.org.login, id: ds.org.id };
  const push = (event: Delivery["event"], action: string, obj: Json, repository: unknown) =>
    out.push({ event, duplicate: false, body: { action, [event]: obj, repository, organization: org, sender: { login: "octo", id: 1 } } });
  for (const run of ds.runs) {
    for (const a of run.attempts) {
      const base = `/repos/${run.repo}/actions/runs/${run.id}/attempts/${a.run_attempt}`;
      const rest = await getJson(sim, base);
      const repository = rest.repository;
      const status = rest.status;
      push("workflow_run", "requested", { ...rest, status: "queued", conclusion: null, updated_at: rest.created_at }, repository);
      if (status === "in_progress" || status === "completed") push("workflow_run", "in_progress", { ...rest, status: "in_progress", conclusion: null }, repository);
      if (status === "completed") push("workflow_run", "completed", rest, repository);
      const jobs: Json[] = [];
      for (let page = 1; ; page++) {
        const p = await getJson(sim, `${base}/jobs?per_page=100&page=${page}`);
        const list = p.jobs;
        if (!Array.isArray(list)) throw new Error("no jobs array");
        jobs.push(...(list as Json[]));
        if (list.length < 100) break;
      }
      for (const job of jobs) {
        const started = job.runner_name !== null && job.conclusion !== "skipped";
        push(
          "workflow_job", "queued",
          { ...job, status: "queued", conclusion: null, started_at: job.created_at, completed_at: null, steps: [], runner_id: null, runner_name: null, runner_group_id: null, runner_group_name: null },
          repository,
        );
        if (started && (job.status === "in_progress" || job.status === "completed")) {
          push("workflow_job", "in_progress", { ...job, status: "in_progress", conclusion: null, completed_at: null }, repository);
        }
        if (job.status === "completed") push("workflow_job", "completed", job, repository);
      }
    }
  }
  return out;
}

function shuffleWithDuplicates(events: Delivery[], seed: string): Delivery[] {
  const rng = seedrandom.alea(seed);
  const all = [...events];
  const dups = Math.round(events.length * 0.05);
  for (let i = 0; i < dups; i++) {
    const e = events[Math.floor(rng() * events.length)];
    if (e) all.push({ ...e, body: structuredClone(e.body), duplicate: true });
  }
  for (let i = all.length - 1; i > 0; i--) {
    const k = Math.floor(rng() * (i + 1));
    const x = all[i];
    const y = all[k];
    if (x && y) [all[i], all[k]] = [y, x];
  }
  return all;
}

// ------------------------------------------------------------------ tests

let ds: Dataset;
let sim: Simulator;
let truth: Truth;
let deliveries: Delivery[];

beforeAll(async () => {
  // Four days around a price change of includes/runner_rates.js (2026-01-01): both rates are exercised.
  ds = generateDataset({ seed: "metrics", anchor: "2026-01-02T06:00:00Z", days: 4, runsPerRepoPerDay: 8, busyDayRuns: 0, bigRunJobs: 12, bigPackageVersions: 3 });
  sim = await startSimulator({ dataset: ds });
  truth = groundTruth(ds);
  deliveries = shuffleWithDuplicates(await lifecycle(ds, sim), "metrics-shuffle");
});
afterAll(async () => {
  await sim?.close();
});

describe("serve /metrics from a shuffled, duplicated webhook lifecycle", () => {
  let samples: Sample[];
  let text: string;
  const extra: [string, DeliveryOutcome][] = [
    ["push", "ignored"], ["issues", "ignored"], ["workflow_job", "bad_signature"], ["x-evil-3f2a9c", "bad_signature"], ["workflow_run", "malformed"], ["ping", "accepted"],
  ];

  beforeAll(async () => {
    const m = createMetrics({ prefix: PREFIX });
    expect(deliveries.some((d) => d.duplicate)).toBe(true);
    for (const d of deliveries) {
      // A redelivery with a new GUID reaches observe too: the exporter must not count it twice.
      m.delivery(d.event, d.duplicate ? "duplicate" : "accepted");
      m.observe(d.event, d.body);
    }
    for (const [event, outcome] of extra) m.delivery(event, outcome);
    m.processingError();
    text = await m.text();
    samples = parseExposition(text);
    expect(m.contentType).toContain("text/plain");
  });

  it("the dataset is a fair test: every conclusion, runner OS, both rates, unfinished runs and jobs", () => {
    expect(Object.keys(truth.jobsByOs).sort()).toEqual(["Linux", "Unknown", "Windows", "macOS"]);
    expect(truth.jobsByConclusion.skipped).toBeGreaterThan(0);
    expect(truth.jobsByConclusion.cancelled).toBeGreaterThan(0);
    expect(truth.runsByConclusion.failure).toBeGreaterThan(0);
    expect(truth.oldRateJobs).toBeGreaterThan(0);
    expect(truth.jobsActive.in_progress).toBeGreaterThan(0);
    expect(truth.jobsActive.queued).toBeGreaterThan(0);
    expect(deliveries.length).toBeGreaterThan(1000);
  });

  it("run counts per conclusion, once per run attempt", () => {
    expect(sumBy(samples, `${PREFIX}workflow_run_total`, "conclusion")).toEqual(truth.runsByConclusion);
    expect(sumBy(samples, `${PREFIX}workflow_run_total`, "status")).toEqual({ completed: Object.values(truth.runsByConclusion).reduce((a, b) => a + b, 0) });
    expect(total(samples, `${PREFIX}workflow_run_duration_seconds_count`)).toBe(Object.values(truth.runsByConclusion).reduce((a, b) => a + b, 0));
    expect(total(samples, `${PREFIX}workflow_run_duration_seconds_sum`)).toBe(truth.runDurationSum);
    expect(nonZero(sumBy(samples, `${PREFIX}workflow_run_active`, "status"))).toEqual(truth.runsActive);
  });

  it("job counts per conclusion and per runner OS, once per job id", () => {
    expect(sumBy(samples, `${PREFIX}job_run_total`, "conclusion")).toEqual(truth.jobsByConclusion);
    expect(sumBy(samples, `${PREFIX}job_run_total`, "runner_os")).toEqual(truth.jobsByOs);
    expect(nonZero(sumBy(samples, `${PREFIX}job_active`, "status"))).toEqual(truth.jobsActive);
  });

  it("queue seconds and durations from the histograms' _sum and _count", () => {
    expect(total(samples, `${PREFIX}job_queue_duration_seconds_sum`)).toBe(truth.queueSum);
    expect(total(samples, `${PREFIX}job_queue_duration_seconds_count`)).toBe(truth.queueCount);
    expect(total(samples, `${PREFIX}job_run_duration_seconds_sum`)).toBe(truth.jobDurationSum);
    expect(total(samples, `${PREFIX}job_run_duration_seconds_count`)).toBe(truth.jobDurationCount);
    // Buckets around the 300 s and 600 s queue objectives; +Inf equals the count.
    const les = new Set(samples.filter((s) => s.name === `${PREFIX}job_queue_duration_seconds_bucket`).map((s) => s.labels.le));
    for (const le of ["300", "600", "+Inf"]) expect(les.has(le)).toBe(true);
    expect(total(samples, `${PREFIX}job_queue_duration_seconds_bucket`, { le: "+Inf" })).toBe(truth.queueCount);
  });

  it("cost: minutes rounded up per job x the dated rate, self-hosted free", () => {
    expect(total(samples, `${PREFIX}job_cost`)).toBeCloseTo(truth.cost, 6);
    const byOs = sumBy(samples, `${PREFIX}job_cost`, "runner_os");
    for (const os of ["Linux", "Windows", "macOS"]) expect(byOs[os] ?? 0).toBeCloseTo(truth.costByOs[os] ?? 0, 6);
    expect(byOs.Unknown ?? 0).toBe(0);
  });

  it("labels stay bounded: no ids, SHAs or branch names", () => {
    const allowed = new Set(["repository", "workflow", "status", "conclusion", "runner_os", "le", "event", "outcome"]);
    const ours = samples.filter((s) => s.name.startsWith(PREFIX));
    expect(ours.length).toBeGreaterThan(50);
    for (const s of ours) {
      for (const [k, v] of Object.entries(s.labels)) {
        expect(allowed.has(k), `${s.name} label ${k}`).toBe(true);
        expect(truth.ids.has(v), `${s.name} ${k}=${v}`).toBe(false);
        expect(truth.shas.has(v), `${s.name} ${k}=${v}`).toBe(false);
        if (k !== "repository" && k !== "workflow") expect(truth.branches.has(v), `${s.name} ${k}=${v}`).toBe(false);
        if (k !== "le") expect(/^[0-9a-f]{40}$/.test(v) || /^\d{5,}$/.test(v), `${s.name} ${k}=${v}`).toBe(false);
      }
    }
    // Branch names never appear in any label, whichever the label.
    for (const b of truth.branches) expect(text.includes(`"${b}"`), b).toBe(false);
    const repos = new Set(ours.map((s) => s.labels.repository).filter((x) => x !== undefined));
    expect([...repos].sort()).toEqual([...new Set(ds.runs.map((r) => r.repo))].sort());
  });

  it("webhook_deliveries_total per event and outcome; unknown event names are 'other'; processing errors", () => {
    const dup = deliveries.filter((d) => d.duplicate).length;
    expect(sumBy(samples, `${PREFIX}webhook_deliveries_total`, "outcome")).toEqual({
      accepted: deliveries.length - dup + 1, duplicate: dup, ignored: 2, bad_signature: 2, malformed: 1,
    });
    expect(sumBy(samples, `${PREFIX}webhook_deliveries_total`, "event", { outcome: "bad_signature" })).toEqual({ workflow_job: 1, other: 1 });
    expect(sumBy(samples, `${PREFIX}webhook_deliveries_total`, "event", { outcome: "ignored" })).toEqual({ other: 2 });
    const jobs = deliveries.filter((d) => d.event === "workflow_job" && !d.duplicate).length;
    expect(total(samples, `${PREFIX}webhook_deliveries_total`, { event: "workflow_job", outcome: "accepted" })).toBe(jobs);
    expect(total(samples, `${PREFIX}webhook_processing_errors_total`)).toBe(1);
  });

  it("default process metrics are in the same registry", () => {
    expect(samples.some((s) => s.name === "process_cpu_seconds_total")).toBe(true);
    expect(samples.some((s) => s.name === "nodejs_heap_size_used_bytes")).toBe(true);
  });
});

describe("idempotency details", () => {
  const job = (status: string, extra: Json = {}): Json => ({
    action: status,
    repository: { full_name: "acme/api" },
    workflow_job: {
      id: 42, run_id: 7, run_attempt: 1, workflow_name: "CI", head_branch: "feature/x", status, conclusion: null, labels: ["ubuntu-latest"],
      created_at: "2026-03-01T10:00:00Z", started_at: "2026-03-01T10:00:00Z", completed_at: null, runner_name: null, ...extra,
    },
  });
  const started = { started_at: "2026-03-01T10:05:00Z", runner_name: "GitHub Actions 3" };

  it("completed before in_progress and queued: counted once with the completed payload's values; nothing stays active", async () => {
    const m = createMetrics({ prefix: "t_", defaultMetrics: false });
    const completed = job("completed", { ...started, conclusion: "success", completed_at: "2026-03-01T10:07:01Z" });
    m.observe("workflow_job", completed);
    m.observe("workflow_job", job("in_progress", started));
    m.observe("workflow_job", job("queued"));
    m.observe("workflow_job", completed);
    const s = parseExposition(await m.text());
    expect(total(s, "t_job_run_total")).toBe(1);
    expect(total(s, "t_job_queue_duration_seconds_sum")).toBe(300);
    expect(total(s, "t_job_queue_duration_seconds_count")).toBe(1);
    expect(total(s, "t_job_run_duration_seconds_sum")).toBe(121);
    expect(total(s, "t_job_cost")).toBeCloseTo(3 * 0.006, 9);
    expect(nonZero(sumBy(s, "t_job_active", "status"))).toEqual({});
  });

  it("in_progress observes the queue once; completion does not observe it again; the gauge follows the phase", async () => {
    const m = createMetrics({ prefix: "t_", defaultMetrics: false });
    m.observe("workflow_job", job("queued"));
    expect(nonZero(sumBy(parseExposition(await m.text()), "t_job_active", "status"))).toEqual({ queued: 1 });
    m.observe("workflow_job", job("in_progress", started));
    m.observe("workflow_job", job("in_progress", started));
    expect(nonZero(sumBy(parseExposition(await m.text()), "t_job_active", "status"))).toEqual({ in_progress: 1 });
    m.observe("workflow_job", job("completed", { ...started, conclusion: "failure", completed_at: "2026-03-01T10:05:59Z" }));
    const s = parseExposition(await m.text());
    expect(total(s, "t_job_queue_duration_seconds_count")).toBe(1);
    expect(total(s, "t_job_cost")).toBeCloseTo(0.006, 9);
    expect(sumBy(s, "t_job_run_total", "conclusion")).toEqual({ failure: 1 });
    expect(nonZero(sumBy(s, "t_job_active", "status"))).toEqual({});
  });

  it("self-hosted jobs cost 0; skipped and never-started cancelled jobs count but get no queue or duration", async () => {
    const m = createMetrics({ prefix: "t_", defaultMetrics: false });
    m.observe("workflow_job", job("completed", { ...started, id: 1, labels: ["self-hosted", "linux", "x64"], conclusion: "success", completed_at: "2026-03-01T11:00:00Z" }));
    m.observe("workflow_job", job("completed", { id: 2, labels: [], conclusion: "skipped", completed_at: "2026-03-01T10:00:00Z" }));
    m.observe("workflow_job", job("completed", { id: 3, conclusion: "cancelled", completed_at: "2026-03-01T10:01:00Z" }));
    const s = parseExposition(await m.text());
    expect(sumBy(s, "t_job_run_total", "runner_os")).toEqual({ Linux: 2, Unknown: 1 });
    expect(total(s, "t_job_queue_duration_seconds_count")).toBe(1);
    expect(total(s, "t_job_run_duration_seconds_sum")).toBe(3300);
    expect(total(s, "t_job_cost")).toBe(0);
  });

  it("runs: one count per (run id, attempt); a re-run attempt counts again", async () => {
    const m = createMetrics({ prefix: "t_", defaultMetrics: false });
    const run = (attempt: number, status: string, conclusion: string | null): Json => ({
      action: status,
      repository: { full_name: "acme/api" },
      workflow_run: { id: 7, run_attempt: attempt, name: "CI", head_branch: "main", status, conclusion, run_started_at: "2026-03-01T10:00:00Z", updated_at: "2026-03-01T10:10:00Z" },
    });
    m.observe("workflow_run", run(1, "completed", "failure"));
    m.observe("workflow_run", run(1, "in_progress", null));
    m.observe("workflow_run", run(1, "completed", "failure"));
    m.observe("workflow_run", run(2, "queued", null));
    expect(nonZero(sumBy(parseExposition(await m.text()), "t_workflow_run_active", "status"))).toEqual({ queued: 1 });
    m.observe("workflow_run", run(2, "completed", "success"));
    const s = parseExposition(await m.text());
    expect(sumBy(s, "t_workflow_run_total", "conclusion")).toEqual({ failure: 1, success: 1 });
    expect(total(s, "t_workflow_run_duration_seconds_sum")).toBe(1200);
    expect(nonZero(sumBy(s, "t_workflow_run_active", "status"))).toEqual({});
  });
});

describe("memory bound of the key store", () => {
  it("stays at its cap over 100,000 deliveries; evicted unfinished keys leave the active gauge", async () => {
    const m = createMetrics({ prefix: "t_", defaultMetrics: false, maxJobKeys: 1000, maxRunKeys: 500 });
    for (let i = 0; i < 100_000; i++) {
      const id = 1_000_000 + Math.floor(i / 2);
      const status = i % 2 === 0 ? "queued" : i % 4 === 1 ? "completed" : "in_progress";
      m.observe("workflow_job", {
        repository: { full_name: "acme/api" },
        workflow_job: { id, workflow_name: "CI", status, conclusion: status === "completed" ? "success" : null, labels: ["ubuntu-latest"], created_at: "2026-03-01T10:00:00Z", started_at: "2026-03-01T10:00:10Z", completed_at: status === "completed" ? "2026-03-01T10:00:20Z" : null, runner_name: "r" },
      });
      m.observe("workflow_run", { repository: { full_name: "acme/api" }, workflow_run: { id, run_attempt: 1, name: "CI", status: "in_progress" } });
    }
    const k = m.keyStore();
    expect(k).toEqual({ runs: 500, jobs: 1000, maxRunKeys: 500, maxJobKeys: 1000 });
    const s = parseExposition(await m.text());
    expect(total(s, "t_job_run_total")).toBe(25_000);
    // Only the keys still remembered can be active: half of the last 1,000 jobs are in progress.
    expect(total(s, "t_job_active")).toBe(500);
    expect(total(s, "t_workflow_run_active")).toBe(500);
  });

  it("documented default caps", () => {
    const k = createMetrics({ prefix: "t_", defaultMetrics: false }).keyStore();
    expect(k).toMatchObject({ maxRunKeys: 100_000, maxJobKeys: 250_000, runs: 0, jobs: 0 });
  });

  it("a default-capped store holding 250,000 completed jobs stays small", () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const m = createMetrics({ prefix: "t_", defaultMetrics: false });
    gc();
    const before = process.memoryUsage().heapUsed;
    const body = (id: number): Json => ({
      repository: { full_name: "acme/api" },
      workflow_job: { id, workflow_name: "CI", status: "completed", conclusion: "success", labels: ["ubuntu-latest"], created_at: "2026-03-01T10:00:00Z", started_at: "2026-03-01T10:00:10Z", completed_at: "2026-03-01T10:00:20Z", runner_name: "r" },
    });
    for (let i = 0; i < 300_000; i++) m.observe("workflow_job", body(30_000_000_000 + i));
    expect(m.keyStore().jobs).toBe(250_000);
    gc();
    // A completed key is one Map slot and its number: well under 150 bytes each (measured: about 75).
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(250_000 * 150);
  });
});
