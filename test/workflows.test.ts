/**
 * .github/workflows: each file passes GitHub's own workflow parser and schema (npm @actions/workflow-parser,
 * the validator behind GitHub's Actions language server, shipping workflow-v1.0.json), and every command a
 * `run:` step calls exists in this project: npm scripts, bin commands, their subcommands and every flag.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { convertWorkflowTemplate, NoOperationTraceWriter, parseWorkflow } from "@actions/workflow-parser";
import type { Command } from "commander";
import { parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../jobs/cli.js";
import { silentLogger } from "../log/logger.js";
import { projectRoot } from "../transform/compile.js";

const workflowsDir = join(projectRoot, ".github", "workflows");
const pkg = JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")) as { scripts: Record<string, string>; bin: Record<string, string> };

async function validate(name: string, content: string): Promise<string[]> {
  const parsed = parseWorkflow({ name, content }, new NoOperationTraceWriter());
  const errors = parsed.context.errors.getErrors().map((e) => e.message);
  if (parsed.value) {
    const template = await convertWorkflowTemplate(parsed.context, parsed.value);
    errors.push(...(template.errors ?? []).map((e) => e.Message));
  }
  return errors;
}

interface Step {
  name?: string;
  run?: string;
  uses?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
  if?: string;
}
interface Workflow {
  on: Record<string, unknown>;
  concurrency?: { group: string; "cancel-in-progress"?: boolean };
  permissions?: Record<string, string>;
  jobs: Record<string, { steps: Step[]; strategy?: { matrix?: Record<string, unknown> }; container?: string;
  concurrency?: { group: string; "cancel-in-progress"?: boolean }; needs?: string | string[] }>;
}

const load = (file: string) => parseYaml(readFileSync(join(workflowsDir, file), "utf8")) as Workflow;
const steps = (wf: Workflow) => Object.values(wf.jobs).flatMap((j) => j.steps);

/** Long option names a subcommand accepts, including `--no-x` negations. */
function optionsOf(cmd: Command): Map<string, readonly string[] | undefined> {
  return new Map(cmd.options.flatMap((o) => (o.long ? [[o.long, o.argChoices] as const] : [])));
}

/** Checks one shell line; returns problems (empty when every command and flag exists). */
function checkLine(line: string, program: Command): string[] {
  const problems: string[] = [];
  const trimmed = line.trim();
  if (!trimmed || trimmed.startsWith("#")) return problems;
  if (/^[A-Z_][A-Z0-9_]*=/.test(trimmed)) return problems; // a variable assignment
  const bin = Object.entries(pkg.bin).find(([, path]) => trimmed.startsWith(`node ${path} `) || trimmed.startsWith(`npx ${path.replace(/^bin\//, "").replace(/\.js$/, "")} `));
  if (bin) {
    if (!existsSync(join(projectRoot, bin[1]))) problems.push(`${bin[1]} does not exist`);
    const words = trimmed.split(/\s+/);
    let sub = words[2] ?? "";
    let cmd = program.commands.find((c) => c.name() === sub);
    if (!cmd) return [`${bin[0]} has no command "${sub}"`];
    // A command with subcommands (`alerts evaluate`): its flags are the subcommand's.
    if (cmd.commands.length > 0) {
      const name = words[3] ?? "";
      const nested = cmd.commands.find((c) => c.name() === name);
      if (!nested) return [`${bin[0]} ${sub} has no command "${name}"`];
      sub = `${sub} ${name}`;
      cmd = nested;
    }
    const options = optionsOf(cmd);
    for (const m of trimmed.matchAll(/(?:^|[\s{+])(--[a-z][a-z0-9-]*)(?:[\s="]+([a-z0-9-]+))?/g)) {
      const flag = m[1] ?? "";
      if (!options.has(flag)) problems.push(`${bin[0]} ${sub} has no option ${flag}`);
      const choices = options.get(flag);
      if (choices && m[2] && !m[2].startsWith("$") && !choices.includes(m[2])) problems.push(`${bin[0]} ${sub} ${flag}: "${m[2]}" is not one of ${choices.join(", ")}`);
    }
    return problems;
  }
  const npmRun = /^npm (?:run(?:-script)?\s+)?([a-z:-]+)/.exec(trimmed);
  if (npmRun) {
    const script = npmRun[1] ?? "";
    if (script === "ci") return existsSync(join(projectRoot, "package-lock.json")) ? [] : ["npm ci without package-lock.json"];
    return pkg.scripts[script] ? [] : [`no npm script "${script}"`];
  }
  const bash = /^bash\s+(\S+)/.exec(trimmed);
  if (bash) return existsSync(join(projectRoot, bash[1] ?? "")) ? [] : [`${bash[1]} does not exist`];
  return [`unknown command: ${trimmed}`];
}

function checkRun(script: string, program: Command): string[] {
  return script
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .flatMap((line) => checkLine(line, program));
}

describe("GitHub Actions workflows", () => {
  const program = buildProgram(silentLogger);

  it.each(["ci.yml", "elt.yml"])("%s passes GitHub's workflow schema", async (file) => {
    const content = readFileSync(join(workflowsDir, file), "utf8");
    expect(await validate(file, content)).toEqual([]);
  });

  it("the schema check is live: a broken workflow is rejected", async () => {
    const broken = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    step:\n      - run: npm test\n";
    expect((await validate("broken.yml", broken)).length).toBeGreaterThan(0);
    const badCron = "on:\n  schedule:\n    - cron: '61 * * * *'\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: npm test\n";
    expect((await validate("cron.yml", badCron)).length).toBeGreaterThan(0);
  });

  it.each(["ci.yml", "elt.yml"])("every run: step in %s calls a command and flags that exist", (file) => {
    const problems = steps(load(file)).flatMap((s) => (s.run ? checkRun(s.run, program).map((p) => `${s.name ?? s.run}: ${p}`) : []));
    expect(problems).toEqual([]);
  });

  it("the command check is live: unknown commands, subcommands, flags and choices are reported", () => {
    expect(checkRun("npm run no-such-script", program)).toHaveLength(1);
    expect(checkRun("node bin/actions-warehouse.js frobnicate", program)).toHaveLength(1);
    expect(checkRun("node bin/actions-warehouse.js pipeline --warehouse snowflake --no-such-flag", program)).toHaveLength(2);
    expect(checkRun("curl https://example.com | sh", program)).toHaveLength(1);
  });

  it("ci.yml runs the project's CI entry point on push and pull request", () => {
    const ci = load("ci.yml");
    expect(Object.keys(ci.on).sort()).toEqual(["pull_request", "push"]);
    expect(steps(ci).map((s) => s.run).filter(Boolean)).toEqual(["bash .ci/run"]);
  });

  it("elt.yml: hourly cron, backfill inputs that no hourly run can cancel, serialized transforms, Workload Identity Federation, shards, App credentials, quarantine artifact", () => {
    const elt = load("elt.yml");
    // Hourly only: the weekly 30-day stopgap is gone, the warehouse's watermark covers re-runs.
    expect(elt.on.schedule).toEqual([{ cron: "17 * * * *" }]);
    const inputs = (elt.on.workflow_dispatch as { inputs: Record<string, unknown> }).inputs;
    expect(Object.keys(inputs).sort()).toEqual(["full_refresh", "since", "until"]);
    // A pending run is cancelled by a newer run of its group: backfills get a group per run.
    expect(elt.concurrency).toEqual({
      group: "${{ github.event_name == 'workflow_dispatch' && format('elt-backfill-{0}', github.run_id) || format('elt-{0}', github.repository) }}",
      "cancel-in-progress": false,
    });
    expect(elt.jobs.transform?.concurrency).toEqual({ group: "elt-transform-${{ github.repository }}", "cancel-in-progress": false });
    expect(elt.permissions).toMatchObject({ "id-token": "write", contents: "read" });

    const all = steps(elt);
    const auths = all.filter((s) => s.uses?.startsWith("google-github-actions/auth@"));
    expect(auths.length).toBe(Object.keys(elt.jobs).length);
    for (const a of auths) {
      expect(Object.keys(a.with ?? {}).sort()).toEqual(["service_account", "workload_identity_provider"]);
    }
    expect(JSON.stringify(elt)).not.toMatch(/credentials_json|GOOGLE_APPLICATION_CREDENTIALS_JSON|private_key_id/);

    expect(elt.jobs["extract-load"]?.strategy?.matrix?.scope).toBe("${{ fromJSON(vars.ELT_SHARDS) }}");
    // The extractor mints and refreshes App tokens itself: no token minted before the job (it would expire after an hour).
    expect(all.some((s) => s.uses?.startsWith("actions/create-github-app-token@"))).toBe(false);
    const extract = all.find((s) => s.run?.includes("pipeline"));
    expect(extract?.env).toMatchObject({ GITHUB_APP_ID: "${{ vars.ELT_APP_ID }}", GITHUB_APP_PRIVATE_KEY: "${{ secrets.ELT_APP_PRIVATE_KEY }}", GITHUB_PACKAGES_TOKEN: "${{ secrets.ELT_PACKAGES_TOKEN }}" });
    expect(extract?.run).toContain("--no-transform");
    // No fixed lookback: without a since input the window comes from the warehouse.
    expect(extract?.run).toContain('${SINCE:+--since "$SINCE"}');
    expect(extract?.run).not.toMatch(/date -u -d/);
    const artifact = all.find((s) => s.uses?.startsWith("actions/upload-artifact@"));
    expect(artifact).toMatchObject({ if: "always()", with: { path: ".warehouse/staging/quarantine/", "include-hidden-files": true } });
    // Models run once, after every shard has loaded.
    expect(elt.jobs.transform?.needs).toBe("extract-load");
  });

  describe("the exporter template (.github/workflow-templates/actions-warehouse-exporter.yml)", () => {
    const templatesDir = join(projectRoot, ".github", "workflow-templates");
    const file = "actions-warehouse-exporter.yml";
    const text = () => readFileSync(join(templatesDir, file), "utf8");

    it("passes GitHub's workflow schema", async () => {
      expect(await validate(file, text())).toEqual([]);
    });

    it("POSTs each workflow_run (requested, in_progress, completed) of named workflows to /api/ci-events with the bearer token and event_id = run id + attempt + status", () => {
      const wf = parseYaml(text()) as Workflow;
      const trigger = wf.on.workflow_run as { workflows: string[]; types: string[] };
      expect(Object.keys(wf.on)).toEqual(["workflow_run"]);
      expect([...trigger.types].sort()).toEqual(["completed", "in_progress", "requested"]);
      // Workflows by name: no wildcard, nothing empty.
      expect(trigger.workflows.length).toBeGreaterThan(0);
      for (const name of trigger.workflows) expect(name).not.toMatch(/[*?[\]!]/);
      expect(wf.permissions).toEqual({});
      const [step, ...rest] = steps(wf);
      expect(rest).toEqual([]);
      expect(step?.env).toEqual({
        INGEST_URL: "${{ vars.ACTIONS_WAREHOUSE_URL }}",
        INGEST_TOKEN: "${{ secrets.INGEST_TOKEN }}",
        EVENT_ID: "${{ format('{0}-{1}-{2}', github.event.workflow_run.id, github.event.workflow_run.run_attempt, github.event.workflow_run.status) }}",
      });
      expect(step?.run).toContain('-H "Authorization: Bearer $INGEST_TOKEN"');
      expect(step?.run).toContain('"${INGEST_URL%/}/api/ci-events"');
      expect(step?.run).toContain("event_id: $id, event_name: \"workflow_run\"");
      // No expression is interpolated into the script itself (script injection).
      expect(step?.run).not.toContain("${{");
      const properties = JSON.parse(readFileSync(join(templatesDir, "actions-warehouse-exporter.properties.json"), "utf8")) as { name: string; description: string };
      expect(properties.name).toBe("actions-warehouse exporter");
    });
  });
});
