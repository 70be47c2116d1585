/**
 * `npm run demo`: the whole pipeline with no cloud account and no token. Starts the GitHub API
 * simulator on 127.0.0.1 with seeded data ending now, runs extract → load → transform into
 * .warehouse/demo.duckdb, prints the KPI summary and the busiest workflows and writes the dashboard
 * .warehouse/demo-report.html.
 *
 * The demo starts from an empty warehouse each time, so it deletes what an earlier demo left — and only
 * that. Its paths are the DuckDB file (and its .wal), `STEM-staging/` and `STEM-report.html` beside it
 * (STEM: the file's name without .duckdb). What it creates is marked: a table `main._created_by_demo` in
 * the warehouse, a file `.created-by-demo` in the staging folder. A file or folder there without the mark
 * (a real warehouse, someone's staging) is never deleted: the demo refuses, unless `--force`. The
 * warehouse's lock (load/warehouse-lock.ts) is held from before the check to the end.
 *
 * `demo --live` (`runLiveDemo`): the realtime path instead of the poll. Same paths and marks, plus the
 * server's spool folder `STEM.spool/` beside the file (marked with the same `.created-by-demo` file, refused
 * when unmarked). It starts `serve` in-process on 127.0.0.1 and a free port with the demo's warehouse and
 * staging folder and a random webhook secret, starts the simulator (dataset ending now, with hooks) and has
 * it push the last `liveHours` of its runs' lifecycle to `/webhook` as signed deliveries
 * (`Simulator.pushLifecycle`), prints the wall's, the metrics' and the health URLs, and runs until
 * SIGINT/SIGTERM: then `serve` stops accepting, loads its spool and releases the warehouse.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { generateDataset, startSimulator, type DatasetOptions } from "../simulator/index.js";
import { openDuckDb, quoteIdent } from "../load/duckdb-connection.js";
import { datasets } from "../load/datasets.js";
import { acquireWarehouseLock } from "../load/warehouse-lock.js";
import type { Logger } from "../log/logger.js";
import { pipelineSummary, runPipeline } from "./pipeline.js";
import { formatTable } from "./summary.js";
import { writeReport } from "../report/build.js";

/** The table that marks a warehouse as the demo's (in DuckDB's default schema, away from the models). */
export const DEMO_MARKER_TABLE = "_created_by_demo";
/** The file that marks a staging folder as the demo's. */
export const DEMO_MARKER_FILE = ".created-by-demo";

/** The demo would delete something it did not create; `--force` allows it. */
export class DemoRefusedError extends Error {
  override readonly name = "DemoRefusedError";
}

/** Every path the demo writes, derived from its DuckDB file. */
export function demoPaths(duckdbPath: string): { duckdbPath: string; wal: string; stagingDir: string; report: string } {
  const stem = basename(duckdbPath).replace(/\.duckdb$/i, "");
  return {
    duckdbPath,
    wal: `${duckdbPath}.wal`,
    stagingDir: join(dirname(duckdbPath), `${stem}-staging`),
    report: join(dirname(duckdbPath), `${stem}-report.html`),
  };
}

/** Whether a DuckDB file carries the demo's mark; a file DuckDB cannot open says why. */
async function demoMark(path: string): Promise<{ demo: boolean; why?: string }> {
  let instance: DuckDBInstance | undefined;
  try {
    instance = await DuckDBInstance.create(path, { access_mode: "READ_ONLY" });
    const connection = await instance.connect();
    try {
      const reader = await connection.runAndReadAll(
        `SELECT COUNT(*) AS n FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = '${DEMO_MARKER_TABLE}'`,
      );
      return { demo: Number(reader.getRowObjects()[0]?.n ?? 0) > 0 };
    } finally {
      connection.closeSync();
    }
  } catch (error) {
    return { demo: false, why: (error as Error).message.split("\n")[0] };
  } finally {
    instance?.closeSync();
  }
}

/**
 * Clears what an earlier demo left at these paths; refuses (DemoRefusedError) when a path holds
 * something the demo did not create, unless `force`. Nothing is deleted before every path is checked.
 */
export async function clearDemoPaths(paths: ReturnType<typeof demoPaths>, force: boolean): Promise<void> {
  if (!force) {
    if (existsSync(paths.duckdbPath)) {
      const mark = await demoMark(paths.duckdbPath);
      if (!mark.demo) {
        throw new DemoRefusedError(
          `demo: ${paths.duckdbPath} already exists and was not created by the demo${mark.why ? ` (it does not open as a DuckDB file: ${mark.why})` : " (it may be a real warehouse)"}. The demo starts from an empty warehouse and would delete it: pass another --duckdb-path, or add --force to overwrite ${paths.duckdbPath}.`,
        );
      }
    } else if (existsSync(paths.wal)) {
      throw new DemoRefusedError(
        `demo: ${paths.wal} exists without its warehouse ${paths.duckdbPath}, and the demo did not create it. Pass another --duckdb-path, or add --force to delete ${paths.wal}.`,
      );
    }
    if (existsSync(paths.stagingDir) && !existsSync(join(paths.stagingDir, DEMO_MARKER_FILE))) {
      throw new DemoRefusedError(
        `demo: the folder ${paths.stagingDir} already exists and was not created by the demo. The demo stages its batches there and would delete it: pass another --duckdb-path, or add --force to delete ${paths.stagingDir}.`,
      );
    }
  }
  rmSync(paths.stagingDir, { recursive: true, force: true });
  rmSync(paths.duckdbPath, { force: true });
  rmSync(paths.wal, { force: true });
}

/** Creates the demo's warehouse and staging folder, each carrying the demo's mark. */
async function markDemoPaths(paths: ReturnType<typeof demoPaths>, seed: number): Promise<void> {
  const warehouse = await openDuckDb(paths.duckdbPath);
  try {
    await warehouse.connection.run(
      `CREATE TABLE main.${quoteIdent(DEMO_MARKER_TABLE)} AS SELECT now() AS created_at, ${Number(seed)} AS seed,
         'created by actions-warehouse demo: the demo deletes and rebuilds this file on its next run' AS note`,
    );
  } finally {
    warehouse.close();
  }
  mkdirSync(paths.stagingDir, { recursive: true });
  writeFileSync(join(paths.stagingDir, DEMO_MARKER_FILE), "created by actions-warehouse demo: the demo deletes and rebuilds this folder on its next run\n");
}

/** The demo simulator's primary rate limit per hour: GitHub Enterprise Cloud's for Apps. */
const DEMO_RATE_LIMIT = 15_000;

export interface DemoOptions {
  duckdbPath: string;
  seed: number;
  log: Logger;
  /** Days of history before now (default 14). */
  days?: number;
  /** Overwrite the DuckDB file and staging folder even when the demo did not create them. */
  force?: boolean;
  /** More simulator settings (tests use a small dataset). */
  dataset?: Omit<DatasetOptions, "seed" | "anchor" | "days">;
}

function cell(value: unknown): string | number {
  if (value === null || value === undefined) return "";
  if (value instanceof Date) return value.toISOString().replace(".000Z", "Z");
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "number") return Number.isInteger(value) ? value : Number(value.toFixed(3));
  return String(value);
}

/** rpt_kpi_summary has one row per period with `<kpi>_current` / `<kpi>_previous` pairs: show them side by side. */
async function printKpis(duckdbPath: string, table: string): Promise<void> {
  const warehouse = await openDuckDb(duckdbPath);
  try {
    const rows = (await warehouse.connection.runAndReadAll(`SELECT * FROM ${table} ORDER BY period_hours`)).getRowObjectsJS();
    const lines: (string | number)[][] = [];
    for (const row of rows) {
      for (const key of Object.keys(row).filter((k) => k.endsWith("_current"))) {
        const kpi = key.slice(0, -"_current".length);
        const current = row[key] === null ? null : Number(row[key]);
        const previous = row[`${kpi}_previous`] === null ? null : Number(row[`${kpi}_previous`]);
        const change = current !== null && previous ? `${(((current - previous) / previous) * 100).toFixed(1)}%` : "";
        lines.push([String(row.period), kpi, cell(current), cell(previous), change]);
      }
    }
    console.log(`\nKPI summary (reference time ${cell(rows[0]?.reference_time)})\n${formatTable(["period", "kpi", "current", "previous", "change"], lines)}`);
  } finally {
    warehouse.close();
  }
}

async function printQuery(duckdbPath: string, title: string, sql: string): Promise<void> {
  const warehouse = await openDuckDb(duckdbPath);
  try {
    const reader = await warehouse.connection.runAndReadAll(sql);
    const names = reader.columnNames();
    const rows = reader.getRowsJS().map((r) => r.map(cell));
    console.log(`\n${title}\n${formatTable(names, rows)}`);
  } finally {
    warehouse.close();
  }
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const paths = demoPaths(options.duckdbPath);
  // Held from before the check to the end: no other run writes this warehouse while the demo replaces it.
  const lock = acquireWarehouseLock(options.duckdbPath, "demo");
  try {
    await clearDemoPaths(paths, options.force === true);
    await markDemoPaths(paths, options.seed);
    await demo(options, paths);
  } finally {
    lock.release();
  }
}

async function demo(options: DemoOptions, paths: ReturnType<typeof demoPaths>): Promise<void> {
  const anchor = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
  const days = options.days ?? 14;
  // acme/platform's workflows show the whole job graph (a reusable call, a workflow_run trigger, an invalid
  // file: simulator/workflow-files.ts). The rate limit of a GitHub App on Enterprise Cloud (15,000/h) lets
  // the first extract read every run's workflow file, which at 5,000/h would wait for later extracts.
  const dataset = generateDataset({ workflowGraph: true, ...options.dataset, seed: options.seed, anchor: anchor.toISOString(), days });
  const simulator = await startSimulator({ dataset, rateLimit: DEMO_RATE_LIMIT });
  const stagingDir = paths.stagingDir;
  options.log.info("GitHub API simulator started", { url: simulator.url, seed: options.seed });
  try {
    const since = new Date(anchor.getTime() - days * 86_400_000).toISOString().slice(0, 10);
    const result = await runPipeline({
      extract: {
        orgs: [dataset.org.login],
        users: [dataset.user.login],
        since,
        apiUrl: simulator.url,
        stagingDir,
      },
      duckdbPath: options.duckdbPath,
      vars: { kpi_reference_time: anchor.toISOString() },
      log: options.log,
      lockHeld: true,
    });
    console.log(pipelineSummary(result));
  } finally {
    await simulator.close();
  }
  const models = quoteIdent(datasets.models);
  await printKpis(options.duckdbPath, `${models}.rpt_kpi_summary`);
  await printQuery(
    options.duckdbPath,
    "Pipeline health, last 7 days, busiest workflows",
    `SELECT repository, workflow_name, SUM(runs) AS runs, SUM(successes) AS successes, SUM(failures) AS failures,
            ROUND(SUM(successes) / NULLIF(SUM(successes) + SUM(failures), 0), 3) AS pass_rate,
            MAX(p95_duration_seconds) AS worst_daily_p95_s
       FROM ${models}.rpt_pipeline_health_daily
      WHERE run_date >= CAST('${anchor.toISOString().slice(0, 10)}' AS DATE) - INTERVAL 7 DAY
      GROUP BY ALL ORDER BY runs DESC LIMIT 10`,
  );
  console.log(`\nWarehouse: ${options.duckdbPath}  (open it with the duckdb CLI or any DuckDB client; tables live in schemas ${datasets.raw}, ${datasets.staging}, ${datasets.models})`);
  const report = await writeReport({ duckdbPath: options.duckdbPath, out: paths.report, title: "actions-warehouse demo" });
  console.log(`Dashboard: ${report.path}  (self-contained HTML, open it in a browser; offline)`);
}

// ------------------------------------------------------------------ demo --live

export interface LiveDemoOptions extends DemoOptions {
  /** Hours of runs (before now) the simulator pushes as webhook deliveries (default 24). */
  liveHours?: number;
  /** Resolves when the demo should stop (default: the first SIGINT or SIGTERM). */
  stop?: Promise<unknown>;
  /** `serve --transform-seconds` of the demo's server (default 15). */
  transformSeconds?: number;
}

/** The `serve` spool folder of a DuckDB file (serve/spool.ts `spoolDirOf`, without loading the server). */
export function liveSpoolDir(duckdbPath: string): string {
  return join(dirname(duckdbPath), `${basename(duckdbPath, extname(duckdbPath))}.spool`);
}

const firstSignal = (): Promise<string> =>
  new Promise((resolve) => {
    const on = (signal: string) => () => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      resolve(signal);
    };
    const onInt = on("SIGINT");
    const onTerm = on("SIGTERM");
    process.once("SIGINT", onInt);
    process.once("SIGTERM", onTerm);
  });

export async function runLiveDemo(options: LiveDemoOptions): Promise<void> {
  const paths = demoPaths(options.duckdbPath);
  const spoolDir = liveSpoolDir(options.duckdbPath);
  const { spoolDirOf } = await import("../serve/spool.js");
  if (spoolDirOf(options.duckdbPath) !== spoolDir) throw new Error(`demo --live: the spool folder of ${options.duckdbPath} is ${spoolDirOf(options.duckdbPath)}, not ${spoolDir}`);
  const stop = options.stop ?? firstSignal();
  const lock = acquireWarehouseLock(options.duckdbPath, "demo");
  try {
    if (options.force !== true && existsSync(spoolDir) && !existsSync(join(spoolDir, DEMO_MARKER_FILE))) {
      throw new DemoRefusedError(
        `demo: the folder ${spoolDir} already exists and was not created by the demo. The live demo spools deliveries there and would delete it: pass another --duckdb-path, or add --force to delete ${spoolDir}.`,
      );
    }
    await clearDemoPaths(paths, options.force === true);
    rmSync(spoolDir, { recursive: true, force: true });
    await markDemoPaths(paths, options.seed);
    mkdirSync(spoolDir, { recursive: true });
    writeFileSync(join(spoolDir, DEMO_MARKER_FILE), "created by actions-warehouse demo --live: the demo deletes and rebuilds this folder on its next run\n");
  } finally {
    // `serve` takes the warehouse's lock itself for the rest of the demo.
    lock.release();
  }

  const { parseServeConfig } = await import("../serve/config.js");
  const { startServe } = await import("../serve/server.js");
  const secret = randomBytes(16).toString("hex");
  const config = parseServeConfig(
    { port: 0, host: "127.0.0.1", duckdbPath: options.duckdbPath, stagingDir: paths.stagingDir, transformSeconds: options.transformSeconds ?? 15 },
    { GITHUB_WEBHOOK_SECRET: secret },
  );
  const server = await startServe(config, { log: options.log });
  let simulator: Awaited<ReturnType<typeof startSimulator>> | undefined;
  try {
    const anchor = new Date(Math.floor(Date.now() / 1000) * 1000);
    const days = options.days ?? 14;
    const dataset = generateDataset({ ...options.dataset, seed: options.seed, anchor: anchor.toISOString(), days });
    simulator = await startSimulator({ dataset, hooks: {} });
    const hours = options.liveHours ?? 24;
    const since = anchor.getTime() - hours * 3_600_000;
    const runIds = dataset.runs.filter((r) => Date.parse(r.created_at) >= since).map((r) => r.id);
    const base = `${server.url}/`;
    console.log(
      [
        `Live demo: serve owns ${options.duckdbPath} (spool ${spoolDir}), the GitHub simulator pushes signed webhook deliveries to it.`,
        `Wall:    ${base}`,
        `Metrics: ${base}metrics`,
        `Health:  ${base}health`,
        `Webhook: ${base}webhook  (X-Hub-Signature-256 secret for this session: ${secret})`,
        `Pushing the lifecycle of ${runIds.length} runs of the last ${hours} h (requested/in_progress/completed, jobs queued/in_progress/completed; some out of order, some duplicated). Stop with Ctrl+C.`,
      ].join("\n"),
    );
    const sim = simulator;
    const pushed = sim
      .pushLifecycle({ url: `${base}webhook`, secret, runIds })
      .then((r) => {
        console.log(`Pushed ${r.sent} deliveries (${r.events} events, ${r.duplicates} duplicates, ${r.outOfOrder} out of order): ${r.ok} answered 2xx, ${r.failed} failed.`);
      })
      .catch((error: unknown) => options.log.warn("pushing the lifecycle failed", { error: error instanceof Error ? error.message : String(error) }));
    const signal = await stop;
    options.log.info("live demo stopping", { signal: typeof signal === "string" ? signal : "stop" });
    await server.close();
    // Deliveries still queued now meet a closed port and fail fast (recorded as failed, for `redeliver`).
    await pushed;
  } finally {
    await server.close();
    await simulator?.close();
  }
  console.log(`Stopped. Warehouse: ${options.duckdbPath}`);
}
