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
import { createMetrics, QUEUE_BUCKETS } from "../serve/metrics.js";

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

describe("realtime docs (docs/realtime.md, docs/grafana-dashboard.json)", () => {
  const realtime = () => read(join(projectRoot, "docs", "realtime.md"));
  const dashboardText = () => read(join(projectRoot, "docs", "grafana-dashboard.json"));
  const mentioned = (text: string) => new Set(text.match(/\bgithub_actions_[a-z][a-z0-9_]*/g) ?? []);

  /** Every name `GET /metrics` exports with the default prefix once one run, one job and one delivery were seen. */
  async function exportedNames(): Promise<Set<string>> {
    const metrics = createMetrics({ prefix: "github_actions_" });
    const repository = { full_name: "acme/api" };
    metrics.observe("workflow_run", {
      repository,
      workflow_run: { id: 1, run_attempt: 1, name: "CI", status: "completed", conclusion: "success", run_started_at: "2026-11-30T00:00:00Z", updated_at: "2026-11-30T00:05:00Z" },
    });
    metrics.observe("workflow_run", { repository, workflow_run: { id: 2, run_attempt: 1, name: "CI", status: "in_progress" } });
    metrics.observe("workflow_job", {
      repository,
      workflow_job: {
        id: 10, workflow_name: "CI", status: "completed", conclusion: "success", labels: ["ubuntu-latest"], runner_name: "GitHub Actions 1",
        created_at: "2026-11-30T00:00:00Z", started_at: "2026-11-30T00:01:00Z", completed_at: "2026-11-30T00:04:00Z",
      },
    });
    metrics.observe("workflow_job", { repository, workflow_job: { id: 11, workflow_name: "CI", status: "queued", labels: ["ubuntu-latest"], created_at: "2026-11-30T00:00:00Z" } });
    metrics.delivery("workflow_run", "accepted");
    metrics.processingError();
    const names = new Set<string>();
    for (const line of (await metrics.text()).split("\n")) {
      const type = /^# TYPE (\S+)/.exec(line);
      const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
      if (type?.[1]) names.add(type[1]);
      else if (sample?.[1]) names.add(sample[1]);
    }
    return names;
  }

  it("names only metrics GET /metrics exports", async () => {
    const exported = await exportedNames();
    for (const [doc, text] of [["docs/realtime.md", realtime()], ["docs/grafana-dashboard.json", dashboardText()]] as const) {
      const names = mentioned(text);
      expect(names.size, doc).toBeGreaterThan(5);
      for (const name of names) expect(exported.has(name), `${doc} names ${name}, which serve/metrics.ts does not export`).toBe(true);
    }
    // The operations panels: running jobs, queue latency, job duration by runner label, delivery outcomes.
    for (const name of ["github_actions_job_active", "github_actions_job_queue_duration_seconds_bucket", "github_actions_job_run_duration_seconds_bucket", "github_actions_webhook_deliveries_total"]) {
      expect(mentioned(dashboardText()).has(name), name).toBe(true);
    }
  });

  it("the Grafana dashboard parses, and every panel queries Prometheus by labels the metrics have", () => {
    interface Target { refId: string; expr?: string; rawSql?: string; datasource?: { type: string } }
    interface Panel { id: number; type: string; title: string; gridPos: Record<string, number>; targets?: Target[]; fieldConfig?: { defaults?: { thresholds?: { steps: { value: number | null }[] } } } }
    const dashboard = JSON.parse(dashboardText()) as { title: string; uid: string; schemaVersion: number; panels: Panel[]; templating: { list: { name: string; type: string }[] } };
    expect(dashboard.title).toBeTruthy();
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.schemaVersion).toBeGreaterThan(30);
    expect(dashboard.templating.list.find((v) => v.name === "datasource")?.type).toBe("datasource");
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const queries = dashboard.panels.filter((p) => p.type !== "row");
    expect(queries.length).toBeGreaterThan(5);
    const labels = new Set(["le", "repository", "workflow", "status", "conclusion", "runner_os", "event", "outcome"]);
    for (const panel of queries) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const key of ["x", "y", "w", "h"]) expect(typeof panel.gridPos[key], panel.title).toBe("number");
      for (const target of panel.targets ?? []) {
        // The workflow graph row reads the warehouse views through BigQuery (test/workflow-graph.test.ts runs its SQL).
        if (target.datasource?.type === "grafana-bigquery-datasource") {
          expect(target.rawSql, panel.title).toMatch(/FROM `\$\{models_dataset\}\.rpt_[a-z_]+`/);
          continue;
        }
        if (target.expr === undefined) throw new Error(`${panel.title}: target ${target.refId} has no expr`);
        for (const by of target.expr.matchAll(/\bby \(([^)]*)\)/g)) {
          for (const label of (by[1] ?? "").split(",").map((l) => l.trim())) expect(labels.has(label), `${panel.title}: by ${label}`).toBe(true);
        }
        for (const matcher of target.expr.matchAll(/\b([a-z_]+)(?:=~|!=|=)"/g)) expect(labels.has(matcher[1] ?? ""), `${panel.title}: ${matcher[1]}`).toBe(true);
      }
    }
    // Queue latency against GitHub's objectives: 300 s and 600 s are bucket edges and threshold lines.
    const latency = queries.find((p) => p.targets?.some((t) => t.expr?.includes("histogram_quantile") && t.expr.includes("job_queue_duration_seconds_bucket")));
    expect(latency?.fieldConfig?.defaults?.thresholds?.steps.map((s) => s.value)).toEqual([null, 300, 600]);
    expect(QUEUE_BUCKETS).toEqual(expect.arrayContaining([300, 600]));
  });

  it("documents every serve endpoint, environment variable and flag, and only real flags", () => {
    const doc = realtime();
    for (const endpoint of ["POST /webhook", "POST /api/ci-events", "GET /health", "GET /healthz", "GET /metrics", "GET /`", "GET /api/metrics", "/api/runs", "/api/status", "/api/filters", "/api/config"]) {
      expect(doc, endpoint).toContain(endpoint);
    }
    for (const variable of ["GITHUB_WEBHOOK_SECRET", "INGEST_TOKEN", "METRICS_TOKEN", "PORT"]) expect(doc).toContain(`| \`${variable}\``);
    const program = buildProgram(silentLogger);
    const serve = program.commands.find((c) => c.name() === "serve");
    const serveFlags = new Set(serve?.options.map((o) => o.long));
    const documented = [...doc.matchAll(/^\| `(--[a-z-]+)/gm)].map((m) => m[1]);
    expect(documented.length).toBeGreaterThan(5);
    for (const flag of documented) expect(serveFlags.has(flag), `docs/realtime.md documents ${flag}, which serve does not have`).toBe(true);
    for (const flag of ["--port", "--host", "--duckdb-path", "--staging-dir", "--flush-seconds", "--transform-seconds", "--metrics-prefix"]) expect(documented).toContain(flag);
    // Command lines: every `actions-warehouse <command> --flag` names a real command and flag.
    const commands = new Map(program.commands.map((c) => [c.name(), c]));
    let checked = 0;
    for (const block of doc.matchAll(/```sh\n([\s\S]*?)```/g)) {
      for (const line of (block[1] ?? "").split("\n")) {
        const m = /^(?:[A-Z_]+=\S+ )*npx actions-warehouse ([a-z-]+)(.*)$/.exec(line.replace(/#.*$/, "").trim());
        if (!m) continue;
        const cmd = commands.get(m[1] ?? "");
        expect(cmd, line).toBeDefined();
        const flags = new Set(cmd?.options.map((o) => o.long));
        for (const flag of (m[2] ?? "").matchAll(/(?:^|\s)(--[a-z][a-z-]*)/g)) expect(flags.has(flag[1]), `${line}: ${flag[1]}`).toBe(true);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(5);
    expect(doc).toContain("GITHUB_WEBHOOK_SECRET=s3cret npx actions-warehouse serve --port 8123 --duckdb-path .warehouse/live.duckdb");
  });
});
