/** The whole Dataform DAG on DuckDB at growing sizes, and an incremental run after 1% new data. */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRawTables, openDuckDb } from "../load/duckdb-connection.js";
import { runTransform } from "../transform/run.js";
import { insertSynthetic } from "./synthetic.js";
import { fmt, timed, type Section } from "./measure.js";

const vars = { kpi_reference_time: "2026-10-01T00:00:00Z" };

export async function transform(sizes = [10_000, 100_000, 1_000_000]): Promise<Section> {
  const figures = [];
  const dir = mkdtempSync(join(tmpdir(), "aw-bench-tf-"));
  try {
    for (const jobs of sizes) {
      const path = join(dir, `t${jobs}.duckdb`);
      const runs = jobs / 10;
      const w = await openDuckDb(path);
      await createRawTables(w.connection);
      await insertSynthetic(w.connection, { runs, jobsPerRun: 10, stepsPerJob: 3, batchId: "b1", extractedAt: "2026-09-24 00:00:00+00" });
      w.close();
      const full = await timed(() => runTransform({ duckdbPath: path, vars }));
      figures.push({ name: `full build, ${fmt.n(jobs)} jobs`, value: fmt.ms(full.ms), note: `${fmt.n(runs)} runs, ${fmt.n(jobs * 3)} steps, ${full.value.actions.length} actions (compile ${fmt.ms(full.value.compileMs)})` });
      if (jobs === sizes[sizes.length - 1]) {
        // 1% new runs, extracted later: the incremental build merges only them.
        const refreshPath = join(dir, "refresh.duckdb");
        const w2 = await openDuckDb(path);
        await insertSynthetic(w2.connection, { runs: runs / 100, jobsPerRun: 10, stepsPerJob: 3, firstRun: runs + 1, batchId: "b2", extractedAt: "2026-10-02 00:00:00+00" });
        w2.close();
        copyFileSync(path, refreshPath);
        const inc = await timed(() => runTransform({ duckdbPath: path, vars }));
        const refresh = await timed(() => runTransform({ duckdbPath: refreshPath, vars, fullRefresh: true }));
        const merged = inc.value.actions.filter((a) => a.mode === "incremental").map((a) => `${a.name}: ${fmt.n(a.rowsMerged ?? 0)} rows merged`);
        figures.push({ name: `incremental after +1% (${fmt.n(jobs / 100)} jobs)`, value: fmt.ms(inc.ms), note: merged.join("; ") });
        figures.push({ name: "full refresh of the same data", value: fmt.ms(refresh.ms), note: `incremental / full refresh = ${fmt.ratio(inc.ms / refresh.ms)}` });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    title: "Transform (local runner on DuckDB)",
    method: "Synthetic raw runs, jobs (10 per run) and steps (3 per job) generated in DuckDB (`bench/synthetic.ts`), then `runTransform` builds every model (staging views, facts, reporting views, assertions) from a compiled project (the compile is cached after the first run). The incremental row adds 1% new runs extracted a day later and runs without `--full-refresh`; the full refresh rebuilds a copy of the same file.",
    figures,
  };
}
