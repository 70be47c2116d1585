/**
 * Loading 1M jobs into DuckDB through the loader (manifest, checksum, one transaction per file,
 * bookkeeping) as a ratio to DuckDB reading the same files directly with the same explicit schema.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDuckDb, rawTableDdl } from "../load/duckdb-connection.js";
import { loadIntoDuckDb, readJsonSql } from "../load/duckdb-load.js";
import { stagingLayout, type Manifest } from "../schemas/manifest.js";
import { silentLogger } from "../log/logger.js";
import { jobsSelect } from "./synthetic.js";
import { fmt, timed, type Section } from "./measure.js";

export async function load(jobs = 1_000_000, files = 4): Promise<Section> {
  const dir = mkdtempSync(join(tmpdir(), "aw-bench-load-"));
  try {
    const staging = join(dir, "staging");
    const extractId = "bench-load";
    const perFile = jobs / files;
    const batchFiles: Manifest["files"] = [];
    const gen = await openDuckDb(":memory:");
    try {
      for (let f = 0; f < files; f += 1) {
        const batchId = `${extractId}-workflow_jobs-${f}`;
        const path = stagingLayout.batch("workflow_jobs", "2026-10-15", batchId);
        mkdirSync(join(staging, path, ".."), { recursive: true });
        const select = jobsSelect({ runs: perFile / 10, jobsPerRun: 10, stepsPerJob: 0, firstRun: 1 + (f * perFile) / 10, batchId, extractedAt: "2026-10-15 00:00:00+00" });
        await gen.connection.run(`COPY (${select}) TO '${join(staging, path)}' (FORMAT json, COMPRESSION gzip)`);
        const bytes = readFileSync(join(staging, path));
        batchFiles.push({ table: "workflow_jobs", batch_id: batchId, path, records: perFile, bytes: statSync(join(staging, path)).size, sha256: createHash("sha256").update(bytes).digest("hex") });
      }
    } finally {
      gen.close();
    }
    const manifest: Manifest = {
      version: 1,
      extract_id: extractId,
      started_at: "2026-10-15T00:00:00.000Z",
      finished_at: "2026-10-15T00:00:00.000Z",
      api_url: "bench",
      scope: { repositories: [], organizations: [], users: [] },
      window: { since: "2026-10-01T00:00:00.000Z", until: "2026-10-15T00:00:00.000Z" },
      counts: { workflow_jobs: jobs },
      quarantined: 0,
      quarantine_path: null,
      api: { requests: 0, not_modified: 0, retries: 0, rate_limit_remaining: null },
      files: batchFiles,
    };
    mkdirSync(join(staging, stagingLayout.manifestsDir), { recursive: true });
    writeFileSync(join(staging, stagingLayout.manifest(extractId)), JSON.stringify(manifest));
    const mb = batchFiles.reduce((n, f) => n + f.bytes, 0);

    // Baseline: DuckDB reading the same files into the same table shape, no bookkeeping.
    const direct = await openDuckDb(join(dir, "direct.duckdb"));
    const baseline = await timed(async () => {
      await direct.connection.run("CREATE SCHEMA github_raw");
      await direct.connection.run(rawTableDdl("workflow_jobs"));
      for (const f of batchFiles) await direct.connection.run(`INSERT INTO github_raw.workflow_jobs BY NAME SELECT * FROM ${readJsonSql("workflow_jobs", join(staging, f.path))}`);
    });
    direct.close();
    const loader = await timed(() => loadIntoDuckDb({ duckdbPath: join(dir, "loader.duckdb"), stagingDir: staging, log: silentLogger }));
    const again = await timed(() => loadIntoDuckDb({ duckdbPath: join(dir, "loader.duckdb"), stagingDir: staging, log: silentLogger }));
    return {
      title: "Load into DuckDB",
      method: `${fmt.n(jobs)} synthetic job records in ${files} gzip NDJSON batch files (${fmt.mb(mb)}), written by DuckDB from \`bench/synthetic.ts\`. Baseline: DuckDB \`read_json\` with the same explicit schema inserting into the same table, no checks. Loader: \`loadIntoDuckDb\` (manifest, SHA-256 of each file, record-count check, one transaction per file with its \`_loads\` row).`,
      figures: [
        { name: "DuckDB reading the files directly", value: fmt.ms(baseline.ms), note: `${fmt.n(Math.round((jobs / baseline.ms) * 1000))} records/s` },
        { name: "loader", value: fmt.ms(loader.ms), note: `${fmt.ratio(loader.ms / baseline.ms)} of the baseline; ${loader.value.loaded.length} batches` },
        { name: "loading the same batches again", value: fmt.ms(again.ms), note: `${again.value.skipped} skipped, ${again.value.loaded.length} loaded` },
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
