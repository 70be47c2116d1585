/**
 * The token never leaves memory: after a pipeline run with faults (so retries, warnings and errors are
 * logged) and a failed run with a rejected token, no log line, NDJSON batch, quarantine or HTTP-cache
 * file, manifest or warehouse table contains it.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateDataset, startSimulator } from "../simulator/index.js";
import { createFaultSchedule } from "../simulator/faults.js";
import { runPipeline } from "../jobs/pipeline.js";
import { openDuckDb } from "../load/duckdb-connection.js";
import { createLogger } from "../log/logger.js";

const TOKEN = "ghp_s3cretTokenThatMustNeverLeak0123456789";
const dir = mkdtempSync(join(tmpdir(), "aw-secrets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function files(root: string): string[] {
  return readdirSync(root, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(root, e.name)) : [join(root, e.name)]));
}

describe("secrets", () => {
  it("the token appears in no log, file or table", async () => {
    const dataset = generateDataset({ seed: "secrets", days: 2, runsPerRepoPerDay: 3, busyDayRuns: 0, bigRunJobs: 3, bigPackageVersions: 3 });
    const schedule = createFaultSchedule({ seed: "secrets", rate: 0.1, slowMs: 400 });
    // One run echoes the Authorization header back in a field, as a misbehaving proxy might.
    const simulator = await startSimulator({
      dataset,
      token: TOKEN,
      faults: (c) =>
        c.route.endsWith("/actions/runs")
          ? {
              kind: "mutate",
              mutate: (body) => {
                const b = body as { workflow_runs: Record<string, unknown>[] };
                for (const run of b.workflow_runs) run.echoed_authorization = String(c.headers.authorization ?? "");
                return b;
              },
            }
          : schedule.hook(c),
    });
    const lines: string[] = [];
    const log = createLogger({ json: true, level: "debug", write: (l) => lines.push(l) });
    const duckdbPath = join(dir, "w.duckdb");
    const stagingDir = join(dir, "staging");
    const extract = { orgs: [dataset.org.login], users: [dataset.user.login], since: dataset.anchor.slice(0, 10), apiUrl: simulator.url, token: TOKEN, stagingDir, now: new Date(dataset.anchor), requestTimeoutMs: 300, retryTimeScaleMs: 2 };
    try {
      await runPipeline({ extract, duckdbPath, log });
      // A rejected token: the error path logs too.
      await runPipeline({ extract: { ...extract, token: `${TOKEN}x`, refetch: true }, duckdbPath, log }).catch((e: unknown) => lines.push(String(e)));
    } finally {
      await simulator.close();
    }
    expect(lines.length).toBeGreaterThan(20);
    expect(lines.some((l) => l.includes("secondary rate limit") || l.includes("request failed"))).toBe(true);
    const leaks: string[] = [];
    for (const line of lines) if (line.includes(TOKEN)) leaks.push(`log: ${line.slice(0, 120)}`);
    for (const f of files(stagingDir)) {
      const raw = readFileSync(f);
      const text = f.endsWith(".gz") ? gunzipSync(raw).toString() : raw.toString();
      if (text.includes(TOKEN)) leaks.push(`file: ${f}`);
    }
    const w = await openDuckDb(duckdbPath);
    try {
      const tables = (await w.connection.runAndReadAll(`SELECT table_schema, table_name FROM information_schema.tables`)).getRowObjectsJS();
      expect(tables.length).toBeGreaterThan(8);
      for (const t of tables) {
        const rows = (await w.connection.runAndReadAll(`SELECT * FROM "${String(t.table_schema)}"."${String(t.table_name)}"`)).getRowObjectsJson();
        if (JSON.stringify(rows).includes(TOKEN)) leaks.push(`table: ${String(t.table_schema)}.${String(t.table_name)}`);
      }
    } finally {
      w.close();
    }
    expect(leaks).toEqual([]);
    // The echoed header did reach the raw payloads, masked.
    const masked = lines.length > 0 && files(stagingDir).some((f) => f.includes("workflow_runs") && gunzipSync(readFileSync(f)).toString().includes('"echoed_authorization":"token ***"'));
    expect(masked).toBe(true);
  }, 120_000);
});
