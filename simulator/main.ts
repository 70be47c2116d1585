/**
 * Standalone simulator: `npx tsx simulator/main.ts --port 3000 --seed 42 [--anchor ISO] [--days 14] [--latency-ms 0] [--token T]`.
 */
import { DEFAULT_ANCHOR, generateDataset, landmarks } from "./dataset.js";
import { startSimulator } from "./server.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const num = (name: string): number | undefined => {
  const v = arg(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got ${v}`);
  return n;
};

const anchor = arg("anchor") === "now" ? new Date(Math.floor(Date.now() / 1000) * 1000).toISOString() : (arg("anchor") ?? DEFAULT_ANCHOR);
const dataset = generateDataset({ seed: arg("seed") ?? "42", anchor, days: num("days"), scale: num("scale") });
const sim = await startSimulator({ dataset, port: num("port") ?? 3000, latencyMs: num("latency-ms"), token: arg("token"), rateLimit: num("rate-limit") });
console.log(`GitHub API simulator listening on ${sim.url}`);
console.log(`seed=${dataset.seed} anchor=${dataset.anchor} repos=${dataset.repos.length} runs=${dataset.runs.length} packages=${dataset.packages.length}`);
console.log(`landmarks ${JSON.stringify(landmarks(dataset))}`);
console.log(`try: curl -s '${sim.url}/repos/acme/api/actions/runs?per_page=2'`);
const stop = (): void => {
  void sim.close().then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
