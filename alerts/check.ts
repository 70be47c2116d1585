/**
 * `check` for the alert queries: every rule kind's SQL (alerts/evaluate.ts) type-checked by ZetaSQL
 * against the compiled models, like the Dataform models themselves, and the functions it calls listed so
 * `check` fails on one without a parity test. Checked: one representative rule per kind (so every kind's
 * SQL is covered whatever alerts.yml holds) and every enabled rule of the project's alerts.yml (its globs
 * and thresholds shape the SQL). A bad alerts.yml is reported with AlertRulesError's lines.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { datasets } from "../load/datasets.js";
import type { ReportParams } from "../report/data.js";
import type { CompiledGraph } from "../transform/compile.js";
import type { Catalog } from "../check/catalog.js";
import { functionsUsed } from "../check/function-inventory.js";
import type { ZetaSql } from "../check/zetasql.js";
import { alertQueries } from "./evaluate.js";
import { AlertRulesError, loadRules, parseRules } from "./rules.js";
import { RULE_KINDS, type Rule } from "./types.js";

export interface CheckedAlertQuery {
  /** `alerts:<kind>` for the representative rules, `alerts.yml:<rule>` for the project's. */
  name: string;
  functions: string[];
}

export interface AlertCheckResult {
  queries: CheckedAlertQuery[];
  errors: string[];
}

/** A rule of every kind, with globs that exercise the LIKE translation. */
function representativeRules(): Rule[] {
  const threshold = (kind: string) => (kind === "stuck" || kind === "queue_p95" ? "1h" : kind === "consecutive_failures" ? "3" : "0.5");
  const yaml = RULE_KINDS.map(
    (kind) => `  - { name: ${kind}, kind: ${kind}, threshold: ${threshold(kind)}, scope: { repositories: ["acme/*_x", "{a,b}/?"], workflows: [CI], branches: ["main", "release/*"] }${kind === "queue_p95" ? ", runner_labels: [\"self-hosted*\"]" : ""} }`,
  ).join("\n");
  return parseRules(`rules:\n${yaml}\n`, "representative rules");
}

/** GoogleSQL literals for the parameters (the analyzer has none), typed as the BigQuery client sends them. */
export function bindLiterals(sql: string, params: ReportParams): string {
  return sql.replace(/@(\w+)/g, (_m, name: string) => {
    const v = params[name];
    if (v === undefined) throw new Error(`query parameter @${name} has no value`);
    return typeof v === "number" ? String(v) : `'${v.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
  });
}

export async function checkAlertQueries(engine: ZetaSql, catalog: Catalog, graph: CompiledGraph, projectDir: string): Promise<AlertCheckResult> {
  const database = graph.projectConfig.defaultDatabase ?? "";
  const table = (name: string) => `\`${database}.${datasets.models}.${name}\``;
  const errors: string[] = [];
  const queries: CheckedAlertQuery[] = [];
  const sets: { prefix: string; rules: Rule[] }[] = [{ prefix: "alerts:", rules: representativeRules() }];
  const file = join(projectDir, "alerts.yml");
  if (existsSync(file)) {
    try {
      sets.push({ prefix: "alerts.yml:", rules: loadRules(file) });
    } catch (error) {
      if (!(error instanceof AlertRulesError)) throw error;
      errors.push(...error.message.split("\n"));
    }
  }
  // A fixed instant: the SQL's shape does not depend on it.
  const now = new Date("2026-01-01T00:00:00Z");
  for (const { prefix, rules } of sets) {
    for (const q of alertQueries(rules, table, now)) {
      const name = `${prefix}${q.rule}`;
      try {
        const result = await engine.analyze(bindLiterals(q.sql, q.params), catalog.proto());
        queries.push({ name, functions: functionsUsed(result.resolved) });
      } catch (error) {
        errors.push(`${name} (${q.kind} query in alerts/evaluate.ts): ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
      }
    }
  }
  return { queries, errors };
}
