/**
 * The BigQuery side of the command line: `--warehouse bigquery` flags for load, transform and pipeline,
 * and the `bootstrap` and `looker-link` commands. Kept apart from cli.ts so the DuckDB path reads as before.
 */
import type { Command } from "commander";
import type { Logger } from "../log/logger.js";
import type { ExtractConfigInput } from "../extract/config.js";
import { bigQuerySettings, checkStaging, createBigQuery, createGcsStaging, type BigQuerySettingsInput } from "../load/bigquery-client.js";
import { bootstrapBigQuery } from "../load/bigquery-bootstrap.js";
import { loadIntoBigQuery } from "../load/bigquery-load.js";
import { runDataformOnBigQuery } from "../transform/dataform-bigquery.js";
import { appendStepSummary, bigQueryPipelineMarkdown, bigQueryPipelineSummary, runBigQueryPipeline } from "./bigquery-pipeline.js";
import { lookerLink } from "./looker-link.js";
import { formatTable } from "./summary.js";
import { packagesSkippedLine } from "../extract/run.js";
import { defaultStagingDir, type Target } from "../load/targets.js";

export interface BigQueryFlags {
  project?: string;
  location?: string;
  bucket?: string;
  prefix?: string;
}

export interface TransformFlags {
  tags: string[];
  fullRefresh?: boolean;
  var: Record<string, string>;
}

const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;

const settingsInput = (flags: BigQueryFlags): BigQuerySettingsInput => ({
  ...(flags.project ? { project: flags.project } : {}),
  ...(flags.location ? { location: flags.location } : {}),
  ...(flags.bucket ? { bucket: flags.bucket } : {}),
  ...(flags.prefix !== undefined ? { prefix: flags.prefix } : {}),
});

/** Flags for `--warehouse bigquery`; each falls back to an environment variable. */
export function bigQueryOptions(cmd: Command, with_: { bucket: boolean } = { bucket: true }): Command {
  cmd
    .option("--project <id>", "BigQuery project (env GOOGLE_CLOUD_PROJECT; default: dataform.json defaultDatabase)")
    .option("--location <location>", "BigQuery location of the datasets, e.g. US, EU (env BIGQUERY_LOCATION; default US)");
  if (with_.bucket) {
    cmd
      .option("--bucket <name>", "Cloud Storage bucket for staging, --warehouse bigquery only (env GCS_BUCKET)")
      .option("--prefix <path>", "folder inside the bucket (env GCS_PREFIX; default: the bucket root)");
  }
  return cmd;
}

/** The BigQuery warehouse of these flags (project from --project, GOOGLE_CLOUD_PROJECT or dataform.json). */
export function bigQueryTarget(flags: BigQueryFlags): Target {
  return { kind: "bigquery", project: bigQuerySettings(settingsInput(flags), process.env, { bucket: false }).projectId };
}

export async function bigQueryLoadCommand(flags: BigQueryFlags & { stagingDir?: string }, log: Logger): Promise<void> {
  const settings = bigQuerySettings(settingsInput(flags));
  const target: Target = { kind: "bigquery", project: settings.projectId };
  const staging = createGcsStaging(settings);
  const bigquery = createBigQuery(settings);
  await checkStaging(settings, bigquery);
  const published = await staging.publish(flags.stagingDir ?? defaultStagingDir(target), log, target);
  const result = await loadIntoBigQuery({ bigquery, staging, location: settings.location, log });
  console.log(formatTable(["raw table", "rows loaded"], Object.entries(result.rows).sort()));
  console.log(`\n${published.uploaded} objects staged, ${result.manifests.length} extracts loaded with ${result.jobs.length} load jobs (${result.reused} already submitted), ${result.quarantined} quarantined records`);
}

export async function bigQueryTransformCommand(flags: BigQueryFlags & TransformFlags, log: Logger): Promise<void> {
  const settings = bigQuerySettings(settingsInput(flags), process.env, { bucket: false });
  await runDataformOnBigQuery({ projectId: settings.projectId, location: settings.location, tags: flags.tags, fullRefresh: flags.fullRefresh === true, vars: flags.var }, log);
}

export async function bigQueryPipelineCommand(extract: ExtractConfigInput, flags: BigQueryFlags & TransformFlags & { transform: boolean }, log: Logger): Promise<void> {
  const settings = bigQuerySettings(settingsInput(flags));
  const result = await runBigQueryPipeline({
    extract,
    settings,
    transform: flags.transform ? { tags: flags.tags, fullRefresh: flags.fullRefresh === true, vars: flags.var } : false,
    log,
  });
  console.log(bigQueryPipelineSummary(result));
  const skipped = packagesSkippedLine(result.extract);
  if (skipped) console.log(skipped);
  appendStepSummary(bigQueryPipelineMarkdown(result));
}

export function registerBigQueryCommands(program: Command, log: Logger): void {
  bigQueryOptions(program.command("bootstrap").description("create the BigQuery datasets and raw tables (partitioned, clustered) from the schemas; safe to run again"), { bucket: false })
    .addHelpText("after", examples(["actions-warehouse bootstrap --project acme-data --location EU"]))
    .action(async (flags: BigQueryFlags) => {
      const settings = bigQuerySettings(settingsInput(flags), process.env, { bucket: false });
      const result = await bootstrapBigQuery({ bigquery: createBigQuery(settings), location: settings.location, log });
      console.log(`datasets created: ${result.datasetsCreated.join(", ") || "none"}`);
      console.log(`tables created:   ${result.tablesCreated.join(", ") || "none"}`);
      console.log(`columns added:    ${result.columnsAdded.join(", ") || "none"}`);
    });

  bigQueryOptions(program.command("looker-link").description("print a Looker Studio Linking API URL that copies the template report onto your rpt_* views"), { bucket: false })
    .option("--report-id <id>", "template report id (env LOOKER_TEMPLATE_REPORT_ID); default: a blank report")
    .option("--report-name <name>", "name of the new report", "GitHub Actions warehouse")
    .option("--billing-project <id>", "project billed for the report's queries (default: --project)")
    .addHelpText("after", examples(["actions-warehouse looker-link --project acme-data --report-id 1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"]))
    .action((flags: BigQueryFlags & { reportId?: string; reportName: string; billingProject?: string }) => {
      const settings = bigQuerySettings(settingsInput(flags), process.env, { bucket: false });
      const reportId = flags.reportId ?? (process.env.LOOKER_TEMPLATE_REPORT_ID?.trim() || undefined);
      console.log(
        lookerLink({
          projectId: settings.projectId,
          reportName: flags.reportName,
          ...(reportId ? { reportId } : {}),
          ...(flags.billingProject ? { billingProjectId: flags.billingProject } : {}),
        }),
      );
    });
}
