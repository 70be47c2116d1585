/** Peak RSS of extracting growing histories: flat, because records stream to disk. */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fmt, type Section } from "./measure.js";

const root = join(import.meta.dirname, "..");
const tsx = join(root, "node_modules", ".bin", "tsx");

/** Starts the standalone simulator in a child process and resolves with its URL. */
function startSimulatorProcess(args: string[]): Promise<{ url: string; stop: () => void }> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, [join(root, "simulator", "main.ts"), "--port", "0", "--rate-limit", "1000000000", ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m?.[1]) resolve({ url: m[1], stop: () => child.kill("SIGTERM") });
    });
    child.on("exit", (code) => reject(new Error(`simulator exited with ${code}: ${out}`)));
  });
}

function runChild(args: string[]): Promise<{ maxRssBytes: number; ms: number; requests: number; counts: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, [join(root, "bench", "extract-child.ts"), ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").pop() ?? "{}")) : reject(new Error(`extract child exited ${code}`))));
  });
}

/** Default dataset: ~2,476 runs at scale 1 plus 1,235 on the busy day; scale grows the ordinary traffic. */
const scaleFor = (runs: number) => Math.max(0.05, (runs - 1235) / 2476);

export async function memory(targets = [10_000, 100_000]): Promise<Section> {
  const figures = [];
  let first = 0;
  let last = 0;
  for (const target of targets) {
    const sim = await startSimulatorProcess(["--scale", String(scaleFor(target)), "--seed", "42"]);
    const dir = mkdtempSync(join(tmpdir(), "aw-bench-mem-"));
    try {
      const r = await runChild([sim.url, dir, "acme", "octo-dev", "2026-09-30", "2026-10-15"]);
      if (first === 0) first = r.maxRssBytes;
      last = r.maxRssBytes;
      figures.push({
        name: `${fmt.n(r.counts.workflow_runs ?? 0)} run attempts, ${fmt.n(r.counts.workflow_jobs ?? 0)} jobs, ${fmt.n(r.counts.job_steps ?? 0)} steps`,
        value: `peak RSS ${fmt.mb(r.maxRssBytes)}`,
        note: `${fmt.ratio(r.maxRssBytes / first)} of the smallest; ${fmt.ms(r.ms)}, ${fmt.n(r.requests)} requests`,
      });
    } finally {
      sim.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return {
    title: "Extract memory",
    method: "Each extract runs in its own process (`bench/extract-child.ts`, concurrency 16) against the simulator in another process; peak RSS is the child's `process.resourceUsage().maxRSS`. The simulator's scale option grows the ordinary traffic (about 4 jobs and 28 steps per run).",
    figures,
    verdict: `Peak RSS grows ${fmt.ratio(last / first)} for ${fmt.ratio(targets[targets.length - 1]! / targets[0]!)} the runs: ${last / first < 1.5 ? "flat (target met)" : "not flat (target missed)"}. Records stream to gzip files; listed runs wait in memory only while the run-detail backlog is below its bound. The seeded simulator averages about 3.3 jobs per run, so 100k runs give about 370k jobs rather than 1M; the 1M-job figures are in the load and transform sections.`,
  };
}
