/** `actions-warehouse report`: the HTML dashboard of a warehouse, with a short summary of what it holds. */
import { join } from "node:path";
import type { Logger } from "../log/logger.js";
import type { BigQueryReportTarget } from "../report/bigquery-source.js";
import { writeReport, type WriteReportResult } from "../report/build.js";
import { defaults } from "./options.js";
import { formatTable, seconds } from "./summary.js";

export const defaultReportPath = join(defaults.warehouseDir, "report.html");

export interface ReportOptions {
  duckdbPath: string;
  /** Read the rpt_* views from BigQuery instead of the DuckDB file. */
  bigquery?: BigQueryReportTarget;
  out: string;
  since?: string;
  title?: string;
  log: Logger;
}

export async function runReport(options: ReportOptions): Promise<WriteReportResult & { durationMs: number }> {
  const started = Date.now();
  const result = await writeReport({
    ...(options.bigquery ? { bigquery: options.bigquery } : { duckdbPath: options.duckdbPath }),
    out: options.out,
    log: options.log,
    ...(options.since ? { since: options.since } : {}),
    ...(options.title ? { title: options.title } : {}),
  });
  const durationMs = Date.now() - started;
  options.log.info("report written", { path: result.path, bytes: result.bytes, duration_ms: durationMs });
  return { ...result, durationMs };
}

export function reportSummary(result: WriteReportResult & { durationMs: number }): string {
  const d = result.data;
  const rows: [string, number][] = [
    ["rpt_kpi_summary", d.kpis.length],
    ["rpt_pipeline_health_daily", d.health.length],
    ["rpt_failures_by_branch (with failures)", d.branchFailures.length],
    ["rpt_runner_queue_latency", d.runners.length],
    ["rpt_running_now", d.runningTotal],
    ["rpt_cost_monthly", d.cost.length],
    ["rpt_package_publish_frequency", d.packages.length],
    ["rpt_workflow_topology_nodes", d.nodes.length],
    ["rpt_workflow_topology_edges", d.edges.length],
  ];
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return [
    formatTable(["view", "rows"], rows),
    "",
    `reference time  ${d.referenceTime ?? "none (empty warehouse)"}`,
    ...(result.scan ? [`scanned         ${mib(result.scan.totalBytes)} (BigQuery dry-run estimate, ${result.scan.totalBytes} bytes)`] : []),
    `size            ${(result.bytes / 1024).toFixed(0)} KiB, self-contained (opens offline)`,
    `time            ${seconds(result.durationMs)}`,
    `report          ${result.path}`,
  ].join("\n");
}
