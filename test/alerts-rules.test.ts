/**
 * alerts.yml parsing (alerts/rules.ts) and scope globs (alerts/globs.ts).
 *
 * Bad files: each of an unknown kind, a missing threshold, a bad glob and a duplicate name must stop with
 * one AlertRulesError whose line names the rule and the field and says what to write. Globs: the LIKE
 * translation run on DuckDB must agree with picomatch (the documented semantics) on names full of the
 * characters LIKE treats specially.
 */
import { readFileSync } from "node:fs";
import { DuckDBInstance } from "@duckdb/node-api";
import { describe, expect, it } from "vitest";
import { globCondition, globMatcher, matchesEverything, validateGlob } from "../alerts/globs.js";
import { AlertRulesError, loadRules, parseDuration, parseRules } from "../alerts/rules.js";
import { RULE_KINDS } from "../alerts/types.js";

function errorOf(text: string): AlertRulesError {
  try {
    parseRules(text, "alerts.yml");
  } catch (error) {
    if (error instanceof AlertRulesError) return error;
    throw error;
  }
  throw new Error("expected an AlertRulesError");
}

describe("alerts.yml rules", () => {
  it("parses every kind with its defaults, snake_case fields and durations", () => {
    const rules = parseRules(
      `rules:
  - name: ci-failures
    kind: failure_rate
    threshold: 0.25
    window: 24h
    min_runs: 4
    for: 15m
    scope: { repositories: ["acme/*"], workflows: ["CI", "build_{linux,mac}"], branches: ["main"] }
  - { name: slow, kind: duration_p95_regression, threshold: 1.5, window: 7d }
  - { name: queue, kind: queue_p95, threshold: 10m, runner_labels: ["self-hosted*"], min_jobs: 3, severity: critical, channels: [slack, webhook] }
  - { name: red-main, kind: consecutive_failures, threshold: 3 }
  - { name: stuck, kind: stuck, threshold: 2h, repeat_interval: 1h }
  - { name: cost, kind: cost_spike, threshold: 2, trailing_days: 14, min_usd: 5, enabled: false }
  - { name: flaky, kind: flaky_rate, threshold: 0.1 }
`,
      "alerts.yml",
    );
    expect(rules.map((r) => r.kind)).toEqual([...RULE_KINDS]);
    const [fr, dr, q, cf, st, cs, fl] = rules;
    expect(fr).toEqual({
      name: "ci-failures",
      kind: "failure_rate",
      description: undefined,
      scope: { repositories: ["acme/*"], workflows: ["CI", "build_{linux,mac}"], branches: ["main"] },
      severity: "warning",
      channels: ["slack"],
      forSeconds: 900,
      repeatIntervalSeconds: 4 * 3600,
      enabled: true,
      threshold: 0.25,
      windowSeconds: 86_400,
      minRuns: 4,
    });
    expect(dr).toMatchObject({ ratio: 1.5, windowSeconds: 7 * 86_400, minRuns: 10, scope: { repositories: ["*"], workflows: ["*"], branches: ["*"] } });
    expect(q).toMatchObject({ thresholdSeconds: 600, windowSeconds: 3600, runnerLabels: ["self-hosted*"], minJobs: 3, severity: "critical", channels: ["slack", "webhook"] });
    // Runs do not carry the repository's default branch: consecutive_failures defaults to main and master.
    expect(cf).toMatchObject({ count: 3, scope: { branches: ["main", "master"] } });
    expect(st).toMatchObject({ thresholdSeconds: 7200, repeatIntervalSeconds: 3600 });
    expect(cs).toMatchObject({ ratio: 2, trailingDays: 14, minUsd: 5, enabled: false });
    expect(fl).toMatchObject({ threshold: 0.1, windowSeconds: 7 * 86_400, minRuns: 10 });
  });

  it("reads durations in s, m, h, d, w and combinations, and refuses anything else", () => {
    expect(parseDuration("30m")).toBe(1800);
    expect(parseDuration("1h30m")).toBe(5400);
    expect(parseDuration("7d")).toBe(604_800);
    expect(parseDuration("2w")).toBe(1_209_600);
    expect(parseDuration(90)).toBe(90);
    expect(parseDuration("90")).toBe(90);
    for (const bad of ["4 hours", "1.5h", "-1h", "h", "", 1.5, true]) expect(parseDuration(bad), String(bad)).toBeUndefined();
  });

  it("an unknown kind names the rule and the field kind, and lists the kinds", () => {
    const e = errorOf(`rules:\n  - { name: ci, kind: failure_ratio, threshold: 0.2 }\n`);
    expect(e.issues).toEqual([{ rule: '"ci"', field: "kind", message: expect.stringContaining('unknown kind "failure_ratio": use one of failure_rate, duration_p95_regression') }]);
    expect(e.message).toContain('rule "ci", field kind: unknown kind "failure_ratio"');
  });

  it("a missing threshold names the rule and field threshold and says what to write for that kind", () => {
    const e = errorOf(`rules:\n  - { name: ci, kind: failure_rate, window: 24h }\n  - { name: q, kind: queue_p95 }\n`);
    expect(e.issues.map((i) => [i.rule, i.field])).toEqual([
      ['"ci"', "threshold"],
      ['"q"', "threshold"],
    ]);
    expect(e.issues[0]?.message).toMatch(/is required for kind failure_rate: .*fraction above 0, at most 1, e\.g\. threshold: 0\.25/);
    expect(e.issues[1]?.message).toMatch(/is required for kind queue_p95: .*a duration, e\.g\. threshold: 10m/);
  });

  it("a bad glob names the rule and the exact scope entry, and says what to use instead", () => {
    const e = errorOf(`rules:\n  - name: red\n    kind: consecutive_failures\n    threshold: 3\n    scope: { branches: [main, "release/[0-9]*"] }\n  - { kind: stuck, threshold: 1h, scope: { repositories: ["!acme/legacy"] } }\n`);
    expect(e.issues).toHaveLength(3);
    expect(e.issues[0]).toMatchObject({ rule: '"red"', field: "scope.branches[1]" });
    expect(e.issues[0]?.message).toMatch(/^bad glob "release\/\[0-9\]\*": character classes .* use `\?` for one character/);
    // A rule without a name is named by its index; the missing name is reported too.
    expect(e.issues.slice(1).map((i) => [i.rule, i.field])).toEqual([
      ["rules[1]", "name"],
      ["rules[1]", "scope.repositories[0]"],
    ]);
    expect(e.issues[2]?.message).toMatch(/negation .* list the names to include instead/);
  });

  it("a duplicate name names both rules' positions", () => {
    const e = errorOf(`rules:\n  - { name: ci, kind: stuck, threshold: 1h }\n  - { name: ci, kind: failure_rate, threshold: 0.5 }\n`);
    expect(e.issues).toEqual([{ rule: '"ci"', field: "name", message: "duplicate name: rules[0] is also called ci; give every rule a unique name" }]);
  });

  it("reports every problem of a file at once, unknown fields and wrong types included", () => {
    const e = errorOf(`rules:\n  - { name: a, kind: failure_rate, threshold: 1.5, windw: 1h, severity: loud }\n  - { name: b, kind: stuck, threshold: soon, channels: [] }\n  - { name: c, kind: flaky_rate, threshold: 0 }\n`);
    const lines = e.message.split("\n").slice(1);
    expect(lines).toHaveLength(e.issues.length);
    expect(e.issues.map((i) => `${i.rule} ${i.field}`).sort()).toEqual(['"a" severity', '"a" threshold', '"a" windw', '"b" channels', '"b" threshold', '"c" threshold'].sort());
    expect(e.issues.find((i) => i.field === "windw")?.message).toMatch(/unknown field for kind failure_rate: the fields are .*window/);
    expect(e.issues.find((i) => i.rule === '"b"' && i.field === "threshold")?.message).toMatch(/"soon" is not a duration: write a duration like 30m/);
    for (const line of lines) expect(line).toMatch(/^ {2}rule ("[a-z]+"|rules\[\d+\]), field [\w.[\]]+: .+/);
  });

  it("refuses a file without a rules list, and YAML syntax errors", () => {
    expect(errorOf(`- name: x\n`).issues[0]).toMatchObject({ field: "rules" });
    expect(errorOf(`rules:\n  - { name: x, kind: stuck\n`).issues[0]?.message).toMatch(/fix the YAML syntax/);
    expect(errorOf(`rules:\n  - name: x\n    name: y\n    kind: stuck\n    threshold: 1h\n`).issues[0]?.message).toMatch(/fix the YAML syntax/);
    expect(parseRules("", "empty.yml")).toEqual([]);
    expect(() => loadRules("/nonexistent/alerts.yml")).toThrow(/cannot read the rules file .*: create it or pass --rules PATH/);
  });

  it("the shipped alerts.yml parses, has every kind, and every rule is documented in docs/alerts.md", () => {
    const rules = loadRules("alerts.yml");
    expect(new Set(rules.map((r) => r.kind))).toEqual(new Set(RULE_KINDS));
    const docs = readFileSync("docs/alerts.md", "utf8");
    for (const r of rules) expect(docs, r.name).toContain(`\`${r.name}\``);
    for (const kind of RULE_KINDS) expect(docs, kind).toContain(`### \`${kind}\``);
  });
});

describe("scope globs", () => {
  const names = [
    "acme/api",
    "acme/web_app",
    "acme/webxapp",
    "acme/100%",
    "acme/1000",
    "other/api",
    "release/1.2",
    "release/1.2/hotfix",
    "main",
    "mainline",
    "feature_x",
    "featureyx",
    "CI",
    "ci",
    ".hidden",
    "ünïcode",
  ];
  const globs = [
    ["acme/*"],
    ["acme/web_app"],
    ["acme/100%"],
    ["*_*"],
    ["release/*"],
    ["release/?.?"],
    ["main"],
    ["{main,release/*}"],
    ["ma{in,x{a,b}}"],
    ["feature_?"],
    ["CI"],
    ["*"],
    ["**"],
    ["?"],
    ["???????"],
    ["*.hidden", "other/*"],
    ["ü*"],
  ];

  it("the SQL LIKE translation matches exactly the names picomatch (bash: true) matches, on DuckDB; NULL only for match-all", async () => {
    const instance = await DuckDBInstance.create(":memory:");
    const connection = await instance.connect();
    try {
      await connection.run("CREATE TABLE n (name VARCHAR)");
      for (const name of names) await connection.run("INSERT INTO n VALUES ($n)", { n: name });
      await connection.run("INSERT INTO n VALUES (NULL)");
      for (const g of globs) {
        const cond = globCondition("name", g, "p");
        const sql = `SELECT COALESCE(name, '') AS name FROM n WHERE ${cond.sql.replace(/@(\w+)/g, "$$$1")} ORDER BY 1`;
        const rows = (await connection.runAndReadAll(sql, cond.params)).getRowObjectsJson().map((r) => String(r.name));
        const match = globMatcher(g);
        // The NULL row (read as '') is in scope only for a match-all glob: `*` means "no filter".
        const expected = [...names.filter((n) => match(n)), ...(matchesEverything(g) ? [""] : [])].sort();
        expect(rows.sort(), `${JSON.stringify(g)} → ${cond.sql} ${JSON.stringify(cond.params)}`).toEqual(expected);
      }
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });

  it("patterns are parameters, never part of the SQL text; a match-all glob needs no condition", () => {
    const cond = globCondition("repository", ["acme/x'; DROP TABLE t; --"], "repo");
    expect(cond.sql).not.toContain("DROP");
    expect(Object.values(cond.params)).toEqual(["acme/x'; DROP TABLE t; --"]);
    expect(globCondition("repository", ["*"], "repo")).toEqual({ sql: "TRUE", params: {} });
    expect(globCondition("repository", ["acme/*", "**"], "repo")).toEqual({ sql: "TRUE", params: {} });
    expect(Object.keys(globCondition("b", ["{a,b,c}"], "br").params)).toEqual(["br_0", "br_1", "br_2"]);
  });

  it("refuses what LIKE cannot express, saying what to write", () => {
    for (const [g, reason] of [
      ["[ab]*", /character classes/],
      ["@(a|b)", /extglobs/],
      ["!main", /negation/],
      ["a\\*", /backslash/],
      ["build (linux)", /parentheses/],
      ["{1..3}", /ranges/],
      ["a{b", /balance the braces/],
      ["a}b", /balance the braces/],
      ["", /empty/],
    ] as const) {
      expect(() => validateGlob(g), g).toThrow(reason);
    }
  });
});
