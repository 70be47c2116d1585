/**
 * The contract between the parts of alerting (issue 13), one source of truth for their types:
 *
 *   alerts.yml ──(alerts/rules.ts: zod)──▶ Rule[]
 *   Rule[] + warehouse ──(alerts/evaluate.ts: one GoogleSQL query per rule kind over the fct_* / rpt_*
 *                          models, run through report/data.ts `ReportSource`, so DuckDB and BigQuery give
 *                          the same answer)──▶ Finding[] (the scopes where a rule's condition holds now)
 *   Finding[] + alert state ──(alerts/state.ts: pending → firing → resolved, `for`, `repeat_interval`,
 *                          acks and mutes, in the warehouse: alert_events, alert_outbox)──▶ notifications
 *   notifications ──(alerts/channels/*: Slack, signed JSON webhook, GitHub Actions annotations)
 */

import { createHash } from "node:crypto";

export const RULE_KINDS = ["failure_rate", "duration_p95_regression", "queue_p95", "consecutive_failures", "stuck", "cost_spike", "flaky_rate"] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

export const SEVERITIES = ["info", "warning", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

export const CHANNELS = ["slack", "webhook", "github"] as const;
export type ChannelName = (typeof CHANNELS)[number];

/** Where a rule looks: globs over repository (`owner/name`), workflow name and head branch. */
export interface RuleScope {
  repositories: string[];
  workflows: string[];
  branches: string[];
}

/** What every rule has, whatever its kind. Durations are in seconds. */
export interface RuleCommon {
  name: string;
  kind: RuleKind;
  description?: string | undefined;
  scope: RuleScope;
  severity: Severity;
  channels: ChannelName[];
  /** How long the condition must hold before the alert fires (0: at once). */
  forSeconds: number;
  /** A firing alert notifies again after this long (default 4 h). */
  repeatIntervalSeconds: number;
  enabled: boolean;
}

/** The parameters of each kind (the `threshold` and its window), discriminated by `kind`. */
export type Rule = RuleCommon &
  (
    | { kind: "failure_rate"; threshold: number; windowSeconds: number; minRuns: number }
    | { kind: "duration_p95_regression"; ratio: number; windowSeconds: number; minRuns: number }
    | { kind: "queue_p95"; thresholdSeconds: number; windowSeconds: number; runnerLabels: string[]; minJobs: number }
    | { kind: "consecutive_failures"; count: number }
    | { kind: "stuck"; thresholdSeconds: number }
    | { kind: "cost_spike"; ratio: number; trailingDays: number; minUsd: number }
    | { kind: "flaky_rate"; threshold: number; windowSeconds: number; minRuns: number }
  );

/** One offender shown in a notification: a run, a job, a workflow or a runner label, with a link. */
export interface Offender {
  label: string;
  value: number;
  url?: string | undefined;
}

/**
 * A rule's condition holding for one scope at evaluation time. `scope` names the group the kind
 * evaluates per (e.g. `{repository, workflow}` for failure_rate, `{runner_labels}` for queue_p95,
 * `{repository, workflow, branch}` for consecutive_failures, `{run_id}`/`{job_id}` for stuck); the
 * fingerprint is `fingerprintOf(rule.name, scope)`.
 */
export interface Finding {
  rule: string;
  kind: RuleKind;
  severity: Severity;
  scope: Record<string, string>;
  fingerprint: string;
  /** The measured value and the threshold it crossed, in `unit`. */
  value: number;
  threshold: number;
  unit: "ratio" | "seconds" | "count" | "usd";
  /** One line a human reads: "failure rate 42% over 24 h (threshold 20%, 12 runs)". */
  summary: string;
  /** The worst offenders, worst first (at most 10). */
  offenders: Offender[];
}

export type AlertState = "pending" | "firing" | "resolved";

/** Why a notification is sent. */
export type NotificationKind = "firing" | "repeat" | "resolved" | "test";

/** A stable id of (rule, scope): the same scope of the same rule is the same alert across evaluations. */
export function fingerprintOf(rule: string, scope: Record<string, string>): string {
  const canonical = JSON.stringify([rule, Object.keys(scope).sort().map((k) => [k, scope[k]])]);
  return createHash("sha256").update(canonical).digest("hex").slice(0, 16);
}
