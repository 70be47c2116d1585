/**
 * The local transform runner: compiles the Dataform project with the real CLI, translates every
 * action's BigQuery SQL to DuckDB (transform/translate.ts) and executes the actions in dependency order
 * on a DuckDB file — the embedded stand-in for `dataform run`.
 */
import { existsSync } from "node:fs";
import type { DuckDBConnection } from "@duckdb/node-api";
import { openDuckDb, quoteIdent, type DuckDbSettings } from "../load/duckdb-connection.js";
import { datasets } from "../load/datasets.js";
import { alertTablesDdl } from "../alerts/tables.js";
import { compileProject, type CompiledGraph, type CompiledTable, type Target } from "./compile.js";
import { translate } from "./translate.js";

/**
 * Translations already made, by BigQuery SQL: translating is pure and costs tens of milliseconds of
 * main-thread CPU per query (about 0.6 s for the whole project), which `serve` would otherwise pay on
 * every live transform (each flush) and stall its HTTP answers for. Bounded: a changed project only
 * adds its new queries, and the map is emptied when it grows past the limit.
 */
const translations = new Map<string, string>();
const MAX_TRANSLATIONS = 2_000;

function translateOnce(sql: string): string {
  const hit = translations.get(sql);
  if (hit !== undefined) return hit;
  const out = translate(sql);
  if (translations.size >= MAX_TRANSLATIONS) translations.clear();
  translations.set(sql, out);
  return out;
}

export type ActionType = "view" | "table" | "incremental" | "assertion" | "operation";
export type ActionStatus = "done" | "skipped" | "failed";

export interface ActionResult {
  /** schema.name */
  name: string;
  type: ActionType;
  status: ActionStatus;
  durationMs: number;
  /** Rows in the relation after the action (tables and incremental tables only). */
  rowCount?: number;
  /** For incremental tables: how it was built. */
  mode?: "full" | "incremental";
  /** Rows merged by an incremental build. */
  rowsMerged?: number;
  error?: string;
}

export interface TransformResult {
  actions: ActionResult[];
  durationMs: number;
  compileMs: number;
  ok: boolean;
}

export type ProgressEvent =
  | { kind: "compiled"; actions: number; durationMs: number }
  | { kind: "start"; action: string; type: ActionType; index: number; total: number }
  | { kind: "finish"; result: ActionResult; index: number; total: number };

export interface TransformOptions {
  duckdbPath: string;
  /** Run only actions carrying one of these tags (plus their upstream with includeDependencies). */
  tags?: string[];
  /** Rebuild incremental tables from scratch. */
  fullRefresh?: boolean;
  /** Dataform vars (`--vars`), e.g. { kpi_reference_time: "2026-01-02T00:00:00Z" }. */
  vars?: Record<string, string>;
  includeDependencies?: boolean;
  /** DuckDB settings of the opening (serve bounds threads and memory). */
  duckdb?: DuckDbSettings;
  /** An open connection to the warehouse to run on (left open): `serve` opens DuckDB once per flush. */
  connection?: DuckDBConnection;
  /** Run the selected assertions too (default true). `serve`'s live run leaves them to the full transform. */
  assertions?: boolean;
  onProgress?: (event: ProgressEvent) => void;
}

/** Base class of run failures; `result` holds every action's outcome. */
export class TransformError extends Error {
  result?: TransformResult;
  constructor(message: string) {
    super(message);
    this.name = "TransformError";
  }
}

/** An action's SQL failed on DuckDB. */
export class ActionFailedError extends TransformError {
  constructor(
    readonly actionName: string,
    readonly sql: string,
    override readonly cause: unknown,
  ) {
    super(`action ${actionName} failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = "ActionFailedError";
  }
}

/** `transform` on a warehouse file that does not exist: nothing to build from (and nothing is created). */
export class WarehouseMissingError extends TransformError {
  constructor(readonly duckdbPath: string) {
    super(
      `warehouse ${duckdbPath} does not exist: transform builds the models from a loaded warehouse. Run \`pipeline\` (or \`extract\` then \`load\`) with --duckdb-path ${duckdbPath} first, or pass the --duckdb-path of an existing warehouse.`,
    );
    this.name = "WarehouseMissingError";
  }
}

/** Refuses a warehouse file that does not exist, before anything (a lock, a folder, the file) is created. */
export function requireWarehouse(duckdbPath: string): void {
  if (duckdbPath !== ":memory:" && !existsSync(duckdbPath)) throw new WarehouseMissingError(duckdbPath);
}

export const MAX_ASSERTION_ROWS = 20;

/** An assertion query returned rows. */
export class AssertionFailedError extends TransformError {
  constructor(
    readonly assertionName: string,
    readonly rows: Record<string, unknown>[],
    readonly truncated: boolean,
  ) {
    super(
      `assertion ${assertionName} failed: ${truncated ? `more than ${rows.length}` : rows.length} offending row(s)\n` +
        rows.map((r) => `  ${JSON.stringify(r)}`).join("\n"),
    );
    this.name = "AssertionFailedError";
  }
}

interface Action {
  name: string;
  type: ActionType;
  target: Target;
  tags: string[];
  deps: string[];
  table?: CompiledTable;
  queries: string[];
}

export function targetKey(t: Target): string {
  return `${t.schema}.${t.name}`;
}

function relation(t: Target): string {
  return `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
}

/** Every executable action of the compiled graph (declarations are sources, not actions). */
export function actionsOf(graph: CompiledGraph): Action[] {
  const actions: Action[] = [];
  for (const t of graph.tables) {
    if (t.disabled) continue;
    const type: ActionType = t.enumType === "VIEW" ? "view" : t.enumType === "INCREMENTAL" ? "incremental" : "table";
    actions.push({ name: targetKey(t.target), type, target: t.target, tags: t.tags, deps: t.dependencyTargets.map(targetKey), table: t, queries: [t.query] });
  }
  for (const a of graph.assertions) {
    if (a.disabled) continue;
    actions.push({ name: targetKey(a.target), type: "assertion", target: a.target, tags: a.tags, deps: a.dependencyTargets.map(targetKey), queries: [a.query] });
  }
  for (const o of graph.operations) {
    if (o.disabled) continue;
    actions.push({ name: targetKey(o.target), type: "operation", target: o.target, tags: o.tags, deps: o.dependencyTargets.map(targetKey), queries: o.queries });
  }
  return actions;
}

/** Selects by tags (and upstream when asked), then orders topologically (ties by name). */
export function planActions(actions: Action[], tags?: string[], includeDependencies = false): Action[] {
  const byName = new Map(actions.map((a) => [a.name, a]));
  let selected = new Set(actions.map((a) => a.name));
  if (tags && tags.length > 0) {
    selected = new Set(actions.filter((a) => a.tags.some((t) => tags.includes(t))).map((a) => a.name));
    if (includeDependencies) {
      const stack = [...selected];
      while (stack.length > 0) {
        const name = stack.pop() as string;
        for (const dep of byName.get(name)?.deps ?? []) {
          if (byName.has(dep) && !selected.has(dep)) {
            selected.add(dep);
            stack.push(dep);
          }
        }
      }
    }
  }
  const pending = new Map<string, Set<string>>();
  for (const name of selected) {
    const deps = (byName.get(name)?.deps ?? []).filter((d) => selected.has(d));
    pending.set(name, new Set(deps));
  }
  const ordered: Action[] = [];
  while (pending.size > 0) {
    const ready = [...pending.entries()].filter(([, deps]) => deps.size === 0).map(([n]) => n).sort();
    if (ready.length === 0) throw new TransformError(`dependency cycle among: ${[...pending.keys()].sort().join(", ")}`);
    for (const name of ready) {
      pending.delete(name);
      ordered.push(byName.get(name) as Action);
      for (const deps of pending.values()) deps.delete(name);
    }
  }
  return ordered;
}

async function relationExists(connection: DuckDBConnection, t: Target): Promise<boolean> {
  const reader = await connection.runAndReadAll(
    `SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = '${t.schema.replaceAll("'", "''")}' AND table_name = '${t.name.replaceAll("'", "''")}' AND table_type = 'BASE TABLE'`,
  );
  return Number(reader.getRowObjects()[0]?.n ?? 0) > 0;
}

/**
 * Drops `t` when it exists as the other kind of relation: a model changed from a view to a table (or back)
 * between releases. DuckDB's CREATE OR REPLACE refuses to replace a view with a table ("Existing object
 * ... is of type View"); Dataform's runner on BigQuery likewise drops the relation of the old kind first.
 */
async function dropIfOtherKind(connection: DuckDBConnection, t: Target, wanted: "VIEW" | "BASE TABLE"): Promise<void> {
  const reader = await connection.runAndReadAll(
    `SELECT table_type FROM information_schema.tables WHERE table_schema = '${t.schema.replaceAll("'", "''")}' AND table_name = '${t.name.replaceAll("'", "''")}'`,
  );
  const existing = reader.getRowObjects()[0]?.table_type;
  if (existing === undefined || existing === wanted) return;
  await connection.run(`DROP ${existing === "VIEW" ? "VIEW" : "TABLE"} ${relation(t)}`);
}

async function countRows(connection: DuckDBConnection, t: Target): Promise<number> {
  const reader = await connection.runAndReadAll(`SELECT COUNT(*) AS n FROM ${relation(t)}`);
  return Number(reader.getRowObjects()[0]?.n ?? 0);
}

class Executor {
  private lastSql = "";
  constructor(
    private readonly connection: DuckDBConnection,
    private readonly action: Action,
  ) {}

  async run(sql: string): Promise<void> {
    this.lastSql = sql;
    await this.connection.run(sql);
  }

  async rows(sql: string): Promise<Record<string, unknown>[]> {
    this.lastSql = sql;
    const reader = await this.connection.runAndReadAll(sql);
    return reader.getRowObjectsJson() as Record<string, unknown>[];
  }

  fail(cause: unknown): ActionFailedError {
    return new ActionFailedError(this.action.name, this.lastSql, cause);
  }
}

async function runTable(connection: DuckDBConnection, ex: Executor, action: Action, fullRefresh: boolean): Promise<Partial<ActionResult>> {
  const table = action.table as CompiledTable;
  const target = relation(action.target);
  if (action.type === "view") {
    for (const op of table.preOps) await ex.run(translateOnce(op));
    await dropIfOtherKind(connection, action.target, "VIEW");
    await ex.run(`CREATE OR REPLACE VIEW ${target} AS\n${translateOnce(table.query)}`);
    for (const op of table.postOps) await ex.run(translateOnce(op));
    return {};
  }
  const incremental =
    action.type === "incremental" && !fullRefresh && table.incrementalQuery !== undefined && (await relationExists(connection, action.target));
  if (!incremental) {
    for (const op of table.preOps) await ex.run(translateOnce(op));
    await dropIfOtherKind(connection, action.target, "BASE TABLE");
    await ex.run(`CREATE OR REPLACE TABLE ${target} AS\n${translateOnce(table.query)}`);
    for (const op of table.postOps) await ex.run(translateOnce(op));
    return { rowCount: await countRows(connection, action.target), ...(action.type === "incremental" ? { mode: "full" as const } : {}) };
  }
  // Incremental: materialise the new rows first, then delete-by-key + insert in one transaction.
  for (const op of table.incrementalPreOps) await ex.run(translateOnce(op));
  const staged = quoteIdent(`__incremental_${action.target.name}`);
  await ex.run(`CREATE OR REPLACE TEMP TABLE ${staged} AS\n${translateOnce(table.incrementalQuery as string)}`);
  const merged = Number((await ex.rows(`SELECT COUNT(*) AS n FROM ${staged}`))[0]?.n ?? 0);
  await ex.run("BEGIN TRANSACTION");
  try {
    if (table.uniqueKey.length > 0) {
      const on = table.uniqueKey.map((k) => `${target}.${quoteIdent(k)} IS NOT DISTINCT FROM s.${quoteIdent(k)}`).join(" AND ");
      await ex.run(`DELETE FROM ${target} USING ${staged} AS s WHERE ${on}`);
    }
    await ex.run(`INSERT INTO ${target} BY NAME SELECT * FROM ${staged}`);
    await ex.run("COMMIT");
  } catch (error) {
    await connection.run("ROLLBACK");
    throw error;
  } finally {
    await connection.run(`DROP TABLE IF EXISTS ${staged}`);
  }
  for (const op of table.incrementalPostOps) await ex.run(translateOnce(op));
  return { rowCount: await countRows(connection, action.target), mode: "incremental", rowsMerged: merged };
}

async function runAssertion(ex: Executor, action: Action): Promise<void> {
  // Like Dataform, keep the assertion as a view (in the assertion schema) so failures can be inspected.
  const view = relation(action.target);
  await ex.run(`CREATE OR REPLACE VIEW ${view} AS\n${translateOnce(action.queries[0] ?? "SELECT 1 WHERE FALSE")}`);
  const rows = await ex.rows(`SELECT * FROM ${view} LIMIT ${MAX_ASSERTION_ROWS + 1}`);
  if (rows.length > 0) {
    throw new AssertionFailedError(action.name, rows.slice(0, MAX_ASSERTION_ROWS), rows.length > MAX_ASSERTION_ROWS);
  }
}

/** Compiles and runs the Dataform project on a DuckDB file. Rejects with the first failure (its `result` lists every action). */
export async function runTransform(options: TransformOptions): Promise<TransformResult> {
  requireWarehouse(options.duckdbPath);
  const started = performance.now();
  const graph = await compileProject({ vars: options.vars ?? {} });
  const compileMs = performance.now() - started;
  const plan = planActions(actionsOf(graph), options.tags, options.includeDependencies ?? false).filter((a) => options.assertions !== false || a.type !== "assertion");
  options.onProgress?.({ kind: "compiled", actions: plan.length, durationMs: compileMs });

  const warehouse = options.connection ? { connection: options.connection, closeAsync: async () => {} } : await openDuckDb(options.duckdbPath, options.duckdb);
  const { connection } = warehouse;
  const results: ActionResult[] = [];
  const failed = new Set<string>();
  let firstError: TransformError | undefined;
  try {
    const schemas = new Set(plan.map((a) => a.target.schema));
    for (const schema of schemas) await connection.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    // rpt_alerts reads github_raw.alert_events: a warehouse loaded before load created the alert tables
    // (load/duckdb-connection.ts) gets them empty here, so every model builds without `alerts evaluate`.
    await connection.run(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(datasets.raw)}`);
    for (const ddl of alertTablesDdl("duckdb", (name) => `${quoteIdent(datasets.raw)}.${quoteIdent(name)}`)) await connection.run(ddl);
    for (const [index, action] of plan.entries()) {
      // Translating an action's SQL is synchronous work (until memoized): let a host process that answers
      // requests (`serve`) take a turn between actions instead of waiting for the whole plan's.
      await new Promise((resolve) => setImmediate(resolve));
      const t0 = performance.now();
      const upstreamFailed = action.deps.find((d) => failed.has(d));
      if (upstreamFailed) {
        failed.add(action.name);
        const result: ActionResult = { name: action.name, type: action.type, status: "skipped", durationMs: 0, error: `upstream ${upstreamFailed} failed` };
        results.push(result);
        options.onProgress?.({ kind: "finish", result, index, total: plan.length });
        continue;
      }
      options.onProgress?.({ kind: "start", action: action.name, type: action.type, index, total: plan.length });
      const ex = new Executor(connection, action);
      let result: ActionResult;
      try {
        let extra: Partial<ActionResult> = {};
        if (action.type === "assertion") await runAssertion(ex, action);
        else if (action.type === "operation") for (const q of action.queries) await ex.run(translateOnce(q));
        else extra = await runTable(connection, ex, action, options.fullRefresh ?? false);
        result = { name: action.name, type: action.type, status: "done", durationMs: performance.now() - t0, ...extra };
      } catch (error) {
        const err = error instanceof TransformError ? error : ex.fail(error);
        firstError ??= err;
        failed.add(action.name);
        result = { name: action.name, type: action.type, status: "failed", durationMs: performance.now() - t0, error: err.message };
      }
      results.push(result);
      options.onProgress?.({ kind: "finish", result, index, total: plan.length });
    }
  } finally {
    await warehouse.closeAsync();
  }
  const result: TransformResult = { actions: results, durationMs: performance.now() - started, compileMs, ok: firstError === undefined };
  if (firstError) {
    firstError.result = result;
    throw firstError;
  }
  return result;
}
