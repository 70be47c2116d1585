/**
 * Model tests without BigQuery: Dataform `test` blocks (definitions/tests/) and, for incremental models
 * (which Dataform cannot test), JSON fixtures (test/fixtures/model-tests/*.json), evaluated on the ZetaSQL
 * reference engine. Each Dataform test's query also runs on DuckDB through transform/translate.ts and
 * must give ZetaSQL's rows; then the whole project goes through the parity run (check/parity.ts).
 *
 * Fixture format (JSON):
 *   { "model": "actions_warehouse.fct_workflow_runs", "branch": "full" | "incremental",
 *     "description": "...", "inputs": { "<schema>.<table>": [ {column: value, ...} ] },
 *     "expected": [ {column: value, ...} ] }
 * Input tables not listed are empty; missing input columns are NULL; the incremental branch reads the
 * model's own rows from inputs["<model>"]. Expected rows name the columns under test (a subset is fine);
 * rows are compared order-insensitively. Values: timestamps ISO-8601, dates YYYY-MM-DD, arrays as arrays.
 */
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { z } from "zod";
import { openDuckDb } from "../load/duckdb-connection.js";
import { compileProject, projectRoot, CompilationError } from "../transform/compile.js";
import { translate } from "../transform/translate.js";
import { checkGraph, formatIssue, type CheckResult } from "./analyze.js";
import { tableName } from "./catalog.js";
import { formatParity, runParity, type ParityResult, type RawFixture } from "./parity.js";
import { referenceRelation, duckRelation } from "./relations.js";
import { compareRelations, toValueProto, type Plain, type Relation } from "./values.js";
import type { TableContent } from "./zetasql-types.js";
import { withZetaSql, type ZetaSql } from "./zetasql.js";

const execFileAsync = promisify(execFile);

/** Model tests are deterministic: "now" is pinned unless the caller sets it. */
export const MODEL_TEST_VARS = { kpi_reference_time: "2026-01-02T00:00:00Z" };

const dataformTest = z.object({ name: z.string(), fileName: z.string().optional(), testQuery: z.string(), expectedOutputQuery: z.string() });
type DataformTest = z.infer<typeof dataformTest>;

const fixtureSchema = z.object({
  model: z.string(),
  branch: z.enum(["full", "incremental"]),
  description: z.string().optional(),
  inputs: z.record(z.string(), z.array(z.record(z.string(), z.unknown()))).default({}),
  expected: z.array(z.record(z.string(), z.unknown())),
});
type Fixture = z.infer<typeof fixtureSchema>;

export interface ModelTestResult {
  name: string;
  kind: "dataform" | "fixture";
  file: string;
  /** The model under test (schema.name) when known. */
  model?: string;
  ok: boolean;
  message?: string;
}

export interface ModelTestReport {
  tests: ModelTestResult[];
  parity?: ParityResult;
  emptyParity?: ParityResult;
  errors: string[];
  ok: boolean;
  durationMs: number;
}

/** `dataform compile --json` keeps the tests, which transform/compile.ts does not type. */
async function compiledTests(projectDir: string, vars: Record<string, string>): Promise<DataformTest[]> {
  const args = ["compile", "--json", "--vars", Object.entries(vars).map(([k, v]) => `${k}=${v}`).join(",")];
  const { stdout } = await execFileAsync(join(projectDir, "node_modules", ".bin", "dataform"), args, { cwd: projectDir, maxBuffer: 256 * 1024 * 1024 });
  return z.object({ tests: z.array(dataformTest).default([]) }).parse(JSON.parse(stdout)).tests;
}

/** The dataset a test block tests: the FROM of its query is the model with inputs inlined, so read it from the file. */
function testedModel(projectDir: string, file: string | undefined): string | undefined {
  if (!file || !existsSync(join(projectDir, file))) return undefined;
  const text = readFileSync(join(projectDir, file), "utf8");
  const m = /dataset:\s*(?:"([^"]+)"|\{\s*schema:\s*"([^"]+)",\s*name:\s*"([^"]+)"\s*\})/.exec(text);
  if (!m) return undefined;
  return m[1] ? `actions_warehouse.${m[1]}` : `${m[2]}.${m[3]}`;
}

/** Puts `actual`'s columns in the order of `expected` (Dataform compares by name). */
function byName(expected: Relation, actual: Relation): Relation {
  const order = expected.columns.map((c) => actual.columns.findIndex((a) => a.name === c.name));
  if (order.some((i) => i < 0) || actual.columns.length !== expected.columns.length) return actual;
  return { columns: order.map((i) => actual.columns[i] as { name: string; type: string }), rows: actual.rows.map((r) => order.map((i) => r[i] ?? null)) };
}

async function runDataformTest(engine: ZetaSql, t: DataformTest, projectDir: string): Promise<ModelTestResult> {
  const base = { name: t.name, kind: "dataform" as const, file: t.fileName ?? "?", model: testedModel(projectDir, t.fileName) };
  try {
    // No catalog: every table the model reads must be an `input` of the test, as in Dataform.
    const actual = await referenceRelation(engine, t.testQuery);
    const expected = await referenceRelation(engine, t.expectedOutputQuery);
    const diff = compareRelations(expected, byName(expected, actual), { ignoreTypes: true, loose: true, labels: ["expected", "ZetaSQL"] });
    if (diff) return { ...base, ok: false, message: diff.message };
    const duck = await openDuckDb(":memory:");
    try {
      const translated = await duckRelation(duck.connection, translate(t.testQuery));
      const parity = compareRelations(actual, translated, { labels: ["ZetaSQL", "DuckDB"] });
      if (parity) return { ...base, ok: false, message: `parity: ${parity.message}` };
    } finally {
      duck.close();
    }
    return { ...base, ok: true };
  } catch (error) {
    return { ...base, ok: false, message: (error as Error).message };
  }
}

function fixtureContent(check: CheckResult, fixture: Fixture, database: string | undefined): Record<string, TableContent> {
  const content: Record<string, TableContent> = {};
  for (const [key, rows] of Object.entries(fixture.inputs)) {
    const [schema, name] = key.split(".");
    const full = tableName({ database, schema: schema ?? "", name: name ?? "" });
    const table = check.catalog.get(full);
    if (!table) throw new Error(`input ${key}: no such table or model`);
    const known = new Set(table.column.map((c) => c.name));
    content[full] = {
      tableData: {
        row: rows.map((row, i) => {
          const extra = Object.keys(row).filter((k) => !known.has(k));
          if (extra.length > 0) throw new Error(`input ${key}[${i}]: unknown column(s) ${extra.join(", ")}`);
          return { cell: table.column.map((c) => toValueProto(row[c.name] ?? (c.name === "payload" ? {} : null), c.type, `${key}[${i}].${c.name}`)) };
        }),
      },
    };
  }
  for (const t of check.catalog.proto().table) content[t.name] ??= { tableData: { row: [] } };
  return content;
}

async function runFixture(engine: ZetaSql, check: CheckResult, database: string | undefined, file: string, fixture: Fixture): Promise<ModelTestResult> {
  const base = { name: file.replace(/^.*\//, "").replace(/\.json$/, ""), kind: "fixture" as const, file, model: fixture.model };
  try {
    const action = check.actions.find((a) => a.name === fixture.model);
    if (!action) throw new Error(`model ${fixture.model} not found`);
    const sql = action.queries[fixture.branch === "full" ? "query" : "incremental"];
    if (!sql) throw new Error(`model ${fixture.model} has no ${fixture.branch} query`);
    const actual = await referenceRelation(engine, sql, check.catalog, fixtureContent(check, fixture, database));
    const columns = [...new Set(fixture.expected.flatMap((r) => Object.keys(r)))];
    const missing = columns.filter((c) => !actual.columns.some((a) => a.name === c));
    if (missing.length > 0) throw new Error(`expected column(s) ${missing.join(", ")} are not outputs of ${fixture.model}`);
    const index = columns.map((c) => actual.columns.findIndex((a) => a.name === c));
    const projected: Relation = { columns: columns.map((name) => ({ name, type: "" })), rows: actual.rows.map((r) => index.map((i) => r[i] ?? null)) };
    const expected: Relation = { columns: projected.columns, rows: fixture.expected.map((r) => columns.map((c) => (r[c] ?? null) as Plain)) };
    const diff = compareRelations(expected, normalizeTimestamps(projected, expected), { ignoreTypes: true, loose: true, labels: ["expected", "ZetaSQL"] });
    return diff ? { ...base, ok: false, message: diff.message } : { ...base, ok: true };
  } catch (error) {
    return { ...base, ok: false, message: (error as Error).message };
  }
}

/** Expected timestamps may be written `2026-01-01T10:00:00Z`: compare them at microsecond precision. */
function normalizeTimestamps(actual: Relation, expected: Relation): Relation {
  const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
  for (const row of expected.rows) {
    row.forEach((v, i) => {
      if (typeof v === "string" && iso.test(v)) row[i] = v.replace(/(?:\.(\d+))?Z$/, (_m, f: string | undefined) => `.${(f ?? "").padEnd(6, "0")}Z`);
    });
  }
  return actual;
}

export interface RunModelTestsOptions {
  projectDir?: string;
  vars?: Record<string, string>;
  engine?: ZetaSql;
  /** Folder of incremental-model fixtures (default test/fixtures/model-tests). */
  fixturesDir?: string;
  /** Raw data for the parity run (default test/fixtures/parity/raw.json); false skips parity. */
  parityFixture?: RawFixture | false;
}

export async function runModelTests(options: RunModelTestsOptions = {}): Promise<ModelTestReport> {
  const started = performance.now();
  const projectDir = options.projectDir ?? projectRoot;
  const vars = { ...MODEL_TEST_VARS, ...(options.vars ?? {}) };
  const fixturesDir = options.fixturesDir ?? join(projectRoot, "test", "fixtures", "model-tests");
  const run = async (engine: ZetaSql): Promise<ModelTestReport> => {
    let graph;
    try {
      graph = await compileProject({ projectDir, vars });
    } catch (error) {
      if (error instanceof CompilationError) return { tests: [], errors: [error.message], ok: false, durationMs: performance.now() - started };
      throw error;
    }
    const check = await checkGraph(engine, graph, { projectDir });
    if (!check.ok) return { tests: [], errors: check.issues.map(formatIssue), ok: false, durationMs: performance.now() - started };
    const tests: ModelTestResult[] = [];
    for (const t of await compiledTests(projectDir, vars)) tests.push(await runDataformTest(engine, t, projectDir));
    const files = existsSync(fixturesDir) ? readdirSync(fixturesDir).filter((f) => f.endsWith(".json")).sort() : [];
    for (const f of files) {
      const path = join(fixturesDir, f);
      const parsed = fixtureSchema.safeParse(JSON.parse(readFileSync(path, "utf8")));
      if (!parsed.success) {
        tests.push({ name: f, kind: "fixture", file: path, ok: false, message: `bad fixture: ${parsed.error.message}` });
        continue;
      }
      tests.push(await runFixture(engine, check, graph.projectConfig.defaultDatabase, path, parsed.data));
    }
    let parity: ParityResult | undefined;
    let emptyParity: ParityResult | undefined;
    if (options.parityFixture !== false) {
      const raw = options.parityFixture ?? (JSON.parse(readFileSync(join(projectRoot, "test", "fixtures", "parity", "raw.json"), "utf8")) as RawFixture);
      parity = await runParity(engine, graph, check, raw);
      emptyParity = await runParity(engine, graph, check, {});
    }
    const errors = [
      ...tests.filter((t) => !t.ok).map((t) => `${t.file}: ${t.name}: ${t.message ?? "failed"}`),
      ...[...(parity?.models ?? []), ...(emptyParity?.models ?? [])].filter((m) => m.error || m.difference).map((m) => `parity: ${formatParity(m)}`),
    ];
    return { tests, ...(parity ? { parity } : {}), ...(emptyParity ? { emptyParity } : {}), errors, ok: errors.length === 0, durationMs: performance.now() - started };
  };
  return options.engine ? run(options.engine) : withZetaSql(run);
}

export function formatModelTests(report: ModelTestReport): string {
  const lines = report.tests.map((t) => `${t.ok ? "ok  " : "FAIL"} ${t.kind.padEnd(8)} ${t.name}${t.model ? ` (${t.model})` : ""}`);
  const models = new Set(report.tests.filter((t) => t.ok && t.model).map((t) => t.model));
  const parityModels = (report.parity?.models ?? []).filter((m) => !m.name.startsWith("actions_assertions.") && m.part === "query");
  lines.push(
    `${report.tests.filter((t) => t.ok).length}/${report.tests.length} model tests passed on ZetaSQL (${models.size} models); ` +
      `parity ZetaSQL vs DuckDB: ${parityModels.filter((m) => !m.error && !m.difference).length}/${parityModels.length} models identical; ${Math.round(report.durationMs)} ms`,
  );
  for (const e of report.errors) lines.push(`error: ${e}`);
  return lines.join("\n");
}
