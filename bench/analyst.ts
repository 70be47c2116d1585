/** The analyst loop: compile, type-check and model-test the whole project, as an analyst runs it. */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fmt, type Section } from "./measure.js";

const root = join(import.meta.dirname, "..");

function time(label: string, args: string[]): { name: string; value: string; note: string } {
  const t = performance.now();
  const r = spawnSync(process.execPath, [join(root, "bin", "actions-warehouse.js"), ...args], { cwd: root, encoding: "utf8" });
  const ms = performance.now() - t;
  return { name: label, value: fmt.ms(ms), note: r.status === 0 ? `\`actions-warehouse ${args.join(" ")}\`` : `exit ${r.status}: ${(r.stderr || r.stdout).trim().split("\n").pop() ?? ""}` };
}

export async function analystLoop(): Promise<Section> {
  const { compileProject } = await import("../transform/compile.js");
  const cold = performance.now();
  await compileProject({ noCache: true });
  const coldMs = performance.now() - cold;
  const warm = performance.now();
  await compileProject({});
  const warmMs = performance.now() - warm;
  const figures = [
    { name: "dataform compile (cold, real CLI)", value: fmt.ms(coldMs), note: "" },
    { name: "compile (cached, nothing changed)", value: fmt.ms(warmMs), note: "" },
    time("check: compile + ZetaSQL type-check of every query", ["check"]),
    time("model tests on the reference engine", ["test-models"]),
  ];
  return {
    title: "Analyst loop",
    method: "Wall time of what an analyst runs after editing SQLX, each as a fresh process (so it includes Node start-up and starting the ZetaSQL server).",
    figures,
  };
}
