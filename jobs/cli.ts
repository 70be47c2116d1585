/**
 * `actions-warehouse` — the command line the cron, scripts and people use.
 * The invocation of `pipeline` is a stable interface: flags are added, never renamed.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { readFileSync } from "node:fs";
import { createLogger, LogLevelError, parseLogLevel, type Level, type Logger } from "../log/logger.js";
import { ConfigError, DEFAULT_WORKFLOW_DEFINITIONS_RESERVE, type ExtractConfigInput } from "../extract/config.js";
import { workflowDefinitionsLine } from "../extract/workflow-definitions.js";
import { artifactsLine, packagesSkippedLine, runExtract } from "../extract/run.js";
import { deploymentsLine } from "../extract/deployments.js";
import { duckDbExtractState } from "../load/watermark-duckdb.js";
import { loadIntoDuckDb } from "../load/duckdb-load.js";
import { requireWarehouse, runTransform } from "../transform/run.js";
import { withWarehouseLock } from "../load/warehouse-lock.js";
import { writeBigQuerySchemas } from "../schemas/bigquery-schema.js";
import { collect, defaults, githubEnv, WAREHOUSES } from "./options.js";
import { pipelineSummary, runPipeline } from "./pipeline.js";
import { formatTable } from "./summary.js";
import { runDemo } from "./demo.js";
import { defaultReportPath, reportSummary, runReport } from "./report.js";
import { doctorReport, runDoctor } from "./doctor.js";
import { gcpChecks } from "./doctor-gcp.js";
import { bigQuerySettings } from "../load/bigquery-client.js";
import { createTransformProgress } from "./transform-progress.js";
import { bigQueryLoadCommand, bigQueryOptions, bigQueryPipelineCommand, bigQueryTarget, bigQueryTransformCommand, registerBigQueryCommands, type BigQueryFlags } from "./bigquery-commands.js";
import { defaultStagingDir, targetId, type Target } from "../load/targets.js";
import { evaluateAlertsLocked, evaluateAlertsOnBigQuery, evaluationSummary, pipelineAlertRules, registerAlertsCommands } from "../alerts/cli.js";
import { channelsFromEnv, channelVariable, type AlertCycleResult } from "../alerts/notify.js";

/** `check` or `test-models` found problems (already printed). */
class CheckFailedError extends Error {
  override name = "CheckFailedError";
}

/** Exit codes, documented in the README. */
export const EXIT = { ok: 0, failed: 1, usage: 2, config: 3, assertion: 4 } as const;

/** The package version, printed by --version. */
export const VERSION = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;

/**
 * Exit codes of bad flag values, one rule: a value the command line cannot parse (not a whole number,
 * not one of the choices, a missing value, an unknown flag) is usage, exit 2, from commander; a value
 * that parses but that the configuration refuses (out of range, not a calendar date, not OWNER/NAME,
 * credentials) is configuration, exit 3, with the field named.
 */
function integer(name: string) {
  return (value: string) => {
    // Strict: Number() would take "", "0x10" and "1e3".
    if (!/^[+-]?\d+$/.test(value.trim())) throw new InvalidArgumentError(`${name} must be a whole number, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}

function parseVars(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq < 1) throw new InvalidArgumentError("--var must be NAME=VALUE");
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

interface ScopeFlags {
  repo: string[];
  org: string[];
  user: string[];
  since?: string;
  initialSince?: string;
  until?: string;
  /** Default: the warehouse's own staging folder (load/targets.ts). */
  stagingDir?: string;
  concurrency: number;
  packages: boolean;
  deployments: boolean;
  workflowDefinitions: boolean;
  workflowDefinitionsReserve: number;
  lookbackDays: number;
  maxQuarantined: string;
  maxRecordBytes: number;
  maxRetrySeconds: number;
  refetch?: boolean;
  /** Artifact name globs, from one or more comma-separated --test-artifacts values. */
  testArtifacts: string[];
}

/** GitHub App and packages credentials: from the environment only, like GITHUB_TOKEN (checked in extract/config.ts). */
function githubAppEnv(env: NodeJS.ProcessEnv = process.env) {
  return {
    appId: env.GITHUB_APP_ID?.trim() || undefined,
    appPrivateKey: env.GITHUB_APP_PRIVATE_KEY || undefined,
    appPrivateKeyFile: env.GITHUB_APP_PRIVATE_KEY_FILE?.trim() || undefined,
    packagesToken: env.GITHUB_PACKAGES_TOKEN?.trim() || undefined,
  };
}

/** The extract's settings for one warehouse: its staging folder (default: the warehouse's own) and its target. */
function extractInput(flags: ScopeFlags, target: Target): ExtractConfigInput {
  const env = githubEnv();
  return {
    ...githubAppEnv(),
    repos: flags.repo,
    orgs: flags.org,
    users: flags.user,
    ...(flags.since ? { since: flags.since } : {}),
    ...(flags.initialSince ? { initialSince: flags.initialSince } : {}),
    ...(flags.until ? { until: flags.until } : {}),
    lookbackDays: flags.lookbackDays,
    maxQuarantined: flags.maxQuarantined,
    maxRecordBytes: flags.maxRecordBytes,
    maxRetrySeconds: flags.maxRetrySeconds,
    refetch: flags.refetch === true,
    apiUrl: env.apiUrl,
    ...(env.token ? { token: env.token } : {}),
    stagingDir: flags.stagingDir ?? defaultStagingDir(target),
    target: targetId(target),
    concurrency: flags.concurrency,
    packages: flags.packages,
    deployments: flags.deployments,
    workflowDefinitions: flags.workflowDefinitions,
    workflowDefinitionsReserve: flags.workflowDefinitionsReserve,
    testArtifacts: flags.testArtifacts,
  };
}

function scopeOptions(cmd: Command): Command {
  return cmd
    .option("--repo <owner/name>", "repository to extract (repeatable)", collect, [])
    .option("--org <org>", "every repository and the packages of an organisation (repeatable)", collect, [])
    .option("--user <user>", "every repository and the packages of a user (repeatable)", collect, [])
    .option("--since <YYYY-MM-DD>", "first day (UTC) of runs to extract, by created date (default: the warehouse's watermark minus --lookback-days; required on the first run)")
    .option("--initial-since <YYYY-MM-DD>", "first day (UTC) when the warehouse holds no extract of the scope yet; ignored afterwards (for scheduled runs)")
    .option("--lookback-days <n>", "without --since: days before the watermark to list again (runs can be re-run for 30 days)", integer("--lookback-days"), 30)
    .option("--max-quarantined <n|pct>", "fail the run when more records than this are quarantined: a count (100) or a share (1%, 0.01)", "1%")
    .option("--max-record-bytes <n>", "quarantine records larger than this many bytes", integer("--max-record-bytes"), 1024 * 1024)
    .option("--max-retry-seconds <n>", "give up on a GitHub request still failing (5xx, timeouts, dropped connections) this many seconds after its first attempt; a refused connection or unknown host gives up after 3 attempts over about 3 s", integer("--max-retry-seconds"), 60)
    .option("--refetch", "ignore the warehouse's ETags and known runs: fetch everything in the window again")
    .option("--until <YYYY-MM-DD>", "last day (UTC) of runs to extract, inclusive (default: now)")
    .option("--staging-dir <dir>", "where NDJSON batches and manifests are written (default: the warehouse's own, <duckdb file>.staging beside the DuckDB file, or .warehouse/bigquery-<project>.staging)")
    .option("--concurrency <n>", "concurrent GitHub requests", integer("--concurrency"), defaults.concurrency)
    .option("--no-packages", "skip GitHub Packages")
    .option("--no-deployments", "skip deployments, their statuses and compare commits (DORA; on by default: one list page per 100 deployments, one statuses request per deployment, at most one compare per new pair of consecutive deployed SHAs)")
    .option("--no-workflow-definitions", "skip reading the runs' workflow files (on by default, for the job graph: one contents request per new (workflow path, commit), two for a file over 1 MB; each (path, commit) read once in the warehouse's life)")
    .option("--workflow-definitions-reserve <n>", "read workflow files only while the primary rate limit left stays above this many requests; the rest wait for a later extract", integer("--workflow-definitions-reserve"), DEFAULT_WORKFLOW_DEFINITIONS_RESERVE)
    .option(
      "--test-artifacts <globs>",
      "read JUnit and coverage XML (Cobertura, JaCoCo) from the artifacts of completed runs whose name matches one of these comma-separated globs, e.g. 'junit*,test-results*,coverage*' (off by default; the token needs Actions: read, as for runs; see extract/artifacts.ts for limits and outcomes)",
      (value: string, previous: string[]) => [...previous, ...value.split(",").map((g) => g.trim())],
      [],
    );
}

function warehouseOptions(cmd: Command): Command {
  return bigQueryOptions(
    cmd
      .addOption(new Option("--warehouse <kind>", "warehouse to load and transform").choices(WAREHOUSES).default("duckdb"))
      .option("--duckdb-path <file>", "DuckDB warehouse file", defaults.duckdbPath),
  );
}

function transformOptions(cmd: Command): Command {
  return cmd
    .option("--tags <tag>", "only run models with this Dataform tag (repeatable)", collect, [])
    .option("--full-refresh", "rebuild incremental tables from scratch")
    .option("--var <name=value>", "Dataform project variable (repeatable)", parseVars, {});
}

const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;

/** Prints the pipeline's alert evaluation under its summary. */
function reportPipelineAlerts(path: string, alerts: AlertCycleResult): void {
  console.log(`\nalerts (${path})\n${evaluationSummary(alerts)}`);
  // Unavailable channels only leave messages in the outbox (a warning above, retried next run); a
  // refused one needs a person, as with `alerts evaluate`.
  if (alerts.delivery.rejected > 0) throw new Error(`pipeline: the data was loaded and transformed, but ${alerts.delivery.rejected} alert notification(s) were refused by their channel (see the warnings above): check the webhook URL; they stay in the outbox and are retried at the next run`);
}

export function buildProgram(log: Logger): Command {
  const program = new Command("actions-warehouse")
    .description("GitHub Actions and Packages history into a BigQuery or DuckDB warehouse, modelled with Dataform.")
    .version(VERSION, "-V, --version", "print the version")
    .showHelpAfterError()
    // Before any subcommand is added, so they inherit it: usage errors become exit code 2, not exit(1).
    .exitOverride()
    .addHelpText(
      "after",
      `\nEnvironment:\n  GITHUB_API_URL  REST API base URL (default https://api.github.com; GHES: https://HOST/api/v3)\n  GITHUB_TOKEN    token for the API (never logged)\n  GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_FILE\n                  authenticate as a GitHub App instead (installation tokens minted and refreshed per owner)\n  GITHUB_PACKAGES_TOKEN  classic PAT with read:packages for package history (GitHub Apps cannot read packages)\n  LOG_LEVEL       debug | info | warn | error, any case (default info)\n${examples([
        "npm run demo",
        "GITHUB_TOKEN=... actions-warehouse pipeline --org acme --since 2026-11-01 --warehouse duckdb --duckdb-path .warehouse/acme.duckdb",
      ])}`,
    );

  scopeOptions(program.command("extract").description("page through the GitHub API into gzip NDJSON batches and a manifest"))
    .addHelpText("after", examples(["actions-warehouse extract --repo acme/api --since 2026-11-01 --until 2026-11-07"]))
    .option("--duckdb-path <file>", "warehouse whose watermark, known runs and ETags make the extract incremental", defaults.duckdbPath)
    .action(async (flags: ScopeFlags & { duckdbPath: string }) => {
      const result = await withWarehouseLock(flags.duckdbPath, "extract", () => runExtract(extractInput(flags, { kind: "duckdb", path: flags.duckdbPath }), { log, state: duckDbExtractState(flags.duckdbPath) }));
      console.log(formatTable(["raw table", "records"], Object.entries(result.manifest.counts).sort()));
      console.log(`\nmanifest ${result.manifestPath}\nquarantined ${result.manifest.quarantined}, API requests ${result.manifest.api.requests}`);
      if (result.auth) console.log(`GitHub App: ${result.auth.installations} installation(s), ${result.auth.tokensMinted} token(s) minted, ${result.auth.requests} auth requests (not counted above)`);
      const skipped = packagesSkippedLine(result);
      if (skipped) console.log(skipped);
      const artifacts = artifactsLine(result);
      if (artifacts) console.log(artifacts);
      const workflowFiles = workflowDefinitionsLine(result.workflowDefinitions);
      if (workflowFiles) console.log(workflowFiles);
      const deployments = deploymentsLine(result.deployments);
      if (deployments) console.log(deployments);
    });

  warehouseOptions(program.command("load").description("load every staged batch not loaded yet (idempotent)"))
    .option("--staging-dir <dir>", "staging folder to load from (default: the warehouse's own, as for extract)")
    .addHelpText("after", examples(["actions-warehouse load --duckdb-path .warehouse/warehouse.duckdb"]))
    .action(async (flags: BigQueryFlags & { stagingDir?: string; duckdbPath: string; warehouse: string }) => {
      if (flags.warehouse === "bigquery") return bigQueryLoadCommand(flags, log);
      const result = await withWarehouseLock(flags.duckdbPath, "load", () => loadIntoDuckDb({ duckdbPath: flags.duckdbPath, stagingDir: flags.stagingDir ?? defaultStagingDir({ kind: "duckdb", path: flags.duckdbPath }), log }));
      console.log(formatTable(["raw table", "rows loaded"], Object.entries(result.rows).sort()));
      console.log(`\n${result.loaded.length} batches loaded, ${result.skipped} already loaded, ${result.quarantined} quarantined records`);
    });

  transformOptions(warehouseOptions(program.command("transform").description("build the Dataform models (staging, marts, reporting) and run assertions")))
    .addHelpText("after", examples(["actions-warehouse transform", "actions-warehouse transform --tags reporting", "actions-warehouse transform --full-refresh"]))
    .action(async (flags: BigQueryFlags & { duckdbPath: string; warehouse: string; tags: string[]; fullRefresh?: boolean; var: Record<string, string> }) => {
      if (flags.warehouse === "bigquery") return bigQueryTransformCommand(flags, log);
      requireWarehouse(flags.duckdbPath);
      const progress = createTransformProgress(log);
      const result = await withWarehouseLock(flags.duckdbPath, "transform", () => runTransform({ duckdbPath: flags.duckdbPath, tags: flags.tags.length ? flags.tags : undefined, fullRefresh: flags.fullRefresh === true, vars: flags.var, onProgress: progress.onProgress })).finally(() => progress.stop());
      console.log(formatTable(["action", "type", "status", "ms"], result.actions.map((a) => [a.name, a.type, a.status, Math.round(a.durationMs)])));
    });

  transformOptions(warehouseOptions(scopeOptions(program.command("pipeline").description("extract, load and transform in one go (what the cron runs)"))))
    .addHelpText("after", examples(["actions-warehouse pipeline --repo acme/api --repo acme/web --since 2026-11-01 --warehouse duckdb --duckdb-path .warehouse/acme.duckdb"]))
    .option("--no-transform", "stop after loading (matrix shards; one transform job runs the models once)")
    .option("--rules <file>", "alert rules evaluated after the transform, as `alerts evaluate` does (default: alerts.yml in the working directory, when there is one)")
    .option("--no-alerts", "do not evaluate alert rules after the transform")
    .action(async (flags: ScopeFlags & BigQueryFlags & { duckdbPath: string; warehouse: string; transform: boolean; tags: string[]; fullRefresh?: boolean; var: Record<string, string>; rules?: string; alerts: boolean }) => {
      // Read first: a bad alerts.yml (or channel variable) stops the run before any API call.
      const alertRules = flags.alerts && flags.transform ? pipelineAlertRules(flags.rules, log) : undefined;
      const channels = alertRules ? channelsFromEnv(process.env, { maxRetryAfterSeconds: 30 }) : undefined;
      if (alertRules && channels?.size === 0) log.info(`alerts: no notification channel is configured: alert state is recorded, nothing is sent (set ${channelVariable.slack} or ${channelVariable.webhook})`);
      if (flags.warehouse === "bigquery") {
        await bigQueryPipelineCommand(extractInput(flags, bigQueryTarget(flags)), flags, log);
        // The models were built by this run's `dataform run`; the alert state lives in github_raw.
        if (alertRules && channels) reportPipelineAlerts(alertRules.path, await evaluateAlertsOnBigQuery(flags, { rules: alertRules.rules, now: new Date(), channels, log }));
        return;
      }
      if (!flags.transform) throw new ConfigError([{ field: "--no-transform", message: "only with --warehouse bigquery (matrix shards); on DuckDB run extract and load instead" }]);
      // One lock for the whole run: the alerts are evaluated on the models this very run built, and no
      // other run can write the warehouse between the transform and the evaluation.
      const { result, alerts } = await withWarehouseLock(
        flags.duckdbPath,
        "pipeline",
        async () => {
          const result = await runPipeline({
            extract: extractInput(flags, { kind: "duckdb", path: flags.duckdbPath }),
            duckdbPath: flags.duckdbPath,
            ...(flags.tags.length ? { tags: flags.tags } : {}),
            fullRefresh: flags.fullRefresh === true,
            vars: flags.var,
            log,
            lockHeld: true,
          });
          const alerts = alertRules && channels ? await evaluateAlertsLocked({ duckdbPath: flags.duckdbPath, rules: alertRules.rules, now: new Date(), channels, log }) : undefined;
          return { result, alerts };
        },
        { onTakeover: (previous, reason) => log.warn("took over a stale warehouse lock", { warehouse: flags.duckdbPath, previous_pid: previous.pid, previous_started: previous.started, reason }) },
      );
      console.log(pipelineSummary(result));
      const skipped = packagesSkippedLine(result.extract);
      if (skipped) console.log(skipped);
      const artifacts = artifactsLine(result.extract);
      if (artifacts) console.log(artifacts);
      const workflowFiles = workflowDefinitionsLine(result.extract.workflowDefinitions);
      if (workflowFiles) console.log(workflowFiles);
      const deployments = deploymentsLine(result.extract.deployments);
      if (deployments) console.log(deployments);
      if (alerts && alertRules) reportPipelineAlerts(alertRules.path, alerts);
    });

  program
    .command("demo")
    .description("start the GitHub API simulator and run the whole pipeline into .warehouse/demo.duckdb (no account, no token)")
    .option("--duckdb-path <file>", "DuckDB file for the demo", ".warehouse/demo.duckdb")
    .option("--seed <n>", "simulator seed", integer("--seed"), 42)
    .option("--force", "overwrite the DuckDB file and its staging folder even when the demo did not create them (the demo refuses otherwise)")
    .option("--live", "realtime instead: start serve on 127.0.0.1 (free port) with the demo's warehouse, have the simulator push its last 24 h as signed webhook deliveries, print the wall's and /metrics URLs, run until Ctrl+C")
    .addHelpText("after", examples(["npm run demo", "actions-warehouse demo --seed 7 --duckdb-path /tmp/demo.duckdb", "actions-warehouse demo --live"]))
    .action(async (flags: { duckdbPath: string; seed: number; force?: boolean; live?: boolean }) => {
      if (flags.live === true) {
        const { runLiveDemo } = await import("./demo.js");
        await runLiveDemo({ duckdbPath: flags.duckdbPath, seed: flags.seed, force: flags.force === true, log });
        return;
      }
      await runDemo({ duckdbPath: flags.duckdbPath, seed: flags.seed, force: flags.force === true, log });
    });

  bigQueryOptions(
    program
      .command("report")
      .description("write a self-contained HTML dashboard of the rpt_* views (opens from a file, offline)")
      .addOption(new Option("--warehouse <kind>", "warehouse whose rpt_* views are read").choices(WAREHOUSES).default("duckdb"))
      .option("--duckdb-path <file>", "DuckDB warehouse file to read (opened read-only)", defaults.duckdbPath),
    { bucket: false },
  )
    .option("--out <file>", "HTML file to write", defaultReportPath)
    .option("--since <YYYY-MM-DD>", "only include days from this UTC day on (default: everything)")
    .option("--title <text>", "page title")
    .addHelpText(
      "after",
      examples([
        "actions-warehouse report",
        "actions-warehouse report --duckdb-path .warehouse/acme.duckdb --out acme.html --since 2026-10-01",
        "actions-warehouse report --duckdb-path .warehouse/demo.duckdb --title 'Demo org'",
        "actions-warehouse report --warehouse bigquery --project acme-data --location EU --out acme.html",
      ]),
    )
    .action(async (flags: BigQueryFlags & { warehouse: string; duckdbPath: string; out: string; since?: string; title?: string }) => {
      const bigquery =
        flags.warehouse === "bigquery"
          ? bigQuerySettings({ ...(flags.project ? { project: flags.project } : {}), ...(flags.location ? { location: flags.location } : {}) }, process.env, { bucket: false })
          : undefined;
      const result = await runReport({
        duckdbPath: flags.duckdbPath,
        ...(bigquery ? { bigquery: { projectId: bigquery.projectId, location: bigquery.location } } : {}),
        out: flags.out,
        ...(flags.since ? { since: flags.since } : {}),
        ...(flags.title ? { title: flags.title } : {}),
        log,
      });
      console.log(reportSummary(result));
    });

  bigQueryOptions(
    program
      .command("doctor")
      .description("check the setup before a run: API reachable, token accepted and its scopes, rate limit left, staging writable, warehouse file readable; with --warehouse bigquery: credentials, datasets, bucket and permissions")
      .addOption(new Option("--warehouse <kind>", "warehouse the pipeline targets").choices(WAREHOUSES).default("duckdb"))
      .option("--duckdb-path <file>", "DuckDB warehouse file to check (opened read-write under the warehouse lock, as a run opens it)", defaults.duckdbPath)
      .option("--staging-dir <dir>", "staging folder that must be writable and belong to this warehouse (default: the warehouse's own)")
      .option("--repo <owner/name>", "with a GitHub App: check its installation on the repository's owner (repeatable)", collect, [])
      .option("--org <org>", "with a GitHub App: check its installation on the organisation (repeatable)", collect, [])
      .option("--user <user>", "with a GitHub App: check its installation on the user (repeatable)", collect, [])
      .option("--test-artifacts <globs>", "say whether test artifacts are read, and check the token can list the artifacts of the first --repo", (value: string, previous: string[]) => [...previous, ...value.split(",").map((g) => g.trim()).filter(Boolean)], []),
  )
    .addHelpText(
      "after",
      examples([
        "GITHUB_TOKEN=... actions-warehouse doctor",
        "GITHUB_API_URL=https://ghe.example.com/api/v3 actions-warehouse doctor --duckdb-path .warehouse/acme.duckdb",
        "GITHUB_APP_ID=123456 GITHUB_APP_PRIVATE_KEY_FILE=app.pem actions-warehouse doctor --org acme --user octo-dev",
        "actions-warehouse doctor --warehouse bigquery --project acme-data --location EU --bucket acme-actions-staging",
      ]),
    )
    .action(async (flags: BigQueryFlags & { warehouse: string; duckdbPath: string; stagingDir?: string; repo: string[]; org: string[]; user: string[]; testArtifacts: string[] }) => {
      const env = githubEnv();
      const target: Target = flags.warehouse === "bigquery" ? bigQueryTarget(flags) : { kind: "duckdb", path: flags.duckdbPath };
      const app = githubAppEnv();
      const results = await runDoctor({
        apiUrl: env.apiUrl,
        ...(env.token ? { token: env.token } : {}),
        ...(app.appId || app.appPrivateKey || app.appPrivateKeyFile ? { app: { appId: app.appId, privateKey: app.appPrivateKey, privateKeyFile: app.appPrivateKeyFile } } : {}),
        ...(app.packagesToken ? { packagesToken: app.packagesToken } : {}),
        scope: { repos: flags.repo, orgs: flags.org, users: flags.user },
        testArtifacts: flags.testArtifacts,
        duckdbPath: flags.duckdbPath,
        stagingDir: flags.stagingDir ?? defaultStagingDir(target),
        target,
        warehouse: flags.warehouse,
        ...(flags.warehouse === "bigquery" ? { gcp: () => gcpChecks({ flags }) } : {}),
      });
      console.log(doctorReport(results));
      const failed = results.filter((r) => r.status === "fail").length;
      if (failed) throw new CheckFailedError(`doctor: ${failed} check(s) failed`);
    });

  program
    .command("check")
    .description("offline BigQuery dry run: type-check every compiled query on ZetaSQL, list functions per model, fail on functions without a parity test")
    .option("--var <name=value>", "Dataform project variable (repeatable)", parseVars, {})
    .option("--verbose", "list every action with the functions it calls")
    .addHelpText("after", examples(["npm run check", "actions-warehouse check --verbose"]))
    .action(async (flags: { var: Record<string, string>; verbose?: boolean }) => {
      const { runCheck, formatCheckReport } = await import("../check/run.js");
      const report = await runCheck({ vars: flags.var });
      console.log(formatCheckReport(report, flags.verbose === true));
      if (!report.ok) throw new CheckFailedError(`check failed: ${report.errors.length} error(s)`);
    });

  program
    .command("test-models")
    .description("run the model tests on the ZetaSQL reference engine and the parity run against DuckDB, offline")
    .option("--var <name=value>", "Dataform project variable (repeatable)", parseVars, {})
    .addHelpText("after", examples(["npm run test:models"]))
    .action(async (flags: { var: Record<string, string> }) => {
      const { runModelTests, formatModelTests } = await import("../check/model-tests.js");
      const report = await runModelTests({ vars: flags.var });
      console.log(formatModelTests(report));
      if (!report.ok) throw new CheckFailedError("model tests failed");
    });

  program
    .command("redeliver")
    .description("ask GitHub to deliver again the webhook deliveries of one hook that never succeeded (repository, organisation or GitHub App hook)")
    .option("--repo <owner/name>", "the repository whose hook --hook-id is checked")
    .option("--org <org>", "the organisation whose hook --hook-id is checked")
    .option("--app", "the GitHub App's hook (authenticated with the App's JWT: GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_FILE)")
    .option("--hook-id <n>", "the hook's id, with --repo or --org", integer("--hook-id"))
    .option("--since-hours <n>", "hours of deliveries to check: at most 72 on github.com (GitHub keeps 3 days), 168 on GitHub Enterprise Server (7 days)", integer("--since-hours"), 72)
    .option("--per-page <n>", "deliveries per page, 1 to 100", integer("--per-page"), 100)
    .option("--dry-run", "list and count, request no redelivery")
    .addHelpText(
      "after",
      examples([
        "GITHUB_TOKEN=... actions-warehouse redeliver --org acme --hook-id 123456",
        "GITHUB_TOKEN=... actions-warehouse redeliver --repo acme/api --hook-id 123456 --since-hours 24 --dry-run",
        "GITHUB_APP_ID=123456 GITHUB_APP_PRIVATE_KEY_FILE=app.pem actions-warehouse redeliver --app",
      ]),
    )
    .action(async (flags: { repo?: string; org?: string; app?: boolean; hookId?: number; sinceHours: number; perPage: number; dryRun?: boolean }) => {
      const { redeliverOptions, redeliverSummary, runRedeliver } = await import("./redeliver.js");
      const app = githubAppEnv();
      const result = await runRedeliver(redeliverOptions(flags, { ...githubEnv(), appId: app.appId, appPrivateKey: app.appPrivateKey, appPrivateKeyFile: app.appPrivateKeyFile }, log));
      console.log(redeliverSummary(result));
      if (result.failedToRedeliver > 0) throw new Error(`redeliver: ${result.failedToRedeliver} redelivery request(s) failed (see the warnings above)`);
    });

  bigQueryOptions(program.command("serve"))
    .description("the realtime server: signed GitHub webhooks and the CI-events API into the DuckDB warehouse within seconds (or BigQuery every few minutes with --warehouse bigquery), /health and Prometheus /metrics")
    .option("--port <n>", "port to listen on (default: PORT, else 8080)")
    .option("--host <address>", "address to listen on", "0.0.0.0")
    .option("--duckdb-path <file>", "DuckDB warehouse the server owns while it runs (spool and staging beside it)", defaults.duckdbPath)
    .option("--staging-dir <dir>", "staging folder (default: the warehouse's own, as for extract; with --warehouse bigquery, BigQuery's: default STEM.bigquery-staging/ beside the DuckDB file)")
    .option("--flush-seconds <n>", "load the spool into the warehouse every this many seconds (default 5; with --warehouse bigquery: ship to BigQuery every this many seconds, default 300, at least 120 for the load-job quota)")
    .addOption(new Option("--warehouse <kind>", "where deliveries land: duckdb (the --duckdb-path file) or bigquery (load jobs every --flush-seconds; the live endpoints read --duckdb-path)").choices(WAREHOUSES).default("duckdb"))
    .option("--live-flush-seconds <n>", "with --warehouse bigquery: load the live DuckDB of the endpoints every this many seconds (default 5)")
    .option("--live-days <n>", "with --warehouse bigquery: raw rows older than this many days leave the live DuckDB, daily (default 14)")
    .option("--transform-seconds <n>", "run the incremental transform at most every this many seconds", "60")
    .option("--metrics-prefix <prefix>", "prefix of the Prometheus metric names", "github_actions_")
    .option("--refresh-seconds <n>", "the status wall (GET /) refreshes itself every this many seconds", "15")
    .option("--poll-every <duration>", "also run the scheduled extract of --repo/--org/--user every this long (e.g. 1h), as the reconciliation of missed deliveries")
    .option("--repo <owner/name>", "with --poll-every: a repository to extract (repeatable)", collect, [])
    .option("--org <org>", "with --poll-every: an organisation to extract (repeatable)", collect, [])
    .option("--user <user>", "with --poll-every: a user to extract (repeatable)", collect, [])
    .option("--initial-since <YYYY-MM-DD>", "with --poll-every: the first day when the warehouse holds no extract of the scope yet")
    .option("--redeliver-every <duration>", "check each --redeliver-hook for failed deliveries at start and then every this long (e.g. 1h), and ask GitHub to deliver them again")
    .option("--redeliver-hook <hook>", "with --redeliver-every: repo:OWNER/NAME:HOOK_ID, org:ORG:HOOK_ID or app (repeatable; credentials as for redeliver)", collect, [])
    .option("--rules <file>", "alert rules evaluated by the server (default: alerts.yml in the working directory, when there is one)")
    .option("--alerts-every <duration>", "evaluate the alert rules every this long, after a due transform (default 1m when there are rules; at least 30s)")
    .option("--no-alerts", "do not evaluate alert rules (GET /api/alerts still lists the recorded ones)")
    .addHelpText(
      "after",
      `\nEnvironment:\n  GITHUB_WEBHOOK_SECRET  webhook secret(s), comma-separated for rotation (required)\n  INGEST_TOKEN           bearer token of POST /api/ci-events (the endpoint is off without it)\n  METRICS_TOKEN          bearer token of GET /metrics (open without it)\n  ALERTS_TOKEN           bearer token of POST /api/alerts/{fingerprint}/ack and /api/alerts/test (off without it)\n  SLACK_WEBHOOK_URL, ALERT_WEBHOOK_URL, ALERT_WEBHOOK_SECRET  alert channels, as for alerts evaluate (never logged)\n  PORT                   port when --port is not given\n${examples(["GITHUB_WEBHOOK_SECRET=s3cret actions-warehouse serve --port 8123 --duckdb-path .warehouse/live.duckdb", "GITHUB_WEBHOOK_SECRET=s3cret actions-warehouse serve --warehouse bigquery --project acme-data --location EU --bucket acme-aw-staging --prefix serve"])}`,
    )
    .action(async (flags: { port?: string; host: string; duckdbPath: string; stagingDir?: string; flushSeconds?: string; warehouse: string; liveFlushSeconds?: string; liveDays?: string; project?: string; location?: string; bucket?: string; prefix?: string; transformSeconds: string; metricsPrefix: string; refreshSeconds: string; pollEvery?: string; repo: string[]; org: string[]; user: string[]; initialSince?: string; redeliverEvery?: string; redeliverHook: string[]; rules?: string; alertsEvery?: string; alerts: boolean }) => {
      const { parseServeConfig } = await import("../serve/config.js");
      const { startServe } = await import("../serve/server.js");
      const server = await startServe(parseServeConfig(flags), { log });
      console.log(`serve listening on ${server.url}`);
      const signal = await new Promise<string>((resolve) => {
        process.once("SIGTERM", () => resolve("SIGTERM"));
        process.once("SIGINT", () => resolve("SIGINT"));
      });
      log.info("serve stopping", { signal });
      await server.close();
    });

  registerBigQueryCommands(program, log);
  registerAlertsCommands(program, log);

  program
    .command("generate-schemas")
    .description("regenerate schemas/bigquery/*.json from the zod raw-table schemas")
    .addHelpText("after", examples(["npm run schemas:generate", "actions-warehouse generate-schemas"]))
    .action(() => {
      for (const file of writeBigQuerySchemas()) console.log(file);
    });

  program
    .command("generate-docs")
    .description("regenerate docs/configuration.md (from these commands) and docs/data-dictionary.md (from the compiled Dataform descriptions)")
    .addHelpText("after", examples(["npm run docs:generate"]))
    .action(async () => {
      // Loaded on demand: the docs generator walks this very program.
      const { writeGeneratedDocs } = await import("./docs/index.js");
      for (const file of await writeGeneratedDocs()) console.log(file);
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  let level: Level;
  try {
    level = parseLogLevel(process.env.LOG_LEVEL);
  } catch (error) {
    if (!(error instanceof LogLevelError)) throw error;
    createLogger({ level: "info" }).error(error.message);
    return EXIT.config;
  }
  const log = createLogger({ level });
  const program = buildProgram(log);
  if (argv.length <= 2) {
    // No command: the help, on stderr, and a usage error (a script calling us wrongly must not pass).
    program.outputHelp({ error: true });
    return EXIT.usage;
  }
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "commander.helpDisplayed" || code === "commander.version") return EXIT.ok;
    // Help asked for (`help`) is success; help shown because no subcommand was given is usage.
    if (code === "commander.help") return (error as { exitCode?: number }).exitCode ? EXIT.usage : EXIT.ok;
    if (typeof code === "string" && code.startsWith("commander.")) return EXIT.usage;
    if (error instanceof ConfigError) {
      log.error(error.message);
      return EXIT.config;
    }
    if (error instanceof Error && error.name === "AssertionFailedError") {
      log.error(error.message);
      return EXIT.assertion;
    }
    log.error(error instanceof Error ? error.message : String(error), error instanceof Error && level === "debug" ? { stack: error.stack } : {});
    return EXIT.failed;
  }
}


