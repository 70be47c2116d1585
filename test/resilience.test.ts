/**
 * Exactly-once under faults and crashes: a seeded randomized suite.
 *
 * Each chain is one small seeded world (simulator with a seeded fault schedule, staging folder, DuckDB
 * warehouse) that lives through many cron ticks. Each trial mutates the world (re-runs, new runs; more
 * runs arrive while the extractor pages), then runs a tick that crashes at a random point of the
 * extract or the load (in-process: the crash injector throws at the chosen request, record or file
 * step, leaving `.partial` and orphan files exactly as a dead process would), then ticks again until one
 * succeeds, and compares the warehouse with the ground truth computed from the simulator's dataset:
 * 0 lost, 0 extra, 0 stale, 0 duplicated. The facts are rebuilt (incremental transform) and compared at
 * every FACTS_EVERY-th trial and at the end of each chain; the other trials compare the staging views, the
 * facts' exact inputs, because a transform costs seconds and 200 of them would not fit the CI budget.
 * Real SIGKILLs of a child process are in resilience-sigkill.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import seedrandom from "seedrandom";
import { afterAll, describe, expect, it } from "vitest";
import { latestAttempt } from "../simulator/index.js";
import { runTransform } from "../transform/run.js";
import { compare, groundTruth, observe, startWorld, tick, type World } from "./resilience-harness.js";

const CHAINS = Number(process.env.RESILIENCE_CHAINS ?? 8);
const TRIALS_PER_CHAIN = Number(process.env.RESILIENCE_TRIALS ?? 25);
const FACTS_EVERY = 12;
const PARALLEL = 4;
const dirs: string[] = [];
afterAll(() => {
  if (process.env.RESILIENCE_KEEP) return;
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const summary = { trials: 0, crashesInExtract: 0, crashesInLoad: 0, failedTicks: 0, ticks: 0, factChecks: 0, failures: [] as string[], faults: {} as Record<string, number>, clientFaults: {} as Record<string, number> };

function mutate(world: World, rng: () => number): void {
  const { dataset, simulator } = world;
  const reruns = Math.floor(rng() * 3);
  for (let i = 0; i < reruns; i++) {
    const run = dataset.runs[Math.floor(rng() * dataset.runs.length)];
    if (!run || latestAttempt(run).status !== "completed") continue;
    try {
      simulator.rerun(run.id, { failedOnly: rng() < 0.5 });
    } catch {
      // no job ids left for another attempt of this run
    }
  }
  if (rng() < 0.5) world.schedule.onNewRun?.();
}

async function buildFacts(world: World): Promise<void> {
  await runTransform({ duckdbPath: world.duckdbPath, tags: ["runs", "jobs", "steps", "packages"], includeDependencies: true });
}

async function chain(c: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `aw-resilience-${c}-`));
  dirs.push(dir);
  const rng = seedrandom.alea(`resilience|${c}`);
  const world = await startWorld(`chain-${c}`, dir, 0.06);
  try {
    // A clean first tick sizes the crash points of a full extract.
    let first = true;
    let lastPoints = 200;
    for (let trial = 0; trial < TRIALS_PER_CHAIN; trial++) {
      summary.trials += 1;
      if (!first) mutate(world, rng);
      const stage = rng() < 0.75 ? "extract" : "load";
      const at = Math.floor(rng() * (stage === "extract" ? lastPoints : 8));
      const crashed = await tick(world, first, { stage, at });
      summary.ticks += 1;
      if (crashed.crashed === "extract") summary.crashesInExtract += 1;
      if (crashed.crashed === "load") summary.crashesInLoad += 1;
      if (crashed.failed) {
        summary.failedTicks += 1;
        summary.failures.push(crashed.error instanceof Error ? crashed.error.message.slice(0, 160) : String(crashed.error));
      }
      if (!crashed.failed && crashed.crashed === null) first = false;
      // Resume: tick until one succeeds. Arrivals are off from here on (they happened during the crashed
      // tick's paging and before it), so every run that exists when the resuming tick starts must be in
      // the warehouse when it ends.
      const arrive = world.schedule.onNewRun;
      world.schedule.onNewRun = undefined;
      let done = false;
      for (let attempt = 0; attempt < 6 && !done; attempt++) {
        const next = await tick(world, first);
        summary.ticks += 1;
        if (next.extract) for (const [k, v] of Object.entries(next.extract.manifest.api.faults ?? {})) summary.clientFaults[k] = (summary.clientFaults[k] ?? 0) + v;
        if (next.failed) {
          summary.failedTicks += 1;
          summary.failures.push(next.error instanceof Error ? next.error.message.slice(0, 160) : String(next.error));
          continue;
        }
        first = false;
        done = true;
        lastPoints = Math.max(20, next.crashPoints);
      }
      world.schedule.onNewRun = arrive;
      expect(done, `chain ${c} trial ${trial}: no successful tick in 6`).toBe(true);
      const truth = groundTruth(world.dataset);
      const facts = trial === 0 || trial % FACTS_EVERY === 0 || trial === TRIALS_PER_CHAIN - 1;
      if (facts) {
        await buildFacts(world);
        summary.factChecks += 1;
      }
      const seen = await observe(world.duckdbPath, facts ? "facts" : "staging");
      const diff = compare(truth, seen);
      if (Object.values(diff).some((v) => v !== 0))
        console.log(`chain ${c} trial ${trial}: lost attempts ${JSON.stringify([...truth.attempts].filter(([k]) => !seen.attempts.has(k)))} stale ${JSON.stringify([...truth.attempts].filter(([k, v]) => seen.attempts.has(k) && seen.attempts.get(k) !== v).map(([k, v]) => [k, v, seen.attempts.get(k)]))} in ${world.dir}`);
      expect(diff, `chain ${c} trial ${trial} (${facts ? "facts" : "staging"}, crash in ${stage} at ${at})`).toEqual(Object.fromEntries(Object.keys(diff).map((k) => [k, 0])));
    }
  } finally {
    for (const [k, v] of Object.entries(world.schedule.seen)) summary.faults[k] = (summary.faults[k] ?? 0) + v;
    await world.close();
  }
}

describe("exactly once under faults and crashes (seeded, randomized)", () => {
  it(`${CHAINS * TRIALS_PER_CHAIN} trials end with the warehouse equal to the ground truth`, async () => {
    // Several chains at a time: a tick mostly waits (HTTP round trips, DuckDB's own threads).
    const only = process.env.RESILIENCE_ONLY;
    if (only !== undefined) {
      await chain(Number(only));
      return;
    }
    for (let c = 0; c < CHAINS; c += PARALLEL) await Promise.all(Array.from({ length: Math.min(PARALLEL, CHAINS - c) }, (_, i) => chain(c + i)));
    console.log(`resilience: ${JSON.stringify(summary)}`);
    expect(summary.trials).toBeGreaterThanOrEqual(200);
    expect(summary.crashesInExtract + summary.crashesInLoad).toBeGreaterThan(100);
    for (const kind of ["500", "502", "503", "secondary-403", "429", "primary-exhausted", "connection-reset", "truncated-json", "slow", "new-run"]) {
      expect(summary.faults[kind] ?? 0, kind).toBeGreaterThan(0);
    }
  }, 600_000);
});
