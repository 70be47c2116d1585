/** A small warehouse built by the real pipeline from a seeded simulator, for the report tests. */
import { join } from "node:path";
import { generateDataset, startSimulator, type Dataset } from "../simulator/index.js";
import { runPipeline } from "../jobs/pipeline.js";
import { silentLogger } from "../log/logger.js";

export const REPORT_ANCHOR = "2026-10-15T12:00:00Z";

export async function buildReportWarehouse(dir: string): Promise<{ dataset: Dataset; duckdbPath: string }> {
  const dataset = generateDataset({ seed: 5, anchor: REPORT_ANCHOR, days: 16, runsPerRepoPerDay: 6, busyDayRuns: 0, bigRunJobs: 20, bigPackageVersions: 12 });
  const simulator = await startSimulator({ dataset });
  const duckdbPath = join(dir, "warehouse.duckdb");
  try {
    await runPipeline({
      extract: { orgs: [dataset.org.login], users: [dataset.user.login], since: "2026-09-29", apiUrl: simulator.url, stagingDir: join(dir, "staging"), concurrency: 8 },
      duckdbPath,
      vars: { kpi_reference_time: REPORT_ANCHOR },
      log: silentLogger,
    });
  } finally {
    await simulator.close();
  }
  return { dataset, duckdbPath };
}
