/** Small measuring helpers shared by the benchmarks. */
import { cpus, totalmem, release } from "node:os";

export interface Figure {
  name: string;
  value: string;
  note?: string;
}

export interface Section {
  title: string;
  /** What was measured and how, one paragraph. */
  method: string;
  figures: Figure[];
  /** Targets and whether they were met. */
  verdict?: string;
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, value };
}

export const fmt = {
  ms: (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`),
  n: (n: number) => n.toLocaleString("en-US"),
  ratio: (r: number) => `${r.toFixed(2)}×`,
  mb: (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`,
};

export function machine(): string {
  const c = cpus();
  return `${c.length} × ${c[0]?.model ?? "unknown CPU"}, ${fmt.mb(totalmem())} RAM, Linux ${release()}, Node ${process.version}`;
}

export function renderSection(s: Section): string {
  const rows = s.figures.map((f) => `| ${f.name} | ${f.value} | ${f.note ?? ""} |`).join("\n");
  return `## ${s.title}\n\n${s.method}\n\n| measure | value | note |\n|---|---|---|\n${rows}\n${s.verdict ? `\n${s.verdict}\n` : ""}`;
}
