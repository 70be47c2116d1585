/**
 * Inside GitHub Actions (`GITHUB_ACTIONS=true`): one annotation per notification (`::error` for critical,
 * `::warning` for warning, `::notice` for info and for resolves) on stdout, where the runner reads
 * workflow commands, and at the end of the run one table of them in the job summary
 * (`GITHUB_STEP_SUMMARY`).
 *
 * Workflow-command escaping (https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands):
 * in the message `%`, CR and LF become `%25`, `%0D`, `%0A`; in property values also `:` and `,` become
 * `%3A` and `%2C`. Without it a summary holding a newline would end the command and the rest would be
 * read as a command of its own.
 */
import { appendStepSummary } from "../../jobs/bigquery-pipeline.js";
import type { AlertNotification } from "../state.js";
import { formatScope, formatValue, type Channel, type SendResult } from "./channel.js";

export const escapeData = (text: string): string => text.replaceAll("%", "%25").replaceAll("\r", "%0D").replaceAll("\n", "%0A");
export const escapeProperty = (text: string): string => escapeData(text).replaceAll(":", "%3A").replaceAll(",", "%2C");

export function annotationLevel(n: AlertNotification): "error" | "warning" | "notice" {
  if (n.kind === "resolved" || n.kind === "test") return "notice";
  return n.severity === "critical" ? "error" : n.severity === "warning" ? "warning" : "notice";
}

export function annotation(n: AlertNotification): string {
  const title = `${n.kind === "resolved" ? "resolved" : n.kind === "repeat" ? "still firing" : n.kind}: ${n.rule}`;
  const message = `${n.summary} (${formatScope(n.scope)}; value ${formatValue(n.value, n.unit)}, threshold ${formatValue(n.threshold, n.unit)}; fingerprint ${n.fingerprint})`;
  return `::${annotationLevel(n)} title=${escapeProperty(title)}::${escapeData(message)}`;
}

const cell = (text: string) => text.replaceAll("|", "\\|").replace(/\s*\n\s*/g, " ");

export function stepSummaryTable(notifications: AlertNotification[]): string {
  const rows = notifications.map((n) => `| ${n.kind} | ${cell(n.rule)} | ${n.severity} | ${cell(formatScope(n.scope))} | ${formatValue(n.value, n.unit)} | ${formatValue(n.threshold, n.unit)} | ${cell(n.summary.slice(0, 500))} | \`${n.fingerprint}\` |`);
  return ["### Alerts", "", "| notification | rule | severity | scope | value | threshold | summary | fingerprint |", "|---|---|---|---|---:|---:|---|---|", ...rows, ""].join("\n");
}

export interface GitHubChannelOptions {
  env?: NodeJS.ProcessEnv;
  write?: (line: string) => void;
}

export function createGitHubChannel(options: GitHubChannelOptions = {}): Channel {
  const env = options.env ?? process.env;
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const sent: AlertNotification[] = [];
  return {
    name: "github",
    async send(n): Promise<SendResult> {
      write(annotation(n));
      sent.push(n);
      return { ok: true };
    },
    finish() {
      if (sent.length) appendStepSummary(stepSummaryTable(sent), env);
      sent.length = 0;
    },
  };
}
