/**
 * `serve`'s `/metrics` after a burst (issue 12, burst test, part 2): about 2,000 signed deliveries built from
 * the simulator's REST objects, posted concurrently to an in-process `serve` in a shuffled order (so many
 * states arrive out of order), with 5% duplicates (the same delivery GUID again, as GitHub's redelivery
 * does), 2% re-sends of an already delivered state under a new GUID, and 1% bad signatures. The scrape must
 * equal ground truth computed here from the same events, with no use of the exporter's code: run and job
 * counts per conclusion, the queue-seconds and duration sums of the histograms' `_sum`, the active gauges,
 * and `webhook_deliveries_total` per event and outcome. A redelivered event never counts twice.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import seedrandom from "seedrandom";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, startSimulator, type Simulator } from "../simulator/index.js";
import { silentLogger } from "../log/logger.js";
import { parseServeConfig } from "../serve/config.js";
import { startServe, type ServeServer } from "../serve/server.js";
import { jobLifecycle, pool, restObjects, runLifecycle, sign, type Json } from "./serve-fixtures.js";
import { parseExposition, type Sample } from "./prometheus-text.js";

const ANCHOR = "2026-10-15T12:00:00Z";
const SECRET = "s3cret";
const HOOK_ID = "777";
const PREFIX = "github_actions_";
const ORIGINALS = 1840;
const RESENDS = 40;
const DUPLICATES = 100;
const BAD = 20;

interface Delivery {
  event: "workflow_run" | "workflow_job";
  guid: string;
  body: string;
  signature: string;
  payload: Json;
  good: boolean;
}

// ------------------------------------------------------------------ Prometheus text parsing


/** Sum of a metric's samples grouped by the values of `by` (joined with "|"), zero groups dropped. */
function sumBy(samples: Sample[], name: string, by: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name) continue;
    const k = by.map((b) => s.labels[b] ?? "").join("|");
    out[k] = (out[k] ?? 0) + s.value;
  }
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== 0));
}

const add = (r: Record<string, number>, k: string, v = 1) => {
  r[k] = (r[k] ?? 0) + v;
};

// ------------------------------------------------------------------ ground truth, written independently

interface Truth {
  runsByConclusion: Record<string, number>;
  runDurationSum: number;
  runsActive: Record<string, number>;
  jobsByConclusion: Record<string, number>;
  jobQueueSum: number;
  jobQueueCount: number;
  jobDurationSum: number;
  deliveries: Record<string, number>;
}

/** Whole seconds from one instant to another, truncated toward zero. */
const secondsBetween = (from: unknown, to: unknown): number => Math.trunc((Date.parse(String(to)) - Date.parse(String(from))) / 1000);

/**
 * From the deliveries as posted: the webhook counts follow from which copies are good and which GUIDs
 * repeat; the run and job figures from the distinct entities the good deliveries describe, whatever the
 * order: a run attempt counts once when any good delivery shows it completed (with that payload's
 * conclusion), a job once when any shows it completed; a job's queue time (created_at → started_at, whole
 * seconds) counts once if any good delivery shows it in progress or completed and it really ran (not
 * skipped, not cancelled before a runner picked it up).
 */
function groundTruth(posted: Delivery[]): Truth {
  const t: Truth = { runsByConclusion: {}, runDurationSum: 0, runsActive: {}, jobsByConclusion: {}, jobQueueSum: 0, jobQueueCount: 0, jobDurationSum: 0, deliveries: {} };
  const guids = new Set<string>();
  const runs = new Map<string, Json[]>();
  const jobs = new Map<number, Json[]>();
  for (const d of posted) {
    if (!d.good) {
      add(t.deliveries, `${d.event}|bad_signature`);
      continue;
    }
    if (guids.has(d.guid)) {
      add(t.deliveries, `${d.event}|duplicate`);
      continue;
    }
    guids.add(d.guid);
    add(t.deliveries, `${d.event}|accepted`);
    if (d.event === "workflow_run") {
      const run = d.payload.workflow_run as Json;
      const key = `${String(run.id)}#${String(run.run_attempt ?? 1)}`;
      runs.set(key, [...(runs.get(key) ?? []), run]);
    } else {
      const job = d.payload.workflow_job as Json;
      jobs.set(Number(job.id), [...(jobs.get(Number(job.id)) ?? []), job]);
    }
  }
  for (const states of runs.values()) {
    const done = states.find((r) => r.status === "completed");
    if (done) {
      add(t.runsByConclusion, String(done.conclusion));
      t.runDurationSum += secondsBetween(done.run_started_at, done.updated_at);
    } else {
      add(t.runsActive, states.some((r) => r.status === "in_progress") ? "in_progress" : "queued");
    }
  }
  for (const states of jobs.values()) {
    const done = states.find((j) => j.status === "completed");
    const shown = states.find((j) => j.status === "in_progress" || j.status === "completed");
    const ran = (j: Json) => typeof j.started_at === "string" && j.conclusion !== "skipped" && !(j.conclusion === "cancelled" && j.runner_name === null);
    if (shown && ran(done ?? shown)) {
      t.jobQueueSum += secondsBetween(shown.created_at, shown.started_at);
      t.jobQueueCount += 1;
    }
    if (done) {
      add(t.jobsByConclusion, String(done.conclusion));
      if (ran(done) && typeof done.completed_at === "string") t.jobDurationSum += secondsBetween(done.started_at, done.completed_at);
    }
  }
  return t;
}

// ------------------------------------------------------------------ the burst

const objectOf = (d: Delivery): Json => (d.event === "workflow_run" ? d.payload.workflow_run : d.payload.workflow_job) as Json;

async function post(url: string, d: Delivery): Promise<number> {
  const res = await fetch(`${url}/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": d.event, "x-github-delivery": d.guid, "x-github-hook-id": HOOK_ID, "x-hub-signature-256": d.signature },
    body: d.body,
  });
  await res.arrayBuffer();
  return res.status;
}

/** A job that did not run (skipped, or cancelled with no runner) gets no in_progress delivery: GitHub sends none. */
function realisticJobStates(job: Json): Json[] {
  const states = jobLifecycle(job).map((s) => s.job);
  const ran = job.conclusion !== "skipped" && !(job.conclusion === "cancelled" && job.runner_name === null);
  return ran ? states : states.filter((s) => s.status !== "in_progress");
}

describe("serve: /metrics after a burst equals ground truth from the same events", () => {
  let dir: string;
  let sim: Simulator;
  let server: ServeServer;
  let posted: Delivery[];
  let statuses: number[];
  let samples: Sample[];
  let truth: Truth;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-serve-metrics-burst-"));
    const dataset = generateDataset({ seed: 29, anchor: ANCHOR, days: 7, runsPerRepoPerDay: 4, busyDayRuns: 0, bigRunJobs: 3, bigPackageVersions: 3 });
    sim = await startSimulator({ dataset });
    const { runs, jobs } = await restObjects(sim, dataset);
    const rng = seedrandom("metrics-burst");
    const make = (event: Delivery["event"], payload: Json, good = true): Delivery => {
      const body = JSON.stringify(payload);
      return { event, guid: randomUUID(), body, signature: good ? sign(SECRET, body) : rng() < 0.5 ? sign("wrong", body) : "", payload, good };
    };
    // Whole lifecycles, runs and jobs interleaved, until ORIGINALS states (the last one maybe cut short).
    const lifecycles: Delivery[][] = [
      ...runs.map((run) => runLifecycle(run).map((s) => make("workflow_run", { action: s.action, workflow_run: s.run, repository: run.repository }))),
      ...jobs.map(({ job, repository }) => realisticJobStates(job).map((j) => make("workflow_job", { action: String(j.status), workflow_job: j, repository }))),
    ];
    for (let i = lifecycles.length - 1; i > 0; i -= 1) {
      const k = Math.floor(rng() * (i + 1));
      [lifecycles[i], lifecycles[k]] = [lifecycles[k] as Delivery[], lifecycles[i] as Delivery[]];
    }
    const originals = lifecycles.flat().slice(0, ORIGINALS);
    expect(originals.length).toBe(ORIGINALS);
    const pick = (n: number, from: Delivery[]) => Array.from({ length: n }, (_, i) => from[Math.floor((i * from.length) / n)] as Delivery);
    // The same state again under a new GUID (a sender retrying): accepted by the spool, counted once by the metrics.
    const resends = pick(RESENDS, originals.filter((d) => objectOf(d).status === "completed")).map((d) => ({ ...d, guid: randomUUID() }));
    // The same delivery again (GitHub's redelivery keeps the GUID): a duplicate.
    const duplicates = pick(DUPLICATES, originals).map((d) => ({ ...d }));
    const bad = pick(BAD, originals).map((d) => make(d.event, { ...d.payload, action: "completed" }, false));
    posted = [...originals, ...resends, ...duplicates, ...bad];
    for (let i = posted.length - 1; i > 0; i -= 1) {
      const k = Math.floor(rng() * (i + 1));
      [posted[i], posted[k]] = [posted[k] as Delivery, posted[i] as Delivery];
    }
    truth = groundTruth(posted);

    server = await startServe(parseServeConfig({ port: 0, host: "127.0.0.1", duckdbPath: join(dir, "live.duckdb") }, { GITHUB_WEBHOOK_SECRET: SECRET }), { log: silentLogger, timers: false });
    statuses = await pool(posted, 64, (d) => post(server.url, d));
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    samples = parseExposition(await res.text());
  }, 300_000);

  afterAll(async () => {
    await server?.close();
    await sim?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("posted about 2,000 deliveries: 5% duplicates, 1% bad signatures, mixed events", () => {
    expect(posted.length).toBe(ORIGINALS + RESENDS + DUPLICATES + BAD);
    expect(posted.length).toBe(2000);
    expect(posted.filter((d) => d.event === "workflow_run").length).toBeGreaterThan(200);
    expect(posted.filter((d) => d.event === "workflow_job").length).toBeGreaterThan(200);
    posted.forEach((d, i) => expect(d.good ? [200, 202] : [401], d.guid).toContain(statuses[i]));
    expect(statuses.filter((s) => s === 401).length).toBe(BAD);
    expect(statuses.filter((s) => s === 200).length).toBe(DUPLICATES);
    expect(statuses.filter((s) => s === 202).length).toBe(ORIGINALS + RESENDS);
  });

  it("counts webhook deliveries per event and outcome", () => {
    expect(sumBy(samples, `${PREFIX}webhook_deliveries_total`, ["event", "outcome"])).toEqual(truth.deliveries);
    expect(truth.deliveries["workflow_run|duplicate"] ?? 0).toBeGreaterThan(0);
    expect(truth.deliveries["workflow_job|bad_signature"] ?? 0).toBeGreaterThan(0);
    expect(sumBy(samples, `${PREFIX}webhook_processing_errors_total`, [])).toEqual({});
  });

  it("counts run attempts and jobs per conclusion, each once however often its completion arrived", () => {
    expect(sumBy(samples, `${PREFIX}workflow_run_total`, ["conclusion"])).toEqual(truth.runsByConclusion);
    expect(sumBy(samples, `${PREFIX}job_run_total`, ["conclusion"])).toEqual(truth.jobsByConclusion);
    expect(Object.keys(truth.runsByConclusion).length).toBeGreaterThan(1);
    expect(Object.keys(truth.jobsByConclusion).length).toBeGreaterThan(1);
    // Completions delivered more than once (re-sent under a new GUID, or duplicated) are counted once.
    const completedAccepted = new Set<string>();
    let completedDeliveries = 0;
    for (const d of posted) {
      if (!d.good || objectOf(d).status !== "completed") continue;
      completedDeliveries += 1;
      completedAccepted.add(d.event === "workflow_run" ? `run:${String((d.payload.workflow_run as Json).id)}#${String((d.payload.workflow_run as Json).run_attempt)}` : `job:${String((d.payload.workflow_job as Json).id)}`);
    }
    expect(completedDeliveries).toBeGreaterThan(completedAccepted.size + RESENDS - 1);
    const counted = Object.values(sumBy(samples, `${PREFIX}workflow_run_total`, [])).concat(Object.values(sumBy(samples, `${PREFIX}job_run_total`, []))).reduce((a, b) => a + b, 0);
    expect(counted).toBe(completedAccepted.size);
  });

  it("sums queue seconds and durations in the histograms' _sum and _count", () => {
    expect(truth.jobQueueSum).toBeGreaterThan(0);
    expect(sumBy(samples, `${PREFIX}job_queue_duration_seconds_sum`, [])[""]).toBe(truth.jobQueueSum);
    expect(sumBy(samples, `${PREFIX}job_queue_duration_seconds_count`, [])[""]).toBe(truth.jobQueueCount);
    expect(sumBy(samples, `${PREFIX}job_run_duration_seconds_sum`, [])[""]).toBe(truth.jobDurationSum);
    expect(sumBy(samples, `${PREFIX}workflow_run_duration_seconds_sum`, [])[""]).toBe(truth.runDurationSum);
  });

  it("shows run attempts not completed yet as active, by status", () => {
    expect(sumBy(samples, `${PREFIX}workflow_run_active`, ["status"])).toEqual(truth.runsActive);
  });
});
