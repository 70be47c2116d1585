/**
 * `looker-link`: a Looker Studio Linking API URL that copies the template report and binds each of its
 * data sources to one `rpt_*` view in the user's BigQuery project.
 *
 * Format (Looker Studio Linking API): `https://lookerstudio.google.com/reporting/create?` with
 * `c.reportId` (template), `r.reportName`, and per data source alias `ds.<alias>.connector=bigQuery`,
 * `ds.<alias>.type=TABLE`, `ds.<alias>.projectId`, `ds.<alias>.datasetId`, `ds.<alias>.tableId`
 * (plus `ds.<alias>.datasourceName` and, when billing goes elsewhere, `ds.<alias>.billingProjectId`).
 * The aliases are the ones the template's data sources carry; docs/looker-studio.md lists them.
 * The views are read from definitions/reporting/, so a new rpt_* view gets a data source automatically.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { datasets } from "../load/datasets.js";
import { projectRoot } from "../transform/compile.js";

export const LINKING_API_URL = "https://lookerstudio.google.com/reporting/create";

export interface LookerLinkOptions {
  projectId: string;
  /** Dataset holding the rpt_* views (dataform.json defaultSchema). */
  datasetId?: string;
  /** The template report to copy; without it Looker Studio starts from a blank report. */
  reportId?: string;
  reportName?: string;
  /** Project billed for the report's queries, when not the data project. */
  billingProjectId?: string;
}

/** `rpt_pipeline_health_daily` → `pipelineHealthDaily`: letters and digits only, as aliases must be. */
export function aliasOf(view: string): string {
  return view.replace(/^rpt_/, "").replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function reportingViews(dir = join(projectRoot, "definitions", "reporting")): string[] {
  return readdirSync(dir)
    .filter((f) => /^rpt_[a-z0-9_]+\.sqlx$/.test(f))
    .map((f) => f.replace(/\.sqlx$/, ""))
    .sort();
}

const REPORT_ID = /^[A-Za-z0-9-]{8,64}$/;

export function lookerLink(options: LookerLinkOptions, views = reportingViews()): string {
  if (options.reportId !== undefined && !REPORT_ID.test(options.reportId)) {
    throw new Error(`--report-id: "${options.reportId}" is not a Looker Studio report id (the part after /reporting/ in the template's URL)`);
  }
  const params = new URLSearchParams();
  if (options.reportId) params.set("c.reportId", options.reportId);
  params.set("r.reportName", options.reportName ?? "GitHub Actions warehouse");
  for (const view of views) {
    const ds = `ds.${aliasOf(view)}`;
    params.set(`${ds}.connector`, "bigQuery");
    params.set(`${ds}.type`, "TABLE");
    params.set(`${ds}.projectId`, options.projectId);
    params.set(`${ds}.datasetId`, options.datasetId ?? datasets.models);
    params.set(`${ds}.tableId`, view);
    params.set(`${ds}.datasourceName`, view);
    if (options.billingProjectId) params.set(`${ds}.billingProjectId`, options.billingProjectId);
  }
  // URLSearchParams writes spaces as "+"; %20 reads the same everywhere (a literal "+" is already %2B).
  return `${LINKING_API_URL}?${params.toString().replaceAll("+", "%20")}`;
}
