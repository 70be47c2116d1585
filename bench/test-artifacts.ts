/**
 * Test artifacts (issue 14): API requests per run with artifacts against the minimum, JUnit parse
 * throughput, and the extractor's peak RSS while it reads a 200 MB JUnit report (flat, under 300 MB).
 *
 * The RSS figure comes from a child process (this file with `--child`) that runs the extract alone,
 * against a simulator in this process which generates and compresses the huge report as it sends it.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { artifactTruth, generateDataset, startSimulator } from "../simulator/index.js";
import { hugeReportStream, type SimArtifact } from "../simulator/artifacts.js";
import { runExtract } from "../extract/run.js";
import { parseJUnit } from "../extract/junit.js";
import { streamXml } from "../extract/xml-stream.js";
import { silentLogger } from "../log/logger.js";
import { fmt, type Figure, type Section } from "./measure.js";

const root = join(import.meta.dirname, "..");
const tsx = join(root, "node_modules", ".bin", "tsx");
const ANCHOR = "2026-10-15T12:00:00Z";
const GLOBS = ["junit*", "test-results*", "coverage*"];
const MB = 1024 * 1024;

/** API requests of an extract with and without --test-artifacts, against the minimum. */
async function requests(): Promise<Figure[]> {
  const ds = generateDataset({ seed: 42, anchor: ANCHOR, days: 14 });
  const sim = await startSimulator({ dataset: ds, rateLimit: 1_000_000_000 });
  const dir = mkdtempSync(join(tmpdir(), "aw-bench-artifacts-"));
  try {
    const scope = { repos: ["acme/ml-platform", "acme/api", "acme/mobile"], since: "2026-10-01", apiUrl: sim.url, maxQuarantined: 100 };
    const without = await runExtract({ ...scope, stagingDir: join(dir, "a") }, { log: silentLogger });
    const withArtifacts = await runExtract({ ...scope, stagingDir: join(dir, "b"), testArtifacts: GLOBS }, { log: silentLogger });
    const a = withArtifacts.artifacts!;
    const truth = artifactTruth(ds);
    const selected = truth.artifacts.filter((x) => GLOBS.some((g) => x.name.startsWith(g.slice(0, -1))) && x.run.repo !== "acme/web");
    const runsWithArtifacts = new Set(selected.map((x) => x.run.id)).size;
    const live = selected.filter((x) => !x.expired).length;
    const minimum = runsWithArtifacts + live;
    const spent = a.repoPages + a.runsListed + a.downloaded;
    const extra = withArtifacts.manifest.api.requests - without.manifest.api.requests;
    return [
      { name: "artifact API requests (repository list pages + run lists + downloads)", value: `${fmt.n(spent)} (${a.repoPages} + ${a.runsListed} + ${a.downloaded})`, note: `plus ${fmt.n(a.redirectFetches)} fetches of the signed URL on the storage host (not GitHub API)` },
      { name: "minimum (one list per run with artifacts + one download per selected live artifact)", value: `${fmt.n(minimum)} (${runsWithArtifacts} + ${live})`, note: `${fmt.n(truth.artifacts.length)} artifacts on ${runsWithArtifacts} runs of ${fmt.n(without.stats.runsDiscovered)} listed` },
      { name: "API requests per run with artifacts", value: (spent / runsWithArtifacts).toFixed(2), note: `minimum ${(minimum / runsWithArtifacts).toFixed(2)}; listing per repository beats one list per run` },
      { name: "extract API requests without / with --test-artifacts", value: `${fmt.n(without.manifest.api.requests)} / ${fmt.n(withArtifacts.manifest.api.requests)}`, note: `+${fmt.n(extra)}; ${fmt.n(a.testCases)} test cases, ${a.coverageReports} coverage reports, ${a.quarantined} quarantined, ${a.expired} expired` },
    ];
  } finally {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Parser throughput on a generated report held in memory (no I/O, no inflate, no writer). */
async function throughput(bytes: number): Promise<Figure[]> {
  const cases = Math.ceil(bytes / 1024);
  const fake = { id: 1, files: [{ path: "junit.xml", cases: Array.from({ length: cases }, (_, i) => ({ classname: `c.C${i % 100}`, name: `test_${i}`, durationSeconds: 0.5 })) }] } as unknown as SimArtifact;
  const chunks: Buffer[] = [];
  for await (const c of hugeReportStream(fake)) chunks.push(Buffer.from(c as string));
  const doc = Buffer.concat(chunks);
  const slices = function* () {
    for (let i = 0; i < doc.length; i += 64 * 1024) yield doc.subarray(i, i + 64 * 1024);
  };
  const toAsync = async function* () {
    yield* slices();
  };
  let t = performance.now();
  await streamXml(toAsync(), { open() {}, close() {}, text() {} });
  const check = performance.now() - t;
  t = performance.now();
  let n = 0;
  await parseJUnit(toAsync(), () => {
    n += 1;
  });
  const parse = performance.now() - t;
  const mb = doc.length / MB;
  return [
    { name: "JUnit parse throughput (rows built)", value: `${(mb / (parse / 1000)).toFixed(1)} MB/s`, note: `${mb.toFixed(0)} MB, ${fmt.n(n)} test cases in ${fmt.ms(parse)}` },
    { name: "well-formedness pass (the first of the two passes)", value: `${(mb / (check / 1000)).toFixed(1)} MB/s`, note: `saxes with no handlers, ${fmt.ms(check)}` },
  ];
}

interface ChildResult {
  baselineRss: number;
  peakRss: number;
  ms: number;
  testCases: number;
  downloaded: number;
}

function runChild(url: string, since: string, staging: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, [fileURLToPath(import.meta.url), "--child", url, since, staging], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").pop() ?? "{}") as ChildResult) : reject(new Error(`artifacts child exited ${code}: ${out}`))));
  });
}

/** Peak RSS of an extract reading one huge report, for two sizes: flat means the same peak. */
async function peakRss(sizes: number[]): Promise<{ figures: Figure[]; peaks: number[] }> {
  const figures: Figure[] = [];
  const peaks: number[] = [];
  for (const size of sizes) {
    const ds = generateDataset({ seed: 42, anchor: ANCHOR, days: 3, busyDayRuns: 0 });
    const sim = await startSimulator({ dataset: ds, rateLimit: 1_000_000_000, artifacts: { hugeReportBytes: size } });
    const dir = mkdtempSync(join(tmpdir(), "aw-bench-huge-"));
    try {
      const huge = artifactTruth(ds, { hugeReportBytes: size }).artifacts.find((a) => a.kind === "huge");
      if (!huge) throw new Error("the simulator has no huge artifact");
      const r = await runChild(sim.url, huge.run.created_at.slice(0, 10), join(dir, "staging"));
      peaks.push(r.peakRss);
      figures.push({
        name: `extract reading a ${Math.round(size / MB)} MB JUnit report: peak RSS`,
        value: fmt.mb(r.peakRss),
        note: `${fmt.mb(r.baselineRss)} before the extract; ${fmt.n(r.testCases)} test cases in ${fmt.ms(r.ms)} (${((size / MB) / (r.ms / 1000)).toFixed(1)} MB/s end to end: download, two passes, gzip NDJSON)`,
      });
    } finally {
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { figures, peaks };
}

export async function testArtifactsBenchmark(hugeBytes = 200 * MB, parseBytes = 100 * MB): Promise<Section> {
  const req = await requests();
  const parse = await throughput(parseBytes);
  const rss = await peakRss([hugeBytes / 4, hugeBytes]);
  const peak = rss.peaks[rss.peaks.length - 1] ?? 0;
  const growth = peak - (rss.peaks[0] ?? 0);
  return {
    title: "Test artifacts",
    method:
      "Requests: extracts of acme/ml-platform, acme/api and acme/mobile (seed 42, 14 days) on the in-process simulator with and without `--test-artifacts 'junit*,test-results*,coverage*'`; the minimum is one list per run with artifacts plus one download per selected live artifact. Throughput: `parseJUnit` and the well-formedness pass over a generated JUnit document in memory (1 KB test cases with hex system-out), 64 KB chunks. Peak RSS: a child process runs an extract whose only selected artifact is one huge JUnit report, streamed and compressed by the simulator in the parent; RSS sampled every 50 ms.",
    figures: [...req, ...parse, ...rss.figures],
    verdict: `Peak RSS ${fmt.mb(peak)} reading the ${Math.round(hugeBytes / MB)} MB report: ${peak < 300 * MB ? "under" : "OVER"} the 300 MB target; ${Math.abs(growth) < 40 * MB ? "flat" : "NOT flat"} (${growth >= 0 ? "+" : ""}${fmt.mb(growth)} from a report four times smaller).`,
  };
}

async function child(url: string, since: string, staging: string): Promise<void> {
  let peak = process.memoryUsage().rss;
  const baseline = peak;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  const t = performance.now();
  const result = await runExtract({ repos: ["acme/ml-platform"], since, apiUrl: url, stagingDir: staging, testArtifacts: ["test-results-huge"], maxQuarantined: 100 }, { log: silentLogger });
  const ms = performance.now() - t;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss, process.resourceUsage().maxRSS * 1024);
  const out: ChildResult = { baselineRss: baseline, peakRss: peak, ms, testCases: result.artifacts?.testCases ?? 0, downloaded: result.artifacts?.downloaded ?? 0 };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

if (process.argv[2] === "--child" && process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [url = "", since = "", staging = ""] = process.argv.slice(3);
  await child(url, since, staging);
}
