/**
 * docs/configuration.md, generated from the commander program itself (every command, flag, default and
 * example) plus the environment variables and exit codes, so the reference cannot fall behind the CLI:
 * test/docs.test.ts regenerates it and fails on any difference.
 */
import type { Command, Option } from "commander";
import { silentLogger } from "../../log/logger.js";
import { buildProgram, EXIT } from "../cli.js";

/** Every environment variable the code reads; test/docs.test.ts checks the sources read no other. */
export const ENVIRONMENT: { name: string; default: string; meaning: string }[] = [
  { name: "GITHUB_API_URL", default: "`https://api.github.com`", meaning: "REST API base URL; GitHub Enterprise Server: `https://HOST/api/v3`." },
  { name: "GITHUB_TOKEN", default: "none", meaning: "API token (classic PAT with `repo` or `public_repo` and `read:packages`, or a fine-grained token with Actions: read and Packages: read). Read from the environment only, registered as a secret and redacted from every log line. For a GitHub App give `GITHUB_APP_ID` and its key instead: an installation token minted before the run expires after one hour, covers one owner and cannot read packages. Refused together with `GITHUB_APP_ID`." },
  { name: "GITHUB_APP_ID", default: "none", meaning: "Authenticate as this GitHub App (its numeric App ID), with `GITHUB_APP_PRIVATE_KEY` or `GITHUB_APP_PRIVATE_KEY_FILE`. The extractor finds the App's installation on each owner of the scope with the App's JWT, mints installation tokens (Actions: read, Metadata: read), uses the one of the owner in each request's path, replaces each five minutes before it expires, and mints a new one and retries once when GitHub answers 401. Minting requests are counted apart from the data requests (`auth_requests`, `tokens_minted` in the extract's last log line)." },
  { name: "GITHUB_APP_PRIVATE_KEY", default: "none", meaning: "The App's private key, PEM text (`\\n` escapes accepted). Checked at start (the error names the variable, never the key); registered as a secret with every JWT and installation token made from it." },
  { name: "GITHUB_APP_PRIVATE_KEY_FILE", default: "none", meaning: "Path of the App's `.pem` file, instead of `GITHUB_APP_PRIVATE_KEY` (not both)." },
  { name: "GITHUB_PACKAGES_TOKEN", default: "none", meaning: "Classic personal access token with `read:packages`, used for the packages endpoints only. GitHub Apps cannot call `/orgs/{org}/packages` or `/users/{user}/packages` (nor their versions): with an App and without this token the extract warns once and skips packages (`packages_skipped`)." },
  { name: "LOG_LEVEL", default: "`info`", meaning: "`debug`, `info`, `warn` or `error`, any case (an unknown value is a configuration error, exit 3). `error` lines appear only when the run fails; retries are `warn`, 304s `debug`. Logs go to stderr: short lines on a terminal, one JSON object per line otherwise." },
  { name: "GOOGLE_CLOUD_PROJECT", default: "`defaultDatabase` of dataform.json", meaning: "BigQuery project for `--warehouse bigquery`, `bootstrap` and `looker-link` (same as `--project`)." },
  { name: "BIGQUERY_LOCATION", default: "`US`", meaning: "BigQuery location of the datasets (same as `--location`)." },
  { name: "GCS_BUCKET", default: "none", meaning: "Cloud Storage bucket for staging with `--warehouse bigquery` (same as `--bucket`)." },
  { name: "GCS_PREFIX", default: "bucket root", meaning: "Folder inside the bucket (same as `--prefix`)." },
  { name: "GOOGLE_APPLICATION_CREDENTIALS", default: "Application Default Credentials", meaning: "Credential configuration file read by the Google client libraries for BigQuery and Cloud Storage. In GitHub Actions, google-github-actions/auth writes a Workload Identity Federation file here (no service-account keys); locally, `gcloud auth application-default login` makes it unnecessary." },
  { name: "LOOKER_TEMPLATE_REPORT_ID", default: "none", meaning: "Looker Studio template report that `looker-link` copies (same as `--report-id`)." },
  { name: "GITHUB_STEP_SUMMARY", default: "set by GitHub Actions", meaning: "When present (inside a workflow), the BigQuery pipeline appends its summary table to the job summary, and `alerts evaluate` a table of the notifications it sent to the `github` channel." },
  { name: "SLACK_WEBHOOK_URL", default: "none", meaning: "Slack incoming webhook of the `slack` alert channel (`alerts evaluate`, `alerts test --channel slack`). Holds a token: registered as a secret and never logged. Without it, rules' Slack notifications are not queued (a warning says so)." },
  { name: "ALERT_WEBHOOK_URL", default: "none", meaning: "URL receiving every notification of the `webhook` alert channel as JSON (POST, `Idempotency-Key` = the notification id). Never logged." },
  { name: "ALERT_WEBHOOK_SECRET", default: "none", meaning: "Required with `ALERT_WEBHOOK_URL`, at least 16 characters: the HMAC-SHA256 key of the `X-Hub-Signature-256: sha256=<hex>` header over the raw body (GitHub's webhook format). Never logged." },
  { name: "GITHUB_ACTIONS", default: "set by GitHub Actions", meaning: "`true` inside a workflow: `alerts evaluate` enables the `github` channel (`::error`/`::warning`/`::notice` annotations by severity, and the job summary table)." },
];

/** What each exit code means; test/docs.test.ts checks every code in EXIT has a line here. */
export const EXIT_MEANINGS: Record<keyof typeof EXIT, string> = {
  ok: "success",
  failed: "failure: API, staging, load, model or report error (the last log line says which)",
  usage: "bad usage: no command, unknown command or flag, missing required flag, a flag value that cannot be parsed (not a whole number, not one of the choices)",
  config: "invalid configuration: a value that parses but is refused (out of range, a date that does not exist or lies in the future, a bad scope, credentials, LOG_LEVEL); the message names the field",
  assertion: "a data assertion failed; the message shows the offending rows",
};

export interface CommandDoc {
  path: string;
  description: string;
  usage: string;
  options: { flags: string; description: string; default: string; required: boolean; env?: string }[];
  examples: string[];
  help: string;
}

/** Help exactly as `--help` prints it (including addHelpText blocks), at a fixed width and no colour. */
export function helpOf(cmd: Command): string {
  let out = "";
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s), getOutHelpWidth: () => 100, getErrHelpWidth: () => 100, getOutHasColors: () => false, getErrHasColors: () => false });
  cmd.outputHelp();
  return out;
}

function defaultOf(o: Option): string {
  if (o.negate) return "off";
  const d: unknown = o.defaultValue;
  if (d === undefined || d === false) return "";
  if (Array.isArray(d)) return d.length ? d.map((x) => `\`${String(x)}\``).join(", ") : "";
  if (typeof d === "object" && d !== null) return Object.keys(d).length ? `\`${JSON.stringify(d)}\`` : "";
  return `\`${String(d)}\``;
}

function examplesIn(help: string): string[] {
  const block = help.split(/\nExamples:\n/)[1] ?? "";
  return block
    .split("\n")
    .map((l) => /^\s+\$ (.+)$/.exec(l)?.[1])
    .filter((l): l is string => l !== undefined);
}

/** Every command (and the program itself first), depth first, in definition order. */
export function commandDocs(program: Command = buildProgram(silentLogger)): CommandDoc[] {
  const docs: CommandDoc[] = [];
  const visit = (cmd: Command, prefix: string[]) => {
    const path = [...prefix, cmd.name()];
    const help = helpOf(cmd);
    docs.push({
      path: path.join(" "),
      description: cmd.description(),
      usage: `${path.join(" ")} ${cmd.usage()}`.trim(),
      options: cmd.options
        .filter((o) => !o.hidden)
        .map((o) => ({
          flags: o.flags,
          description: o.description + (o.argChoices ? ` (one of: ${o.argChoices.join(", ")})` : ""),
          default: defaultOf(o),
          required: o.mandatory,
          ...(o.envVar ? { env: o.envVar } : {}),
        })),
      examples: examplesIn(help),
      help,
    });
    for (const sub of cmd.commands) visit(sub, path);
  };
  visit(program, []);
  return docs;
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function configurationMarkdown(program?: Command): string {
  const docs = commandDocs(program);
  const [root, ...commands] = docs;
  const lines: string[] = [
    "# Configuration reference",
    "",
    "<!-- Generated by `npm run docs:generate` from the command-line definitions (jobs/cli.ts and the modules it registers). Do not edit: test/docs.test.ts fails when this file differs from the program. -->",
    "",
    "Everything is configured with flags and environment variables; there is no config file. GitHub and Google",
    "credentials come from the environment only, so they never sit in shell history, cron lines or the warehouse.",
    "",
    "## Environment variables",
    "",
    "| variable | default | meaning |",
    "|---|---|---|",
    ...ENVIRONMENT.map((e) => `| \`${e.name}\` | ${e.default} | ${cell(e.meaning)} |`),
    "",
    "## Exit codes",
    "",
    "| code | meaning |",
    "|---|---|",
    ...Object.entries(EXIT).map(([key, code]) => `| \`${code}\` | ${cell(EXIT_MEANINGS[key as keyof typeof EXIT])} |`),
    "",
    "## Commands",
    "",
    `\`${root?.usage ?? "actions-warehouse"}\` — ${root?.description ?? ""}`,
    "",
    "| command | what it does |",
    "|---|---|",
    ...commands.map((c) => `| [\`${c.path.replace(/^actions-warehouse /, "")}\`](#${anchor(c.path)}) | ${cell(c.description)} |`),
    "",
  ];
  for (const c of commands) {
    lines.push(`### ${c.path}`, "", c.description, "", "```", c.usage, "```", "");
    if (c.options.length) {
      lines.push("| flag | default | meaning |", "|---|---|---|");
      for (const o of c.options) lines.push(`| \`${cell(o.flags)}\` | ${o.required ? "required" : o.default} | ${cell(o.description)} |`);
      lines.push("");
    }
    if (c.examples.length) lines.push("Examples:", "", "```sh", ...c.examples, "```", "");
  }
  return `${lines.join("\n").trimEnd()}\n`;
}

/** GitHub's heading anchor for `### actions-warehouse report`. */
export function anchor(heading: string): string {
  return heading.toLowerCase().replace(/[^a-z0-9 -]/g, "").replace(/ /g, "-");
}
