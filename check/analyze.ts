/**
 * `check`: an offline BigQuery dry run. Every compiled query (tables, views, both branches of incremental
 * tables, pre/post operations, assertions, operations) is type-checked by the ZetaSQL analyzer against a
 * catalog of raw tables (schemas/) plus each upstream action's resolved output columns, in dependency
 * order. Errors name the model, its SQLX file and the position.
 */
import { projectRoot, type CompiledGraph } from "../transform/compile.js";
import { actionsOf, planActions, type ActionType } from "../transform/run.js";
import { alertColumns, Catalog, isAlertTable, isRawTable, rawColumns, tableName } from "./catalog.js";
import { functionsUsed } from "./function-inventory.js";
import { sqlxPosition } from "./source-position.js";
import { typeName, type SimpleColumn } from "./zetasql-types.js";
import { ZetaSqlError, type ZetaSql } from "./zetasql.js";

export interface CheckIssue {
  /** schema.name of the action. */
  action: string;
  file: string;
  /** Which query of the action: query, incremental, preOps[0], ... */
  part: string;
  message: string;
  /** Position in the SQLX file (best effort) and in the compiled query. */
  line?: number;
  column?: number;
  compiledLine?: number;
  compiledColumn?: number;
}

export interface CheckedAction {
  name: string;
  type: ActionType;
  file: string;
  /** Full catalog name, project.dataset.table. */
  table: string;
  columns: SimpleColumn[];
  functions: string[];
  /** The compiled queries that were analyzed, by part. */
  queries: Record<string, string>;
  ok: boolean;
}

export interface CheckResult {
  actions: CheckedAction[];
  issues: CheckIssue[];
  catalog: Catalog;
  ok: boolean;
}

export function formatIssue(issue: CheckIssue): string {
  const where = issue.line !== undefined ? `${issue.file}:${issue.line}:${issue.column ?? 1}` : issue.file;
  const compiled = issue.compiledLine !== undefined ? ` (compiled ${issue.part} ${issue.compiledLine}:${issue.compiledColumn ?? 1})` : ` (${issue.part})`;
  return `${where}: ${issue.action}${compiled}: ${issue.message}`;
}

export interface CheckOptions {
  projectDir?: string;
}

/** Type-checks the compiled graph. Never throws for SQL errors: they are returned as issues. */
export async function checkGraph(engine: ZetaSql, graph: CompiledGraph, options: CheckOptions = {}): Promise<CheckResult> {
  const projectDir = options.projectDir ?? projectRoot;
  const database = graph.projectConfig.defaultDatabase;
  const catalog = new Catalog();
  const issues: CheckIssue[] = [];

  for (const d of graph.declarations) {
    const name = tableName(d.target, database);
    if (isRawTable(d.target.name)) catalog.set(name, rawColumns(d.target.name));
    else if (isAlertTable(d.target.name)) catalog.set(name, alertColumns(d.target.name));
    else issues.push({ action: `${d.target.schema}.${d.target.name}`, file: d.fileName ?? "?", part: "declaration", message: `declared source ${name} has no schema in schemas/raw-tables.ts or alerts/tables.ts` });
  }

  const files = new Map<string, string>();
  for (const t of [...graph.tables, ...graph.assertions, ...graph.operations]) files.set(`${t.target.schema}.${t.target.name}`, t.fileName ?? "?");

  const failed = new Set<string>();
  const checked: CheckedAction[] = [];
  for (const action of planActions(actionsOf(graph))) {
    const file = files.get(action.name) ?? "?";
    const table = tableName(action.target, database);
    const upstream = action.deps.find((d) => failed.has(d));
    const queries: Record<string, string> = {};
    if (upstream) {
      failed.add(action.name);
      issues.push({ action: action.name, file, part: "query", message: `not checked: upstream ${upstream} has errors` });
      checked.push({ name: action.name, type: action.type, file, table, columns: [], functions: [], queries, ok: false });
      continue;
    }
    const functions = new Set<string>();
    let columns: SimpleColumn[] = [];
    let ok = true;
    const analyze = async (part: string, sql: string): Promise<SimpleColumn[] | undefined> => {
      queries[part] = sql;
      try {
        const result = await engine.analyze(sql, catalog.proto());
        for (const f of functionsUsed(result.resolved)) functions.add(f);
        return result.columns;
      } catch (error) {
        ok = false;
        if (!(error instanceof ZetaSqlError)) throw error;
        const issue: CheckIssue = { action: action.name, file, part, message: error.message.replace(/\s*\[at \d+:\d+\]\s*$/, "") };
        if (error.line !== undefined && error.column !== undefined) {
          const pos = sqlxPosition(projectDir, file, sql, error.line, error.column);
          Object.assign(issue, { line: pos.line, column: pos.column, compiledLine: error.line, compiledColumn: error.column });
        }
        issues.push(issue);
        return undefined;
      }
    };

    const t = action.table;
    if (t) {
      for (const [i, op] of t.preOps.entries()) await analyze(`preOps[${i}]`, op);
      columns = (await analyze("query", t.query)) ?? [];
      if (ok) catalog.set(table, columns);
      if (action.type === "incremental" && t.incrementalQuery !== undefined) {
        // The incremental branch reads the table itself (self()): analyze it with the full build's schema.
        for (const [i, op] of t.incrementalPreOps.entries()) await analyze(`incrementalPreOps[${i}]`, op);
        const incremental = await analyze("incremental", t.incrementalQuery);
        if (incremental && ok) {
          const full = columns.map((c) => `${c.name} ${typeName(c.type)}`).join(", ");
          const inc = incremental.map((c) => `${c.name} ${typeName(c.type)}`).join(", ");
          if (full !== inc) {
            ok = false;
            issues.push({ action: action.name, file, part: "incremental", message: `incremental branch returns (${inc}) but the full build returns (${full})` });
          }
        }
        for (const [i, op] of t.incrementalPostOps.entries()) await analyze(`incrementalPostOps[${i}]`, op);
      }
      for (const [i, op] of t.postOps.entries()) await analyze(`postOps[${i}]`, op);
    } else if (action.type === "assertion") {
      columns = (await analyze("query", action.queries[0] ?? "SELECT 1")) ?? [];
      if (ok) catalog.set(table, columns);
    } else {
      for (const [i, q] of action.queries.entries()) await analyze(`queries[${i}]`, q);
    }
    if (!ok) failed.add(action.name);
    checked.push({ name: action.name, type: action.type, file, table, columns, functions: [...functions].sort(), queries, ok });
  }
  return { actions: checked, issues, catalog, ok: issues.length === 0 };
}
