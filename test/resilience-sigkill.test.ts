/**
 * Real crashes: a child process running a cron tick (extract → load) is killed with SIGKILL at seeded
 * random instants, then ticks are run again until one completes. The warehouse's facts must equal the
 * ground truth: nothing lost, nothing doubled, no partial batch loaded. Faults stay on throughout.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import seedrandom from "seedrandom";
import { afterAll, describe, expect, it } from "vitest";
import { latestAttempt } from "../simulator/index.js";
import { runTransform } from "../transform/run.js";
import { compare, groundTruth, observe, startWorld, tick } from "./resilience-harness.js";

const KILLS = 8;
const child = fileURLToPath(new URL("./resilience-child.ts", import.meta.url));
const root = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "aw-sigkill-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a tick in a child process and SIGKILLs it after `killAfterMs`; resolves with how it ended. */
function killedTick(config: object, duckdbPath: string, killAfterMs: number): Promise<"killed" | "finished" | "failed"> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ["--import", "tsx", child, JSON.stringify(config), duckdbPath], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    proc.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => proc.kill("SIGKILL"), killAfterMs);
    proc.on("exit", (_code, signal) => {
      clearTimeout(timer);
      resolve(signal === "SIGKILL" ? "killed" : out.includes("done") ? "finished" : "failed");
    });
  });
}

describe("SIGKILL at random instants", () => {
  it(`${KILLS} real kills of a running tick; every resume ends with facts equal to the ground truth`, async () => {
    const rng = seedrandom.alea("sigkill");
    const world = await startWorld("sigkill", dir, 0.04);
    const outcomes: string[] = [];
    try {
      let first = true;
      for (let k = 0; k < KILLS; k++) {
        if (!first) {
          const run = world.dataset.runs[Math.floor(rng() * world.dataset.runs.length)];
          if (run && latestAttempt(run).status === "completed") world.simulator.rerun(run.id);
          world.schedule.onNewRun?.();
        }
        // The child needs about a second to start; kill somewhere in its extract or load.
        const outcome = await killedTick({ ...world.config(first), now: world.config(first).now }, world.duckdbPath, 900 + Math.floor(rng() * 2500));
        outcomes.push(outcome);
        const arrive = world.schedule.onNewRun;
        world.schedule.onNewRun = undefined;
        let done = false;
        for (let attempt = 0; attempt < 5 && !done; attempt++) {
          const next = await tick(world, first);
          done = !next.failed && next.crashed === null;
        }
        world.schedule.onNewRun = arrive;
        expect(done, `kill ${k}: no successful resume`).toBe(true);
        first = false;
      }
      // What the kills left behind: .partial files only of the last killed child are possible (each
      // later extract removes orphans), and nothing unlisted was ever loaded.
      const partials = (function walk(d: string): string[] {
        if (!existsSync(d)) return [];
        return readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith(".partial") ? [e.name] : []));
      })(world.stagingDir);
      expect(partials).toEqual([]);
      await runTransform({ duckdbPath: world.duckdbPath, tags: ["runs", "jobs", "steps", "packages"], includeDependencies: true });
      const diff = compare(groundTruth(world.dataset), await observe(world.duckdbPath, "facts"));
      expect(diff).toEqual(Object.fromEntries(Object.keys(diff).map((k) => [k, 0])));
      console.log(`sigkill: ${JSON.stringify({ kills: outcomes.filter((o) => o === "killed").length, outcomes, faults: world.schedule.seen })}`);
      expect(outcomes.filter((o) => o === "killed").length).toBeGreaterThanOrEqual(KILLS / 2);
    } finally {
      await world.close();
    }
  }, 300_000);
});
