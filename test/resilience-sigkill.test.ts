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

/**
 * Runs a tick in a child process and SIGKILLs it `killAfterMs` after the tick began (the child says
 * "start" once its modules are loaded, so start-up time on a slow machine does not eat the window);
 * resolves with how it ended.
 */
function killedTick(config: object, duckdbPath: string, killAfterMs: number): Promise<"killed" | "finished" | "failed"> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ["--import", "tsx", child, JSON.stringify(config), duckdbPath], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let timer: NodeJS.Timeout | undefined;
    proc.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (!timer && out.includes("start")) timer = setTimeout(() => proc.kill("SIGKILL"), killAfterMs);
    });
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
    // How long a tick takes on this machine, measured on each resume (the first is a guess).
    let tickMs = 2000;
    try {
      let first = true;
      for (let k = 0; k < KILLS; k++) {
        if (!first) {
          const run = world.dataset.runs[Math.floor(rng() * world.dataset.runs.length)];
          if (run && latestAttempt(run).status === "completed") world.simulator.rerun(run.id);
          world.schedule.onNewRun?.();
        }
        // Kill somewhere in its extract or load: at a random share of how long the last tick took here
        // (a fresh process is slower than the warm in-process tick, so the share falls inside its run).
        const outcome = await killedTick({ ...world.config(first), now: world.config(first).now }, world.duckdbPath, Math.floor((0.05 + rng() * 0.9) * tickMs));
        outcomes.push(outcome);
        const arrive = world.schedule.onNewRun;
        world.schedule.onNewRun = undefined;
        let done = false;
        for (let attempt = 0; attempt < 5 && !done; attempt++) {
          const started = performance.now();
          const next = await tick(world, first);
          done = !next.failed && next.crashed === null;
          if (done) tickMs = Math.max(300, performance.now() - started);
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
