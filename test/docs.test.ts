/**
 * The docs say what the code does: the configuration reference and the data dictionary are regenerated
 * and compared byte for byte, the data dictionary is also read back and compared with a fresh Dataform
 * compile column by column, every command shows examples, every environment variable the code reads is
 * documented, and every command line in the README and the runbook names real commands and flags.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { beforeAll, describe, expect, it } from "vitest";
import { compileProject, projectRoot, type CompiledGraph } from "../transform/compile.js";
import { buildProgram, EXIT } from "../jobs/cli.js";
import { silentLogger } from "../log/logger.js";
import { commandDocs, configurationMarkdown, ENVIRONMENT, EXIT_MEANINGS, helpOf } from "../jobs/docs/configuration.js";
import { dataDictionaryMarkdown, parseDataDictionary } from "../jobs/docs/data-dictionary.js";
import { generatedDocs } from "../jobs/docs/index.js";

const read = (path: string) => readFileSync(path, "utf8");
const REGENERATE = "run `npm run docs:generate` and commit the result";

describe("data dictionary", () => {
  let graph: CompiledGraph;
  beforeAll(async () => {
    graph = await compileProject();
  }, 120_000);

  it("is exactly what the compiled Dataform project generates", () => {
    expect(read(generatedDocs.dataDictionary), REGENERATE).toBe(dataDictionaryMarkdown(graph));
  });

  it("carries every compiled description and column description, and nothing else", () => {
    const docs = parseDataDictionary(read(generatedDocs.dataDictionary));
    const compiled = [
      ...graph.declarations.map((d) => ({ target: d.target, descriptor: d.actionDescriptor })),
      ...graph.tables.filter((t) => !t.disabled).map((t) => ({ target: t.target, descriptor: t.actionDescriptor })),
    ];
    expect(compiled.length).toBeGreaterThan(20);
    expect([...docs.keys()].sort()).toEqual(compiled.map((c) => `${c.target.schema}.${c.target.name}`).sort());
    for (const { target, descriptor } of compiled) {
      const relation = `${target.schema}.${target.name}`;
      const entry = docs.get(relation);
      const oneLine = (s: string | undefined) => (s ?? "").trim().replace(/\s*\n\s*/g, " ");
      expect(entry?.description, relation).toBe(oneLine(descriptor?.description));
      const columns = new Map((descriptor?.columns ?? []).map((c) => [c.path.join("."), oneLine(c.description)]));
      expect(columns.size, `${relation} documents its columns`).toBeGreaterThan(0);
      expect(entry?.columns, relation).toEqual(columns);
    }
    // The reporting views Looker Studio reads are all there, with every column described.
    const rpt = [...docs.entries()].filter(([name]) => name.includes(".rpt_"));
    expect(rpt.length).toBeGreaterThanOrEqual(9);
    for (const [name, e] of rpt) for (const [column, d] of e.columns) expect(d, `${name}.${column}`).not.toBe("");
  });
});

describe("configuration reference and help", () => {
  let program: Command;
  beforeAll(() => {
    program = buildProgram(silentLogger);
  });

  it("is exactly what the command definitions generate", () => {
    expect(read(generatedDocs.configuration), REGENERATE).toBe(configurationMarkdown());
  });

  it("lists every command and every flag", () => {
    const doc = read(generatedDocs.configuration);
    for (const cmd of program.commands) {
      expect(doc, cmd.name()).toContain(`### actions-warehouse ${cmd.name()}`);
      for (const o of cmd.options) expect(doc, `${cmd.name()} ${o.flags}`).toContain(`| \`${o.flags.replace(/\|/g, "\\|")}\` |`);
    }
  });

  it("gives every command examples in --help", () => {
    for (const doc of commandDocs(program).slice(1)) {
      const name = doc.path.replace(/^actions-warehouse /, "");
      expect(doc.examples.length, `${name} --help has no Examples`).toBeGreaterThan(0);
      for (const example of doc.examples) expect(example, name).toMatch(/^(?:[A-Z_]+=\S+ )*(?:actions-warehouse|npm run|npx actions-warehouse) /);
    }
    expect(helpOf(program)).toMatch(/Environment:[\s\S]*GITHUB_TOKEN/);
  });

  it("documents every environment variable the code reads", () => {
    const documented = new Set(ENVIRONMENT.map((e) => e.name));
    const found = new Set<string>();
    const walk = (dir: string): string[] =>
      readdirSync(dir).flatMap((n) => {
        const p = join(dir, n);
        return statSync(p).isDirectory() ? walk(p) : p.endsWith(".ts") ? [p] : [];
      });
    // The code people and the cron run (tests, benchmarks and the simulator have their own knobs).
    for (const dir of ["extract", "load", "log", "transform", "report", "jobs", "schemas", "check"]) {
      for (const file of walk(join(projectRoot, dir))) {
        for (const m of read(file).matchAll(/\benv(?:\.|\[["'])([A-Z][A-Z0-9_]{2,})/g)) found.add(m[1] as string);
      }
    }
    expect(found.size).toBeGreaterThanOrEqual(3);
    for (const name of found) expect(documented.has(name), `${name} is read by the code but not in ENVIRONMENT (jobs/docs/configuration.ts)`).toBe(true);
  });

  it("explains every exit code", () => {
    const doc = read(generatedDocs.configuration);
    for (const [key, code] of Object.entries(EXIT)) {
      expect(EXIT_MEANINGS[key as keyof typeof EXIT], key).toBeTruthy();
      expect(doc).toContain(`| \`${code}\` |`);
    }
    const readme = read(join(projectRoot, "README.md"));
    for (const code of Object.values(EXIT)) expect(readme).toContain(`\`${code}\``);
  });
});

describe("README and runbook", () => {
  const readme = () => read(join(projectRoot, "README.md"));
  const runbook = () => read(join(projectRoot, "docs", "runbook.md"));

  it("keeps the two-command quick start", () => {
    expect(readme()).toContain("npm ci && npm run demo");
    expect(readme()).toMatch(/^npm test\b/m);
  });

  it("has a runbook for backfill, a failed hour, an outage and a token rotation", () => {
    const headings = runbook()
      .split("\n")
      .filter((l) => l.startsWith("## "))
      .join("\n")
      .toLowerCase();
    for (const topic of ["backfill", "failed hour", "outage", "rotate"]) expect(headings).toContain(topic);
  });

  it("names only real commands and flags in its command lines", () => {
    const program = buildProgram(silentLogger);
    const commands = new Map(program.commands.map((c) => [c.name(), c]));
    const docs = [readme(), runbook(), read(join(projectRoot, "docs", "architecture.md"))];
    let checked = 0;
    for (const doc of docs) {
      for (const block of doc.matchAll(/```(?:sh|bash)?\n([\s\S]*?)```/g)) {
        for (const rawLine of (block[1] ?? "").split("\n")) {
          const line = rawLine.replace(/#.*$/, "");
          const m = /(?:npx )?actions-warehouse ([a-z-]+)(.*)$/.exec(line);
          if (!m) continue;
          const cmd = commands.get(m[1] as string);
          expect(cmd, `unknown command in docs: ${line.trim()}`).toBeDefined();
          const flags = new Set(cmd?.options.flatMap((o) => [o.long, o.short]).filter(Boolean));
          flags.add("--help");
          for (const flag of (m[2] ?? "").matchAll(/(?:^|\s)(--[a-z][a-z-]*)/g)) expect(flags.has(flag[1] as string), `unknown flag in docs: ${line.trim()}`).toBe(true);
          checked += 1;
        }
      }
    }
    expect(checked).toBeGreaterThan(8);
  });
});
