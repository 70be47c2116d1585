/**
 * Runs one extract in its own process and prints its peak RSS, so the memory benchmark measures the
 * extractor alone (the simulator runs in another process).
 * Usage: tsx bench/extract-child.ts <apiUrl> <stagingDir> <org> <user> <since> <until>
 */
import { runExtract } from "../extract/run.js";
import { silentLogger } from "../log/logger.js";

const [apiUrl, stagingDir, org, user, since, until] = process.argv.slice(2) as [string, string, string, string, string, string];
const started = performance.now();
const result = await runExtract({ orgs: [org], users: [user], since, until, apiUrl, stagingDir, concurrency: 16 }, { log: silentLogger });
console.log(
  JSON.stringify({
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    ms: performance.now() - started,
    requests: result.manifest.api.requests,
    counts: result.manifest.counts,
  }),
);
