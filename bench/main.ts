/**
 * `npm run bench`: measures what users pay for and writes BENCHMARKS.md. Benchmarks report; they never
 * fail CI. `--only api,load` runs a subset; `--quick` uses small sizes (a smoke run of the harness).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { apiEfficiency, throughput } from "./api.js";
import { memory } from "./memory.js";
import { load } from "./load.js";
import { transform } from "./transform.js";
import { analystLoop } from "./analyst.js";
import { machine, renderSection, type Section } from "./measure.js";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const onlyArg = args[args.indexOf("--only") + 1];
const only = args.includes("--only") && onlyArg ? new Set(onlyArg.split(",")) : null;
const out = args.includes("--out") ? (args[args.indexOf("--out") + 1] as string) : join(import.meta.dirname, "..", "BENCHMARKS.md");

const benches: [string, () => Promise<Section>][] = [
  ["api", apiEfficiency],
  ["throughput", () => throughput(quick ? [4, 16] : [2, 4, 8, 16, 32])],
  ["memory", () => memory(quick ? [2_000, 5_000] : [10_000, 100_000])],
  ["load", () => load(quick ? 100_000 : 1_000_000)],
  ["transform", () => transform(quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000])],
  ["analyst", analystLoop],
];

const sections: string[] = [];
for (const [name, run] of benches) {
  if (only && !only.has(name)) continue;
  process.stderr.write(`bench ${name} ...\n`);
  const t = performance.now();
  try {
    const section = await run();
    sections.push(renderSection(section));
    process.stderr.write(`${renderSection(section)}\n(${((performance.now() - t) / 1000).toFixed(1)} s)\n`);
  } catch (error) {
    sections.push(`## ${name}\n\nFailed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.stderr.write(`bench ${name} failed: ${String(error)}\n`);
  }
}

const doc = `# Benchmarks

Machine: ${machine()}
Date: ${new Date().toISOString().slice(0, 10)}
Command: \`npm run bench${args.length ? ` -- ${args.join(" ")}` : ""}\`

Reproduce with \`npm run bench\` (all, several minutes) or \`npm run bench -- --only api,load\`; \`--quick\` runs small sizes.
Figures are wall-clock on a shared machine: where possible each is given as a ratio to a baseline measured in the same run.

${sections.join("\n")}`;
writeFileSync(out, doc);
process.stderr.write(`wrote ${out}\n`);
