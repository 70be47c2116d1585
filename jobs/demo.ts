/**
 * `npm run demo`: the whole pipeline with no cloud account and no token. Starts the GitHub API
 * simulator on 127.0.0.1 with seeded data ending now, runs extract → load → transform into
 * .warehouse/demo.duckdb, prints the KPI summary and the busiest workflows and writes the dashboard
 * .warehouse/demo-report.html.
 */
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { generateDataset, startSimulator } from "../simulator/index.js";
import { openDuckDb, quoteIdent } from "../load/duckdb-connection.js";
import { datasets } from "../load/datasets.js";
import type { Logger } from "../log/logger.js";
import { pipelineSummary, runPipeline } from "./pipeline.js";
import { formatTable } from "./summary.js";
import { writeReport } from "../report/build.js";

export interface DemoOptions {
  duckdbPath: string;
  seed: number;
  log: Logger;
  /** Days of history before now (default 14). */
  days?: number;
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
  const anchor = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
  const days = options.days ?? 14;
  const dataset = generateDataset({ seed: options.seed, anchor: anchor.toISOString(), days });
  const simulator = await startSimulator({ dataset });
  const stagingDir = join(dirname(options.duckdbPath), "demo-staging");
  // The demo always starts from scratch so it shows one consistent seeded history.
  rmSync(stagingDir, { recursive: true, force: true });
  rmSync(options.duckdbPath, { force: true });
  rmSync(`${options.duckdbPath}.wal`, { force: true });
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
  const report = await writeReport({ duckdbPath: options.duckdbPath, out: join(dirname(options.duckdbPath), "demo-report.html"), title: "actions-warehouse demo" });
  console.log(`Dashboard: ${report.path}  (self-contained HTML, open it in a browser; offline)`);
}
