/**
 * Child process of resilience-sigkill.test.ts: one cron tick (extract → load) from a JSON config on
 * argv, so the parent can SIGKILL a real process at any instant. Prints "start" when the tick begins and
 * "done" when it finished.
 */
import { runExtract } from "../extract/run.js";
import type { ExtractConfigInput } from "../extract/config.js";
import { loadIntoDuckDb } from "../load/duckdb-load.js";
import { duckDbExtractState } from "../load/watermark-duckdb.js";
import { silentLogger } from "../log/logger.js";

const [configJson = "{}", duckdbPath = ""] = process.argv.slice(2);
const raw = JSON.parse(configJson) as ExtractConfigInput & { now?: string };
const config: ExtractConfigInput = { ...raw, ...(raw.now ? { now: new Date(raw.now) } : {}) };
// The parent starts its kill timer here, after the process has started and loaded its modules.
process.stdout.write("start\n");
await runExtract(config, { log: silentLogger, state: duckDbExtractState(duckdbPath) });
await loadIntoDuckDb({ duckdbPath, stagingDir: config.stagingDir, log: silentLogger });
process.stdout.write("done\n");
