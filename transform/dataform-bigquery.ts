/**
 * `transform --warehouse bigquery`: runs the real Dataform CLI (`dataform run`) against BigQuery.
 *
 * The CLI insists on a credentials file (`--credentials`, default `.df-credentials.json`). Ours holds
 * only `projectId` and `location`: with no `credentials` key in it, the CLI's BigQuery client falls back to
 * Application Default Credentials, i.e. the short-lived Workload Identity Federation token that
 * google-github-actions/auth provides. So no key is ever written; the file is created at run time under
 * `.warehouse/` (git-ignored), readable by the owner only, and removed when the run ends.
 *
 * Vars, tags and full refresh are passed as CLI flags; dataset names come from dataform.json, the project
 * and location from the warehouse settings, so the models and the loader always agree on where raw is.
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Logger } from "../log/logger.js";
import { projectRoot } from "./compile.js";

export interface DataformBigQueryOptions {
  projectId: string;
  location: string;
  tags?: string[];
  fullRefresh?: boolean;
  vars?: Record<string, string>;
  /** Also run the dependencies of the tagged actions. */
  includeDependencies?: boolean;
  /** Validate every query with BigQuery dry runs; change nothing. */
  dryRun?: boolean;
  /** Folder for the run-time credentials file (default `.warehouse/` in the project). */
  workDir?: string;
}

export class DataformRunError extends Error {
  override readonly name = "DataformRunError";
}

export function dataformCli(): string {
  return join(projectRoot, "node_modules", "@dataform", "cli", "bundle.js");
}

/** The CLI splits `--vars` on "," and "=", so a value holding either would be silently cut. */
function varsFlag(vars: Record<string, string>): string | undefined {
  const entries = Object.entries(vars);
  if (entries.length === 0) return undefined;
  for (const [name, value] of entries) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new DataformRunError(`--var ${name}: names are letters, digits and _`);
    if (/[,=]/.test(value)) throw new DataformRunError(`--var ${name}: the Dataform CLI cannot pass a value containing "," or "="`);
  }
  return `--vars=${entries.map(([k, v]) => `${k}=${v}`).join(",")}`;
}

/** The exact argv after `node`: the CLI script, `run`, the project folder and flags. */
export function dataformRunArgs(options: DataformBigQueryOptions, credentialsPath: string): string[] {
  const args = [dataformCli(), "run", projectRoot, `--credentials=${credentialsPath}`, `--default-database=${options.projectId}`, `--default-location=${options.location}`];
  const vars = varsFlag(options.vars ?? {});
  if (vars) args.push(vars);
  if (options.tags?.length) args.push(`--tags=${options.tags.join(",")}`);
  if (options.includeDependencies) args.push("--include-deps");
  if (options.fullRefresh) args.push("--full-refresh");
  if (options.dryRun) args.push("--dry-run");
  return args;
}

/** The credentials file the CLI reads: no key, so the CLI uses Application Default Credentials. */
export function dataformCredentials(options: Pick<DataformBigQueryOptions, "projectId" | "location">): { projectId: string; location: string } {
  return { projectId: options.projectId, location: options.location };
}

export function writeDataformCredentials(options: DataformBigQueryOptions): string {
  const dir = options.workDir ?? join(projectRoot, ".warehouse");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `df-credentials-${process.pid}.json`);
  writeFileSync(path, `${JSON.stringify(dataformCredentials(options))}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

export interface DataformRunResult {
  exitCode: number;
  args: string[];
}

/** Runs `dataform run`; every output line goes through the logger (which redacts registered secrets). */
export async function runDataformOnBigQuery(options: DataformBigQueryOptions, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<DataformRunResult> {
  const credentialsPath = writeDataformCredentials(options);
  const args = dataformRunArgs(options, credentialsPath);
  try {
    log.info("dataform run started", { project: options.projectId, location: options.location, tags: options.tags ?? [], full_refresh: options.fullRefresh === true, dry_run: options.dryRun === true });
    const child = spawn(process.execPath, args, { cwd: projectRoot, env, stdio: ["ignore", "pipe", "pipe"] });
    const relay = (stream: NodeJS.ReadableStream, level: "info" | "warn") =>
      new Promise<void>((resolve) => {
        const lines = createInterface({ input: stream });
        lines.on("line", (line) => {
          if (line.trim()) log[level](`dataform: ${line}`);
        });
        lines.on("close", () => resolve());
      });
    const [exitCode] = await Promise.all([
      new Promise<number>((resolve, reject) => {
        child.on("error", reject);
        child.on("close", (code) => resolve(code ?? 1));
      }),
      relay(child.stdout, "info"),
      relay(child.stderr, "warn"),
    ]);
    if (exitCode !== 0) throw new DataformRunError(`dataform run exited with code ${exitCode}; see the dataform: lines above for the failed action`);
    log.info("dataform run finished");
    return { exitCode, args };
  } finally {
    rmSync(credentialsPath, { force: true });
  }
}
