/**
 * `npm run bench`: measures what users pay for and writes BENCHMARKS.md. Benchmarks report; they never
 * fail CI. `--only api,load` runs a subset; `--quick` uses small sizes (a smoke run of the harness).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apiEfficiency, throughput } from "./api.js";
import { memory } from "./memory.js";
import { load } from "./load.js";
import { transform } from "./transform.js";
import { analystLoop } from "./analyst.js";
import { tickBenchmark } from "./tick.js";
import { serveBenchmark } from "./serve.js";
import { testArtifactsBenchmark } from "./test-artifacts.js";
import { machine, renderSection, type Section } from "./measure.js";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const onlyArg = args[args.indexOf("--only") + 1];
const only = args.includes("--only") && onlyArg ? new Set(onlyArg.split(",")) : null;
const outArg = args.includes("--out") ? (args[args.indexOf("--out") + 1] as string) : undefined;

const benches: [string, () => Promise<Section>][] = [
  ["api", apiEfficiency],
  ["throughput", () => throughput(quick ? [4, 16] : [2, 4, 8, 16, 32])],
  ["memory", () => memory(quick ? [2_000, 5_000] : [10_000, 100_000])],
  ["load", () => load(quick ? 100_000 : 1_000_000)],
  ["transform", () => transform(quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000])],
  ["analyst", analystLoop],
  ["tick", () => tickBenchmark(quick ? 30 : 300)],
  ["serve", () => (quick ? serveBenchmark(5_000, 500, 1) : serveBenchmark())],
  ["test-artifacts", () => (quick ? testArtifactsBenchmark(20 * 1024 * 1024, 10 * 1024 * 1024) : testArtifactsBenchmark())],
];

// Each section is kept in bench/results/<name>.md with the date and machine it was measured on, so
// `--only` re-measures some sections and BENCHMARKS.md still shows the latest figure of every one.
// A --quick smoke run never replaces the recorded figures.
const resultsDir = quick ? mkdtempSync(join(tmpdir(), "aw-bench-quick-")) : join(import.meta.dirname, "results");
// A --quick smoke run writes its page beside its results, never over the recorded BENCHMARKS.md.
const out = outArg ?? (quick ? join(resultsDir, "BENCHMARKS.md") : join(import.meta.dirname, "..", "BENCHMARKS.md"));
mkdirSync(resultsDir, { recursive: true });
const stamp = `_Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}, command \`npm run bench${args.length ? ` -- ${args.join(" ")}` : ""}\`._`;
for (const [name, run] of benches) {
  if (only && !only.has(name)) continue;
  process.stderr.write(`bench ${name} ...\n`);
  const t = performance.now();
  let text: string;
  try {
    text = renderSection(await run());
  } catch (error) {
    text = `## ${name}\n\nFailed: ${error instanceof Error ? error.message : String(error)}\n`;
  }
  const seconds = ((performance.now() - t) / 1000).toFixed(1);
  process.stderr.write(`${text}\n(${seconds} s)\n`);
  const [title, ...body] = text.split("\n");
  writeFileSync(join(resultsDir, `${name}.md`), `${title}\n\n${stamp} (${seconds} s)\n${body.join("\n")}`);
}
const sections = benches
  .map(([name]) => join(resultsDir, `${name}.md`))
  .filter((file) => existsSync(file))
  .map((file) => readFileSync(file, "utf8"));

const doc = `# Benchmarks

Written by \`npm run bench\` (\`bench/main.ts\`); each section says when, on what machine and with which command it was measured.

Reproduce with \`npm run bench\` (all, several minutes) or \`npm run bench -- --only api,load\`; \`--quick\` runs small sizes.
Figures are wall-clock on a shared machine: where possible each is given as a ratio to a baseline measured in the same run.

${sections.join("\n")}`;
writeFileSync(out, doc);
process.stderr.write(`wrote ${out}\n`);
