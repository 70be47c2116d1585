/**
 * Reads one workflow file with GitHub's own parser (`@actions/workflow-parser`, the one behind the
 * Actions language server): `parseWorkflow` checks the YAML against the workflow schema, and
 * `convertWorkflowTemplate` resolves the jobs (needs, strategy, runs-on, environment, uses) and reports
 * graph errors (a job needing a job that does not exist, cycles). Any error makes the file invalid: its
 * messages are kept (they name the file, line and column) and no job is reported.
 *
 * Values are kept as written: a static value as JSON, an expression as its source text (`${{ matrix.os }}`).
 */
import {
  convertWorkflowTemplate, isBasicExpression, isBoolean, isMapping, isNumber, isSequence, isString, NoOperationTraceWriter, parseWorkflow,
} from "@actions/workflow-parser";
import type { TemplateToken } from "@actions/workflow-parser/templates/tokens/template-token";
import { z } from "zod";

export type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };

/** One job of the file, as stored in `workflow_definitions.jobs`. */
export const parsedJobSchema = z.object({
  job_id: z.string(),
  /** The `name:` as written (an expression keeps its `${{ }}` source); null when the file sets none. */
  name: z.string().nullable(),
  needs: z.array(z.string()),
  runs_on: z.unknown().nullable(),
  environment: z.string().nullable(),
  /** The called reusable workflow (`owner/repo/path@ref` or `./path`), null for a job with steps. */
  uses: z.string().nullable(),
  /** `strategy.matrix` as written, null without a matrix. */
  matrix: z.unknown().nullable(),
  /** The `if:` as written, null without one. */
  if: z.string().nullable(),
});
export type ParsedJob = z.infer<typeof parsedJobSchema>;

export interface ParsedWorkflow {
  valid: boolean;
  errors: string[];
  workflowName: string | null;
  triggers: string[];
  workflowRunSources: string[];
  jobs: ParsedJob[];
  edges: { from: string; to: string }[];
}

/** A token as plain JSON: literals as values, expressions as their source text. */
export function plain(token: TemplateToken | undefined): Plain {
  if (token === undefined) return null;
  if (isString(token)) return token.value;
  if (isNumber(token)) return token.value;
  if (isBoolean(token)) return token.value;
  if (isBasicExpression(token)) return token.source ?? `\${{ ${token.expression} }}`;
  if (isSequence(token)) return [...token].map((t) => plain(t));
  if (isMapping(token)) {
    const out: { [key: string]: Plain } = {};
    for (const pair of token) out[String(plain(pair.key))] = plain(pair.value);
    return out;
  }
  return null;
}

const text = (token: TemplateToken | undefined): string | null => {
  const v = plain(token);
  return v === null ? null : typeof v === "string" ? v : JSON.stringify(v);
};

/** The `if:` as the file wrote it: the converter wraps it in `success() && (...)`; its source is the original. */
function condition(token: TemplateToken | undefined): string | null {
  if (token === undefined) return null;
  if (isBasicExpression(token)) {
    if (token.expression === "success()") return null; // the default the converter adds
    const source = token.source ?? token.originalExpressions?.[0]?.source;
    const m = /^success\(\) && \((.*)\)$/s.exec(token.expression);
    return source ?? m?.[1] ?? token.expression;
  }
  return text(token);
}

function rootName(root: TemplateToken | undefined): string | null {
  if (root === undefined || !isMapping(root)) return null;
  const name = root.find("name");
  return name === undefined ? null : text(name);
}

/** Parses one workflow file; never throws for bad input (the errors say what is wrong). */
export async function parseWorkflowFile(path: string, content: string): Promise<ParsedWorkflow> {
  const empty = { workflowName: null, triggers: [], workflowRunSources: [], jobs: [], edges: [] };
  const parsed = parseWorkflow({ name: path, content }, new NoOperationTraceWriter());
  const errorsNow = () => parsed.context.errors.getErrors().map((e) => e.message);
  if (parsed.value === undefined || errorsNow().length > 0) return { valid: false, errors: errorsNow().length ? errorsNow() : [`${path}: not a workflow`], ...empty };
  const template = await convertWorkflowTemplate(parsed.context, parsed.value);
  const errors = [...new Set([...errorsNow(), ...(template.errors ?? []).map((e) => e.Message)])];
  if (errors.length > 0) return { valid: false, errors, ...empty, workflowName: rootName(parsed.value) };
  const root = parsed.value;
  const written = isMapping(root) ? root.find("jobs") : undefined;
  /** The `name:` the file wrote for a job (the converter names an unnamed job after its id). */
  const writtenName = (id: string): string | null => {
    const job = written !== undefined && isMapping(written) ? written.find(id) : undefined;
    const name = job !== undefined && isMapping(job) ? job.find("name") : undefined;
    return name === undefined ? null : text(name);
  };
  const jobs = template.jobs.map((j): ParsedJob => {
    const strategy = j.strategy;
    const matrix = strategy !== undefined && isMapping(strategy) ? plain(strategy.find("matrix")) : null;
    return {
      job_id: j.id.value,
      name: writtenName(j.id.value),
      needs: (j.needs ?? []).map((n) => n.value),
      runs_on: j.type === "job" ? plain(j["runs-on"]) : null,
      environment: j.type === "job" && j.environment !== undefined ? text(isMapping(j.environment) ? (j.environment.find("name") ?? j.environment) : j.environment) : null,
      uses: j.type === "reusableWorkflowJob" ? j.ref.value : null,
      matrix,
      if: condition(j.if),
    };
  });
  const events = template.events;
  const sources = events.workflow_run?.workflows ?? [];
  return {
    valid: true,
    errors: [],
    workflowName: rootName(parsed.value),
    triggers: Object.keys(events),
    workflowRunSources: [...sources],
    jobs,
    edges: jobs.flatMap((j) => j.needs.map((n) => ({ from: n, to: j.job_id }))),
  };
}
