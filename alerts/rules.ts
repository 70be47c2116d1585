/**
 * alerts.yml → Rule[] (alerts/types.ts), parsed with `yaml` and validated with zod.
 *
 * The file is `rules:` followed by a list of rules. YAML keys are snake_case; each rule has the common
 * fields (name, kind, description, scope, severity, channels, for, repeat_interval, enabled) and its
 * kind's fields. Every kind's trigger is called `threshold` (a fraction, a ratio, a count or a duration,
 * depending on the kind) so "where is the threshold" has one answer. Unknown fields are errors, so a
 * typo never silently turns a rule into its defaults.
 *
 * A bad file throws one AlertRulesError listing every problem, each line naming the rule (by name, or
 * by its index when the name is missing), the field, and what to write instead.
 */
import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { z } from "zod";
import { GlobError, validateGlob } from "./globs.js";
import { CHANNELS, RULE_KINDS, SEVERITIES, type Rule, type RuleKind, type RuleScope } from "./types.js";

export interface AlertRulesIssue {
  /** `"ci-failures"`, or `rules[3]` when the rule has no usable name; `(file)` for the file itself. */
  rule: string;
  /** Dotted path inside the rule, e.g. `threshold`, `scope.branches[1]`. */
  field: string;
  message: string;
}

export class AlertRulesError extends Error {
  constructor(
    readonly source: string,
    readonly issues: AlertRulesIssue[],
  ) {
    super(`${source}: ${issues.length} problem${issues.length === 1 ? "" : "s"} in the alert rules:\n${issues.map((i) => `  ${i.rule === "(file)" ? "the file" : `rule ${i.rule}`}, field ${i.field}: ${i.message}`).join("\n")}`);
    this.name = "AlertRulesError";
  }
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** `90s`, `30m`, `4h`, `7d`, `2w`, `1h30m` → seconds; a bare number is seconds. Undefined when malformed. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  if (!/^(\d+[smhdw])+$/.test(text)) return undefined;
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([smhdw])/g)) total += Number(n) * (UNIT_SECONDS[unit ?? "s"] ?? 1);
  return total;
}

const durationHint = "write a duration like 30m, 4h or 7d (units s, m, h, d, w)";
const duration = (what: string, min = 0) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const seconds = parseDuration(v);
    if (seconds === undefined) {
      ctx.addIssue({ code: "custom", message: `${JSON.stringify(v)} is not a duration: ${durationHint}` });
      return z.NEVER;
    }
    if (seconds < min) {
      ctx.addIssue({ code: "custom", message: `${what} must be at least ${min} s: ${durationHint}` });
      return z.NEVER;
    }
    return seconds;
  });

const glob = z.string().superRefine((g, ctx) => {
  try {
    validateGlob(g);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: error instanceof GlobError ? `${error.message}` : String(error) });
  }
});
const globs = z.array(glob);

const scopeSchema = z.strictObject({ repositories: globs.optional(), workflows: globs.optional(), branches: globs.optional() });

// Above 0: a threshold of 0 would hold for every scope with any runs at all.
const fraction = z.number().gt(0).max(1);
const positiveInt = z.number().int().min(1);

/** Fields every rule has; `kind` is checked first, on its own, so an unknown kind gives one clear line. */
const common = {
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "use letters, digits, '.', '_' and '-', starting with a letter or digit"),
  kind: z.enum(RULE_KINDS),
  description: z.string().optional(),
  scope: scopeSchema.optional(),
  severity: z.enum(SEVERITIES).default("warning"),
  channels: z.array(z.enum(CHANNELS)).min(1).default(["slack"]),
  for: duration("for").default(0),
  repeat_interval: duration("repeat_interval", 60).default(4 * 3600),
  enabled: z.boolean().default(true),
};

/** Each kind's own fields with their defaults (documented in docs/alerts.md). */
const kindFields = {
  failure_rate: { threshold: fraction, window: duration("window", 60).default(86_400), min_runs: positiveInt.default(5) },
  duration_p95_regression: { threshold: z.number().positive(), window: duration("window", 60).default(7 * 86_400), min_runs: positiveInt.default(10) },
  queue_p95: { threshold: duration("threshold"), window: duration("window", 60).default(3600), runner_labels: globs.default(["*"]), min_jobs: positiveInt.default(5) },
  consecutive_failures: { threshold: positiveInt },
  stuck: { threshold: duration("threshold", 60) },
  cost_spike: { threshold: z.number().positive(), trailing_days: positiveInt.max(90).default(7), min_usd: z.number().min(0).default(1) },
  flaky_rate: { threshold: fraction, window: duration("window", 60).default(7 * 86_400), min_runs: positiveInt.default(10) },
} as const;

const kindSchemas = {
  failure_rate: z.strictObject({ ...common, ...kindFields.failure_rate }),
  duration_p95_regression: z.strictObject({ ...common, ...kindFields.duration_p95_regression }),
  queue_p95: z.strictObject({ ...common, ...kindFields.queue_p95 }),
  consecutive_failures: z.strictObject({ ...common, ...kindFields.consecutive_failures }),
  stuck: z.strictObject({ ...common, ...kindFields.stuck }),
  cost_spike: z.strictObject({ ...common, ...kindFields.cost_spike }),
  flaky_rate: z.strictObject({ ...common, ...kindFields.flaky_rate }),
} satisfies Record<RuleKind, z.ZodType>;

/** What to write for a missing or wrong field: the second half of every error line. */
const THRESHOLD_HINTS: Record<RuleKind, string> = {
  failure_rate: "the failing share of runs that fires, a fraction above 0, at most 1, e.g. threshold: 0.25",
  duration_p95_regression: "the ratio current p95 / previous p95 that fires, e.g. threshold: 1.5",
  queue_p95: "the p95 queue time that fires, a duration, e.g. threshold: 10m",
  consecutive_failures: "how many failed runs in a row fire, a whole number, e.g. threshold: 3",
  stuck: "how long a run or job may stay queued or in progress, a duration, e.g. threshold: 2h",
  cost_spike: "the ratio day cost / trailing daily mean that fires, e.g. threshold: 2",
  flaky_rate: "the share of runs with a job that passed on re-run that fires, a fraction above 0, at most 1, e.g. threshold: 0.1",
};
const FIELD_HINTS: Record<string, string> = {
  name: "give every rule a unique name, e.g. name: ci-failure-rate",
  kind: `use one of ${RULE_KINDS.join(", ")}`,
  severity: `use one of ${SEVERITIES.join(", ")} (default warning)`,
  channels: `use a list of ${CHANNELS.join(", ")} (default [slack])`,
  window: durationHint,
  for: `${durationHint}; 0 fires at once`,
  repeat_interval: `${durationHint}, at least 1m (default 4h)`,
  enabled: "write true or false",
  min_runs: "a whole number of runs, at least 1",
  min_jobs: "a whole number of jobs, at least 1",
  trailing_days: "a whole number of days, 1 to 90",
  min_usd: "a number of US dollars, 0 or more",
  scope: "a map with repositories, workflows and branches, each a list of globs",
};

/** The defaults a scope gets. consecutive_failures looks at the default branch, which runs don't carry. */
const DEFAULT_BRANCHES: Partial<Record<RuleKind, string[]>> = { consecutive_failures: ["main", "master"] };

function hintFor(kind: RuleKind | undefined, field: string): string | undefined {
  const top = field.split(/[.[]/)[0] ?? field;
  if (top === "threshold" && kind) return THRESHOLD_HINTS[kind];
  return FIELD_HINTS[top];
}

function pathText(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : `${out ? "." : ""}${String(p)}`;
  return out || "(rule)";
}

const commonSchema = z.object(common);
type CommonFields = z.output<typeof commonSchema>;

function baseOf(d: CommonFields) {
  const scope: RuleScope = {
    repositories: d.scope?.repositories ?? ["*"],
    workflows: d.scope?.workflows ?? ["*"],
    branches: d.scope?.branches ?? DEFAULT_BRANCHES[d.kind] ?? ["*"],
  };
  return {
    name: d.name,
    description: d.description,
    scope,
    severity: d.severity,
    channels: d.channels,
    forSeconds: d.for,
    repeatIntervalSeconds: d.repeat_interval,
    enabled: d.enabled,
  };
}

type Attempt = { ok: true; rule: Rule } | { ok: false; issues: z.core.$ZodIssue[] };

function attempt<S extends z.ZodType<CommonFields>>(schema: S, record: unknown, make: (d: z.output<S>) => Rule): Attempt {
  const parsed = schema.safeParse(record);
  return parsed.success ? { ok: true, rule: make(parsed.data) } : { ok: false, issues: parsed.error.issues };
}

/** Validates one rule with its kind's schema and maps the snake_case fields onto the Rule type. */
function parseRule(kind: RuleKind, record: unknown): Attempt {
  switch (kind) {
    case "failure_rate":
      return attempt(kindSchemas.failure_rate, record, (d) => ({ ...baseOf(d), kind, threshold: d.threshold, windowSeconds: d.window, minRuns: d.min_runs }));
    case "duration_p95_regression":
      return attempt(kindSchemas.duration_p95_regression, record, (d) => ({ ...baseOf(d), kind, ratio: d.threshold, windowSeconds: d.window, minRuns: d.min_runs }));
    case "queue_p95":
      return attempt(kindSchemas.queue_p95, record, (d) => ({ ...baseOf(d), kind, thresholdSeconds: d.threshold, windowSeconds: d.window, runnerLabels: d.runner_labels, minJobs: d.min_jobs }));
    case "consecutive_failures":
      return attempt(kindSchemas.consecutive_failures, record, (d) => ({ ...baseOf(d), kind, count: d.threshold }));
    case "stuck":
      return attempt(kindSchemas.stuck, record, (d) => ({ ...baseOf(d), kind, thresholdSeconds: d.threshold }));
    case "cost_spike":
      return attempt(kindSchemas.cost_spike, record, (d) => ({ ...baseOf(d), kind, ratio: d.threshold, trailingDays: d.trailing_days, minUsd: d.min_usd }));
    case "flaky_rate":
      return attempt(kindSchemas.flaky_rate, record, (d) => ({ ...baseOf(d), kind, threshold: d.threshold, windowSeconds: d.window, minRuns: d.min_runs }));
  }
}

/** Parses the text of an alerts.yml; `source` names it in errors. Throws AlertRulesError. */
export function parseRules(text: string, source: string): Rule[] {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new AlertRulesError(
      source,
      doc.errors.map((e) => ({ rule: "(file)", field: "(yaml)", message: `${e.message.split("\n")[0]}: fix the YAML syntax` })),
    );
  }
  const root: unknown = doc.toJS();
  if (root === null || root === undefined) return [];
  if (typeof root !== "object" || Array.isArray(root) || !("rules" in root)) {
    throw new AlertRulesError(source, [{ rule: "(file)", field: "rules", message: "the file must be a map with a `rules:` list at the top" }]);
  }
  const extra = Object.keys(root).filter((k) => k !== "rules");
  const issues: AlertRulesIssue[] = extra.map((k) => ({ rule: "(file)", field: k, message: "unknown top-level key: the file has only `rules:`" }));
  const list = (root as { rules: unknown }).rules;
  if (list === null || list === undefined) return issues.length ? fail(source, issues) : [];
  if (!Array.isArray(list)) return fail(source, [...issues, { rule: "(file)", field: "rules", message: "must be a list of rules (each item starting with `- name:`)" }]);

  const rules: Rule[] = [];
  const seen = new Map<string, number>();
  list.forEach((raw: unknown, index) => {
    const named = raw !== null && typeof raw === "object" && "name" in raw && typeof raw.name === "string" && raw.name ? raw.name : undefined;
    const label = named ? JSON.stringify(named) : `rules[${index}]`;
    const add = (field: string, message: string) => issues.push({ rule: label, field, message });
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      add("(rule)", "each rule must be a map with at least name, kind and threshold");
      return;
    }
    const record = raw as Record<string, unknown>;
    if (named) {
      const first = seen.get(named);
      if (first !== undefined) add("name", `duplicate name: rules[${first}] is also called ${named}; give every rule a unique name`);
      else seen.set(named, index);
    }
    const kind = z.enum(RULE_KINDS).safeParse(record.kind);
    if (!kind.success) {
      add("kind", record.kind === undefined ? `is required: ${FIELD_HINTS.kind}` : `unknown kind ${JSON.stringify(record.kind)}: ${FIELD_HINTS.kind}`);
      if (!named) add("name", `is required: ${FIELD_HINTS.name}`);
      return;
    }
    const parsed = parseRule(kind.data, record);
    if (!parsed.ok) {
      for (const issue of parsed.issues) {
        if (issue.code === "unrecognized_keys") {
          const allowed = Object.keys(kindSchemas[kind.data].shape).join(", ");
          for (const key of issue.keys) add(pathText([...issue.path, key]), `unknown field for kind ${kind.data}: the fields are ${allowed}`);
          continue;
        }
        const field = pathText(issue.path);
        const missing = issue.path.length === 1 && !(String(issue.path[0]) in record);
        const hint = hintFor(kind.data, field);
        const message = missing ? `is required for kind ${kind.data}` : issue.message;
        // Custom messages (durations, globs) already say what to write; the others get the field's hint.
        add(field, hint && issue.code !== "custom" ? `${message}: ${hint}` : message);
      }
      return;
    }
    rules.push(parsed.rule);
  });
  if (issues.length) fail(source, issues);
  return rules;
}

function fail(source: string, issues: AlertRulesIssue[]): never {
  throw new AlertRulesError(source, issues);
}

/** Reads and parses an alerts.yml; a missing file is an error that says where it was looked for. */
export function loadRules(path: string): Rule[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new AlertRulesError(path, [{ rule: "(file)", field: "(file)", message: `cannot read the rules file (${reason}): create it or pass --rules PATH` }]);
  }
  return parseRules(text, path);
}
