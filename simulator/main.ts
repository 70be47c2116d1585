/**
 * Standalone simulator: `npx tsx simulator/main.ts --port 3000 --seed 42 [--anchor ISO] [--days 14] [--latency-ms 0] [--token T]`.
 * As a GitHub App: `--app-id 123 --app-public-key app.pub.pem [--app-installations 1:acme,2:octo-dev] [--token-ttl-ms 3600000]`
 * (default installations: one on the organisation and one on the user of the dataset).
 */
import { readFileSync } from "node:fs";
import { DEFAULT_ANCHOR, generateDataset, landmarks } from "./dataset.js";
import { startSimulator, type SimulatorApp } from "./server.js";

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
const appId = num("app-id");
let app: SimulatorApp | undefined;
if (appId !== undefined) {
  const keyFile = arg("app-public-key");
  if (!keyFile) throw new Error("--app-id needs --app-public-key FILE (the PEM public key of the App's private key)");
  const installations = (arg("app-installations") ?? `1:${dataset.org.login},2:${dataset.user.login}`).split(",").map((pair) => {
    const [id = "", account = ""] = pair.split(":");
    if (!/^\d+$/.test(id) || !account) throw new Error(`--app-installations must be ID:ACCOUNT[,ID:ACCOUNT...], got ${pair}`);
    return { id: Number(id), account };
  });
  app = { id: appId, publicKeyPem: readFileSync(keyFile, "utf8"), installations, tokenTtlMs: num("token-ttl-ms") };
}
const sim = await startSimulator({ dataset, port: num("port") ?? 3000, latencyMs: num("latency-ms"), token: arg("token"), rateLimit: num("rate-limit"), app });
console.log(`GitHub API simulator listening on ${sim.url}`);
if (app) console.log(`GitHub App ${app.id}: installations ${app.installations.map((i) => `${i.id} on ${i.account}`).join(", ")}; tokens live ${app.tokenTtlMs ?? 3600_000} ms`);
console.log(`seed=${dataset.seed} anchor=${dataset.anchor} repos=${dataset.repos.length} runs=${dataset.runs.length} packages=${dataset.packages.length}`);
console.log(`landmarks ${JSON.stringify(landmarks(dataset))}`);
console.log(`try: curl -s '${sim.url}/repos/acme/api/actions/runs?per_page=2'`);
const stop = (): void => {
  void sim.close().then(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
