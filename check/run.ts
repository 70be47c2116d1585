/**
 * `actions-warehouse check` / `npm run check`: compile the Dataform project, type-check every query on
 * ZetaSQL (check/analyze.ts), list the functions each model calls and fail on any without a parity test.
 * The alert rule queries (alerts/check.ts) are type-checked and inventoried the same way.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { checkAlertQueries } from "../alerts/check.js";
import { CompilationError, compileProject, projectRoot, type CompiledGraph } from "../transform/compile.js";
import { checkGraph, formatIssue, type CheckResult } from "./analyze.js";
import { isCertified, uncertifiedMessage } from "./certified-functions.js";
import { withZetaSql, type ZetaSql } from "./zetasql.js";

export interface CheckReport {
  graph?: CompiledGraph;
  result?: CheckResult;
  /** function → models (schema.name) that call it. */
  functions: Map<string, string[]>;
  uncertified: string[];
  /** Every problem, one message each, ready to print. */
  errors: string[];
  ok: boolean;
  durationMs: number;
}

export interface RunCheckOptions {
  projectDir?: string;
  vars?: Record<string, string>;
  /** A running engine to reuse (tests); otherwise one is started and stopped. */
  engine?: ZetaSql;
}

/**
 * Dataform reports a missing ref with the file but no position: find `ref("name")` in the file.
 * Messages look like `Missing dependency detected: Action "a.b.c" depends on "{"name":"x",...}" which does not exist`.
 */
function locateCompilationErrors(projectDir: string, error: CompilationError): string[] {
  // eslint-disable-next-line no-control-regex
  const plain = error.message.replace(/\u001b\[[0-9;]*m/g, "");
  // Dataform also reports the unresolved ref from its own index.js: the per-file line says it better.
  const lines = plain.split("\n").filter((l) => /^\s+\S+: /.test(l) && !/^\s+index\.js: /.test(l));
  if (lines.length === 0) return [plain];
  return lines.map((line) => {
    const m = /^\s+(\S+): (?:Error: )?(.*)$/.exec(line);
    const file = m?.[1] ?? "?";
    const message = m?.[2] ?? line;
    const missing = /depends on "\{"name":"([^"]+)"/.exec(message) ?? /depends on "([^"]+)" which does not exist/.exec(message);
    const path = join(projectDir, file);
    if (missing?.[1] && existsSync(path)) {
      const name = missing[1].split(".").pop() ?? missing[1];
      const text = readFileSync(path, "utf8").split("\n");
      for (const [i, l] of text.entries()) {
        const col = l.search(new RegExp(`ref\\(\\s*["'\`]${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}["'\`]`));
        if (col >= 0) return `${file}:${i + 1}:${col + 1}: ref("${name}"): no such model or source (${message})`;
      }
    }
    return `${file}: ${message}`;
  });
}

export async function runCheck(options: RunCheckOptions = {}): Promise<CheckReport> {
  const started = performance.now();
  const projectDir = options.projectDir ?? projectRoot;
  let graph: CompiledGraph;
  try {
    graph = await compileProject({ projectDir, vars: options.vars ?? {} });
  } catch (error) {
    if (!(error instanceof CompilationError)) throw error;
    const errors = locateCompilationErrors(projectDir, error);
    return { functions: new Map(), uncertified: [], errors, ok: false, durationMs: performance.now() - started };
  }
  // The alert queries (alerts/evaluate.ts) are checked against the same catalog, after the models.
  const analyze = async (engine: ZetaSql) => {
    const graphResult = await checkGraph(engine, graph, { projectDir });
    return { graphResult, alerts: await checkAlertQueries(engine, graphResult.catalog, graph, projectDir) };
  };
  const { graphResult: result, alerts } = options.engine ? await analyze(options.engine) : await withZetaSql(analyze);
  const functions = new Map<string, string[]>();
  for (const action of [...result.actions, ...alerts.queries]) {
    for (const fn of action.functions) functions.set(fn, [...(functions.get(fn) ?? []), action.name]);
  }
  const uncertified = [...functions.keys()].filter((fn) => !isCertified(fn)).sort();
  const errors = [...result.issues.map(formatIssue), ...alerts.errors, ...uncertified.map((fn) => uncertifiedMessage(fn, functions.get(fn) ?? []))];
  return { graph, result, functions, uncertified, errors, ok: errors.length === 0, durationMs: performance.now() - started };
}

/** A short human summary: models checked, functions per model, then errors. */
export function formatCheckReport(report: CheckReport, verbose = false): string {
  const lines: string[] = [];
  const actions = report.result?.actions ?? [];
  if (verbose) {
    for (const a of actions) lines.push(`${a.ok ? "ok  " : "FAIL"} ${a.type.padEnd(11)} ${a.name}  [${a.functions.join(", ")}]`);
  }
  lines.push(
    `checked ${actions.length} actions (${actions.filter((a) => a.type !== "assertion").length} models, ${actions.filter((a) => a.type === "assertion").length} assertions); ` +
      `${report.functions.size} functions used, ${report.uncertified.length} without a parity test; ${Math.round(report.durationMs)} ms`,
  );
  for (const e of report.errors) lines.push(`error: ${e}`);
  return lines.join("\n");
}
