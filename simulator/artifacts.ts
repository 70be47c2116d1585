/**
 * Workflow artifacts of the simulator's runs: JUnit and coverage zips, derived from the dataset (seeded,
 * deterministic, nothing stored in it), plus the ground truth tests compare the warehouse against.
 *
 * Which runs carry artifacts (completed attempts that succeeded or failed; cancelled and timed-out
 * attempts upload none, queued and running ones none yet):
 * Only some runs upload reports (so an extract of the whole default dataset stays within the default
 * 5,000 requests/h):
 * - `acme/ml-platform` CI, every 6th run and every re-run one, a pytest matrix: `junit-ubuntu` and `junit-windows` (the same test names in
 *   both legs; a failed attempt fails one test in one leg only, so a test failing on Windows and passing
 *   on Ubuntu of the same SHA is NOT flaky), `coverage` (Cobertura) and `dist` (a wheel, not a report).
 * - `acme/api` CI, the landmark re-runs (`special.rerun2RunId`, `rerun3RunId`) and every 8th re-run one
 *   (also when re-run later through the simulator): `test-results` (jest-junit, a `testsuites` root with nested
 *   suites) in which `checkout > applies coupon` fails on every attempt but the last: a flaky test, failed
 *   then passed on the same SHA.
 * - `acme/mobile` CI, every 20th run: `test-results-android` (Surefire, with a `flakyFailure` test and a
 *   `rerunFailure` test) and `coverage-android` (JaCoCo).
 * - The newest completed `acme/ml-platform` CI run also carries the bad ones: `junit-expired` (expired),
 *   `junit-corrupt` (a zip cut in half), `test-results-bomb` (50 MB of zeros in 50 KB) and
 *   `coverage-traversal` (an entry named `../../evil-coverage.xml`), `junit-partial` (a good report and one
 *   cut in the middle); and with `hugeReportBytes` set, a
 *   `test-results-huge` artifact whose one JUnit file is that big, generated as it is sent.
 */
import { createHmac, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import seedrandom from "seedrandom";
import yazl from "yazl";
import { iso, latestAttempt, toSec, type Dataset, type SimRun, type SimRunAttempt } from "./dataset.js";

const ARTIFACT_ID_BASE = 70_000_000_000;
/** Fixed entry times: the same artifact is the same bytes on every download. */
const ZIP_MTIME = new Date("2026-01-01T00:00:00Z");
const RETENTION_DAYS = 90;
/** The entry of `junit-partial` cut in the middle of an element. */
export const PARTIAL_CUT_ENTRY = "reports/junit-cut.xml";
/** Size of one generated testcase of the huge report, in bytes (padding included). */
export const HUGE_CASE_BYTES = 1024;

export type SimArtifactKind = "junit" | "coverage" | "other" | "expired" | "corrupt" | "bomb" | "traversal" | "huge" | "partial";

export interface SimTestCase {
  repository: string;
  runId: number;
  runAttempt: number;
  headSha: string;
  artifactId: number;
  artifactName: string;
  /** The job the report came from. */
  jobName: string;
  reportPath: string;
  ordinal: number;
  suite: string | null;
  classname: string;
  name: string;
  status: "passed" | "failed" | "error" | "skipped";
  durationSeconds: number;
  flakyFailures: number;
  rerunFailures: number;
}

export interface SimCoverage {
  repository: string;
  runId: number;
  runAttempt: number;
  artifactId: number;
  reportPath: string;
  format: "cobertura" | "jacoco";
  linesCovered: number;
  linesValid: number;
  branchesCovered: number;
  branchesValid: number;
  lineRate: number;
  branchRate: number;
}

export interface SimArtifact {
  id: number;
  name: string;
  kind: SimArtifactKind;
  run: SimRun;
  attempt: SimRunAttempt;
  jobName: string;
  createdAt: string;
  expiresAt: string;
  expired: boolean;
  /** JUnit files: name and cases (ordinals across the artifact); coverage files: name and totals. */
  files: { path: string; cases?: SimTestCase[]; coverage?: SimCoverage }[];
}

export interface ArtifactOptions {
  /** Size of `test-results-huge`'s report; 0 (default) = no such artifact. */
  hugeReportBytes?: number;
}

const ML_TESTS: [string, string][] = [
  ["tests.test_features", "test_scaling"],
  ["tests.test_features", "test_one_hot"],
  ["tests.test_features", "test_missing_values"],
  ["tests.test_model", "test_fit_converges"],
  ["tests.test_model", "test_predict_shape"],
  ["tests.test_model", "test_serialise_roundtrip"],
  ["tests.test_io", "test_read_parquet"],
  ["tests.test_gpu", "test_cuda_kernel"],
];
const API_TESTS: [string, string, string][] = [
  ["checkout", "cart", "adds an item"],
  ["checkout", "cart", "removes an item"],
  ["checkout", "coupons", "applies coupon"],
  ["auth", "login", "rejects a bad password"],
  ["auth", "login", "issues a session"],
];
const ANDROID_TESTS = ["loginScreenShowsError", "syncRetriesOnTimeout", "cacheEvictsOldest", "deepLinkOpensOrder"];

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function idOf(run: SimRun, attemptIndex: number, k: number): number {
  return ARTIFACT_ID_BASE + run.seq * 256 + attemptIndex * 16 + k;
}

/** The newest completed ml-platform CI run: the one carrying the bad artifacts. */
function badRunId(ds: Dataset): number | null {
  for (let i = ds.runs.length - 1; i >= 0; i -= 1) {
    const r = ds.runs[i]!;
    const a = latestAttempt(r);
    if (r.repo === "acme/ml-platform" && r.workflow_name === "CI" && a.status === "completed" && (a.conclusion === "success" || a.conclusion === "failure")) return r.id;
  }
  return null;
}

const cache = new WeakMap<Dataset, number | null>();
const badRunOf = (ds: Dataset): number | null => {
  if (!cache.has(ds)) cache.set(ds, badRunId(ds));
  return cache.get(ds) ?? null;
};

/** Every artifact of a run, oldest attempt first (what GitHub lists for a run: all attempts'). */
export function artifactsOfRun(ds: Dataset, run: SimRun, options: ArtifactOptions = {}): SimArtifact[] {
  const out: SimArtifact[] = [];
  const latest = run.attempts.length - 1;
  run.attempts.forEach((attempt, index) => {
    if (attempt.status !== "completed" || (attempt.conclusion !== "success" && attempt.conclusion !== "failure")) return;
    const rng = seedrandom.alea(`${ds.seed}|artifacts|${run.id}|${attempt.run_attempt}`);
    // Uploaded near the end of the attempt, never before it started.
    const created = Math.max(toSec(attempt.run_started_at) + 1, toSec(attempt.updated_at) - 10);
    const base = (k: number, name: string, kind: SimArtifactKind, jobName: string): SimArtifact => ({
      id: idOf(run, index, k),
      name,
      kind,
      run,
      attempt,
      jobName,
      createdAt: iso(created),
      expiresAt: iso(created + RETENTION_DAYS * 86_400),
      expired: false,
      files: [],
    });
    const failed = attempt.conclusion === "failure";
    const cases = (a: SimArtifact, path: string, list: Omit<SimTestCase, "repository" | "runId" | "runAttempt" | "headSha" | "artifactId" | "artifactName" | "jobName" | "reportPath" | "ordinal">[]) => {
      const start = a.files.reduce((n, f) => n + (f.cases?.length ?? 0), 0);
      a.files.push({
        path,
        cases: list.map((c, i) => ({ repository: run.repo, runId: run.id, runAttempt: attempt.run_attempt, headSha: run.head_sha, artifactId: a.id, artifactName: a.name, jobName: a.jobName, reportPath: path, ordinal: start + i + 1, ...c })),
      });
    };
    const dur = () => Math.round(rng() * 5000) / 1000;

    // Only some runs upload reports, so a whole-dataset extract stays within the default 5,000 requests/h.
    const sampled = run.seq % 6 === 0 || run.attempts.length > 1 || run.id === badRunOf(ds);
    if (run.repo === "acme/ml-platform" && run.workflow_name === "CI" && sampled) {
      // A failed attempt fails one test in one leg. When a later attempt of the run succeeded, the
      // failure was a flake: always test_read_parquet on Ubuntu. Otherwise it is the run's real failure
      // (the same test and leg on every attempt, chosen per run), which a re-run does not fix.
      const runRng = seedrandom.alea(`${ds.seed}|artifacts|${run.id}`);
      const flake = run.attempts.slice(index + 1).some((later) => later.status === "completed" && later.conclusion === "success");
      const failLeg = flake ? "ubuntu" : runRng() < 0.5 ? "ubuntu" : "windows";
      const failIx = flake ? 6 : Math.floor(runRng() * 6);
      const failKind = !flake && runRng() < 0.25 ? "error" : "failed";
      ["ubuntu", "windows"].forEach((leg, k) => {
        const a = base(k, `junit-${leg}`, "junit", `test (${leg}-latest, 3.12)`);
        cases(a, "reports/junit.xml", ML_TESTS.map(([classname, name], i) => ({
          suite: "pytest",
          classname,
          name,
          status: name === "test_cuda_kernel" ? "skipped" : failed && leg === failLeg && i === failIx ? failKind : "passed",
          durationSeconds: dur(),
          flakyFailures: 0,
          rerunFailures: 0,
        })));
        out.push(a);
      });
      const cov = base(2, "coverage", "coverage", "test (ubuntu-latest, 3.12)");
      const valid = 800 + Math.floor(rng() * 400);
      const covered = Math.floor(valid * (0.6 + rng() * 0.35));
      const bValid = 100 + Math.floor(rng() * 100);
      const bCovered = Math.floor(bValid * (0.4 + rng() * 0.5));
      // Rates as coverage.py writes them: four decimals.
      cov.files.push({ path: "coverage.xml", coverage: { repository: run.repo, runId: run.id, runAttempt: attempt.run_attempt, artifactId: cov.id, reportPath: "coverage.xml", format: "cobertura", linesCovered: covered, linesValid: valid, branchesCovered: bCovered, branchesValid: bValid, lineRate: Number((covered / valid).toFixed(4)), branchRate: Number((bCovered / bValid).toFixed(4)) } });
      out.push(cov);
      out.push(base(3, "dist", "other", "build"));
      if (index === latest && run.id === badRunOf(ds)) {
        const expired = base(4, "junit-expired", "expired", "test (ubuntu-latest, 3.12)");
        expired.expired = true;
        expired.expiresAt = iso(created + 60);
        out.push(expired);
        out.push(base(5, "junit-corrupt", "corrupt", "test (ubuntu-latest, 3.12)"));
        out.push(base(6, "test-results-bomb", "bomb", "test (ubuntu-latest, 3.12)"));
        out.push(base(7, "coverage-traversal", "traversal", "test (ubuntu-latest, 3.12)"));
        // A good report beside one cut in the middle: the cut file alone is quarantined.
        const partial = base(9, "junit-partial", "partial", "test (ubuntu-latest, 3.12)");
        cases(partial, "reports/junit.xml", [
          { suite: "pytest", classname: "tests.test_smoke", name: "test_import", status: "passed", durationSeconds: 0.01, flakyFailures: 0, rerunFailures: 0 },
          { suite: "pytest", classname: "tests.test_smoke", name: "test_version", status: "passed", durationSeconds: 0.02, flakyFailures: 0, rerunFailures: 0 },
        ]);
        out.push(partial);
        const huge = options.hugeReportBytes ?? 0;
        if (huge > 0) {
          const h = base(8, "test-results-huge", "huge", "test (ubuntu-latest, 3.12)");
          const n = Math.ceil(huge / HUGE_CASE_BYTES);
          cases(h, "huge/junit.xml", Array.from({ length: n }, (_, i) => ({ suite: "huge", classname: `huge.Case${Math.floor(i / 1000)}`, name: `test_${i}`, status: "passed" as const, durationSeconds: (i % 1000) / 1000, flakyFailures: 0, rerunFailures: 0 })));
          out.push(h);
        }
      }
      return;
    }
    if (run.repo === "acme/api" && run.workflow_name === "CI" && ((run.attempts.length > 1 && run.seq % 8 === 0) || run.id === ds.special.rerun2RunId || run.id === ds.special.rerun3RunId)) {
      const a = base(0, "test-results", "junit", "test (ubuntu-latest, 20)");
      cases(a, "junit.xml", API_TESTS.map(([top, inner, name]) => ({
        suite: `${top} > ${inner}`,
        classname: `${top}.${inner}`,
        name,
        // The flaky test: fails on every attempt but the last of the same SHA.
        status: name === "applies coupon" && index < latest ? "failed" : "passed",
        durationSeconds: dur(),
        flakyFailures: 0,
        rerunFailures: 0,
      })));
      out.push(a);
      return;
    }
    if (run.repo === "acme/mobile" && run.workflow_name === "CI" && run.seq % 20 === 0) {
      const a = base(0, "test-results-android", "junit", "android");
      cases(a, "app/build/test-results/TEST-com.acme.AppTest.xml", ANDROID_TESTS.map((name, i) => ({
        suite: "com.acme.AppTest",
        classname: "com.acme.AppTest",
        name,
        status: i === 3 && failed ? "failed" : "passed",
        durationSeconds: dur(),
        // Surefire re-ran syncRetriesOnTimeout after a failure and it passed: flaky within one execution.
        flakyFailures: i === 1 ? 1 : 0,
        rerunFailures: i === 3 && failed ? 1 : 0,
      })));
      out.push(a);
      const cov = base(1, "coverage-android", "coverage", "android");
      const missed = 100 + Math.floor(rng() * 300);
      const covered = 900 + Math.floor(rng() * 300);
      const bMissed = 20 + Math.floor(rng() * 50);
      const bCovered = 60 + Math.floor(rng() * 60);
      cov.files.push({ path: "jacoco/jacocoTestReport.xml", coverage: { repository: run.repo, runId: run.id, runAttempt: attempt.run_attempt, artifactId: cov.id, reportPath: "jacoco/jacocoTestReport.xml", format: "jacoco", linesCovered: covered, linesValid: missed + covered, branchesCovered: bCovered, branchesValid: bMissed + bCovered, lineRate: covered / (missed + covered), branchRate: bCovered / (bMissed + bCovered) } });
      out.push(cov);
    }
  });
  return out;
}

// ---------------------------------------------------------------- documents

function junitXml(a: SimArtifact, file: { cases?: SimTestCase[] }): string {
  const cs = file.cases ?? [];
  const tc = (c: SimTestCase): string => {
    const attrs = `classname="${esc(c.classname)}" name="${esc(c.name)}" time="${c.durationSeconds}"`;
    const inner: string[] = [];
    if (c.status === "failed") inner.push(`<failure message="AssertionError: expected 200, got 500" type="AssertionError">Traceback (most recent call last):\n  File "${esc(c.classname)}.py", line 42\nAssertionError</failure>`);
    if (c.status === "error") inner.push(`<error message="fixture 'db' raised" type="RuntimeError">RuntimeError: connection refused</error>`);
    if (c.status === "skipped") inner.push(`<skipped message="no GPU on this runner"/>`);
    for (let i = 0; i < c.flakyFailures; i += 1) inner.push(`<flakyFailure message="timeout after 5000 ms" type="java.net.SocketTimeoutException"><stackTrace>java.net.SocketTimeoutException</stackTrace></flakyFailure>`);
    for (let i = 0; i < c.rerunFailures; i += 1) inner.push(`<rerunFailure message="still failing" type="java.lang.AssertionError"/>`);
    if (c.status !== "passed") inner.push(`<system-out>captured output of ${esc(c.name)}</system-out>`);
    return inner.length ? `<testcase ${attrs}>${inner.join("")}</testcase>` : `<testcase ${attrs}/>`;
  };
  if (a.name === "test-results") {
    // jest-junit: testsuites root, one suite per describe path, nested for the inner describe.
    const bySuite = new Map<string, SimTestCase[]>();
    for (const c of cs) bySuite.set(c.suite ?? "", [...(bySuite.get(c.suite ?? "") ?? []), c]);
    const tops = new Map<string, string[]>();
    for (const [suite, list] of bySuite) {
      const [top = "", inner = ""] = suite.split(" > ");
      tops.set(top, [...(tops.get(top) ?? []), `<testsuite name="${esc(inner)}" tests="${list.length}">${list.map(tc).join("")}</testsuite>`]);
    }
    return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="jest tests" tests="${cs.length}">${[...tops].map(([top, inner]) => `<testsuite name="${esc(top)}" file="src/${esc(top)}.test.ts">${inner.join("")}</testsuite>`).join("")}</testsuites>\n`;
  }
  const suite = cs[0]?.suite ?? "pytest";
  return `<?xml version="1.0" encoding="utf-8"?>\n<testsuite name="${esc(suite)}" tests="${cs.length}" failures="${cs.filter((c) => c.status === "failed").length}">\n${cs.map(tc).join("\n")}\n</testsuite>\n`;
}

function coverageXml(c: SimCoverage): string {
  if (c.format === "cobertura")
    return `<?xml version="1.0" ?>\n<coverage version="7.6.1" timestamp="1760000000000" lines-valid="${c.linesValid}" lines-covered="${c.linesCovered}" line-rate="${c.lineRate}" branches-covered="${c.branchesCovered}" branches-valid="${c.branchesValid}" branch-rate="${c.branchRate}" complexity="0">\n<sources><source>/home/runner/work/ml-platform/src</source></sources>\n<packages><package name="mlp" line-rate="0.5" branch-rate="0.5" complexity="0"><classes/></package></packages>\n</coverage>\n`;
  return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><!DOCTYPE report PUBLIC "-//JACOCO//DTD Report 1.1//EN" "report.dtd"><report name="app"><sessioninfo id="s1" start="1" dump="2"/><package name="com/acme"><counter type="LINE" missed="1" covered="1"/></package><counter type="INSTRUCTION" missed="500" covered="4000"/><counter type="BRANCH" missed="${c.branchesValid - c.branchesCovered}" covered="${c.branchesCovered}"/><counter type="LINE" missed="${c.linesValid - c.linesCovered}" covered="${c.linesCovered}"/></report>`;
}

/** The huge report, generated as it is read: fixed-size testcases padded with seeded hex (so it compresses like real output, far below the ratio limit). */
export function hugeReportStream(a: SimArtifact): Readable {
  const cs = a.files[0]?.cases ?? [];
  const rng = seedrandom.alea(`huge|${a.id}`);
  let i = -1;
  return new Readable({
    read() {
      if (i === -1) {
        this.push(`<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="huge" tests="${cs.length}">\n`);
        i = 0;
        return;
      }
      if (i >= cs.length) {
        this.push("</testsuite>\n");
        this.push(null);
        return;
      }
      const parts: string[] = [];
      for (let k = 0; k < 256 && i < cs.length; k += 1, i += 1) {
        const c = cs[i]!;
        const head = `<testcase classname="${c.classname}" name="${c.name}" time="${c.durationSeconds}"><system-out>`;
        const tail = `</system-out></testcase>\n`;
        const room = HUGE_CASE_BYTES - head.length - tail.length;
        let pad = "";
        while (pad.length < room) pad += Math.floor(rng() * 0xffffffff).toString(16).padStart(8, "0");
        parts.push(head + pad.slice(0, room) + tail);
      }
      this.push(parts.join(""));
    },
  });
}

const zipToBuffer = (zip: yazl.ZipFile): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on("data", (c: Buffer) => chunks.push(c));
    zip.outputStream.on("end", () => resolve(Buffer.concat(chunks)));
    zip.outputStream.on("error", reject);
    zip.end();
  });

/** The zip of an artifact, as bytes (every kind but `huge`, which is streamed: `artifactZipStream`). */
export async function artifactZip(a: SimArtifact): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const add = (path: string, text: string | Buffer) => zip.addBuffer(Buffer.isBuffer(text) ? text : Buffer.from(text), path, { mtime: ZIP_MTIME, mode: 0o644 });
  switch (a.kind) {
    case "junit":
    case "coverage":
      for (const f of a.files) add(f.path, f.coverage ? coverageXml(f.coverage) : junitXml(a, f));
      return zipToBuffer(zip);
    case "partial":
      for (const f of a.files) add(f.path, junitXml(a, f));
      add(PARTIAL_CUT_ENTRY, `<?xml version="1.0"?>\n<testsuite name="cut"><testcase classname="tests.test_cut" name="test_a"/><testcase classname="tests.test_cut" na`);
      return zipToBuffer(zip);
    case "other":
      add("mlp-1.0.0-py3-none-any.whl", randomlike(a.id, 4096));
      return zipToBuffer(zip);
    case "corrupt": {
      add("reports/junit.xml", `<testsuite name="x"><testcase name="t"/></testsuite>`);
      const whole = await zipToBuffer(zip);
      // Cut in half: the end-of-central-directory record is gone.
      return whole.subarray(0, Math.floor(whole.length / 2));
    }
    case "bomb":
      add("reports/junit.xml", `<testsuite name="ok"><testcase name="t"/></testsuite>`);
      add("reports/huge.xml", Buffer.alloc(50 * 1024 * 1024, 0x20));
      return zipToBuffer(zip);
    case "traversal": {
      add("coverage.xml", `<coverage line-rate="0.5" branch-rate="0.5"/>`);
      // yazl refuses a ".." path: write a same-length placeholder, then rename it in both headers.
      add("aa/aa/evil-coverage.xml", `<coverage line-rate="1" branch-rate="1"/>`);
      const bytes = await zipToBuffer(zip);
      return replaceAll(bytes, Buffer.from("aa/aa/evil-coverage.xml"), Buffer.from("../../evil-coverage.xml"));
    }
    default:
      throw new Error(`artifact ${a.id} (${a.kind}) has no byte form`);
  }
}

/** The huge artifact's zip, compressed while it is sent. */
export function artifactZipStream(a: SimArtifact): Readable {
  const zip = new yazl.ZipFile();
  zip.addReadStream(hugeReportStream(a), a.files[0]?.path ?? "junit.xml", { mtime: ZIP_MTIME, mode: 0o644 });
  zip.end();
  return zip.outputStream as Readable;
}

function randomlike(seed: number, n: number): Buffer {
  const rng = seedrandom.alea(`bytes|${seed}`);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 1) b[i] = Math.floor(rng() * 256);
  return b;
}

function replaceAll(haystack: Buffer, from: Buffer, to: Buffer): Buffer {
  const out = Buffer.from(haystack);
  for (let at = out.indexOf(from); at !== -1; at = out.indexOf(from, at + to.length)) to.copy(out, at);
  return out;
}

// ---------------------------------------------------------------- ground truth

export interface ArtifactTruth {
  /** Every test case of every readable artifact of completed runs. */
  cases: SimTestCase[];
  coverage: SimCoverage[];
  /**
   * Flaky tests: per (repository, artifact name, classname, name), failed (or errored) and passed on the
   * same head SHA, across attempts or runs, or with a Surefire flakyFailure. The artifact name stands for
   * the matrix leg: a test failing on Windows and passing on Ubuntu of the same SHA is not flaky.
   */
  flaky: { repository: string; artifactName: string; jobName: string; classname: string; name: string }[];
  expired: number[];
  /** Artifacts the extractor must reject, with the word its quarantine reason must contain. */
  rejected: { id: number; name: string; kind: "corrupt" | "bomb" | "traversal"; reason: RegExp }[];
  /** Malformed report files inside otherwise good zips: quarantined alone, the rest of the artifact read. */
  malformed: { artifactId: number; name: string; entry: string }[];
  /** Artifacts listed per run, and those matching the usual globs (junit*, test-results*, coverage*). */
  artifacts: SimArtifact[];
}

/** Ground truth for runs whose latest attempt is completed (the extractor reads artifacts of those only). */
export function artifactTruth(ds: Dataset, options: ArtifactOptions & { runIds?: ReadonlySet<number> } = {}): ArtifactTruth {
  const truth: ArtifactTruth = { cases: [], coverage: [], flaky: [], expired: [], rejected: [], malformed: [], artifacts: [] };
  for (const run of ds.runs) {
    if (options.runIds && !options.runIds.has(run.id)) continue;
    if (latestAttempt(run).status !== "completed") continue;
    for (const a of artifactsOfRun(ds, run, options)) {
      truth.artifacts.push(a);
      if (a.kind === "expired") truth.expired.push(a.id);
      if (a.kind === "corrupt") truth.rejected.push({ id: a.id, name: a.name, kind: a.kind, reason: /not a readable zip/ });
      if (a.kind === "bomb") truth.rejected.push({ id: a.id, name: a.name, kind: a.kind, reason: /zip bomb/ });
      if (a.kind === "traversal") truth.rejected.push({ id: a.id, name: a.name, kind: a.kind, reason: /path traversal/ });
      if (a.kind === "partial") truth.malformed.push({ artifactId: a.id, name: a.name, entry: PARTIAL_CUT_ENTRY });
      if (a.kind !== "junit" && a.kind !== "coverage" && a.kind !== "huge" && a.kind !== "partial") continue;
      for (const f of a.files) {
        for (const c of f.cases ?? []) truth.cases.push(c);
        if (f.coverage) truth.coverage.push(f.coverage);
      }
    }
  }
  const key = (c: SimTestCase) => JSON.stringify([c.repository, c.artifactName, c.classname, c.name]);
  const seen = new Map<string, { c: SimTestCase; bySha: Map<string, Set<string>>; surefire: boolean }>();
  for (const c of truth.cases) {
    const k = key(c);
    const e = seen.get(k) ?? { c, bySha: new Map(), surefire: false };
    seen.set(k, e);
    const s = e.bySha.get(c.headSha) ?? new Set<string>();
    s.add(c.status === "error" ? "failed" : c.status);
    e.bySha.set(c.headSha, s);
    if (c.flakyFailures > 0) e.surefire = true;
  }
  for (const { c, bySha, surefire } of seen.values())
    if (surefire || [...bySha.values()].some((s) => s.has("failed") && s.has("passed"))) truth.flaky.push({ repository: c.repository, artifactName: c.artifactName, jobName: c.jobName, classname: c.classname, name: c.name });
  return truth;
}

// ---------------------------------------------------------------- download host

/** Signs and checks the one-minute download URLs of the second listener. */
export class DownloadSigner {
  private readonly secret = randomBytes(16);
  constructor(readonly ttlMs = 60_000) {}
  sign(artifactId: number, now = Date.now()): string {
    const expires = now + this.ttlMs;
    const sig = createHmac("sha256", this.secret).update(`${artifactId}:${expires}`).digest("hex");
    return `/artifacts/${artifactId}.zip?se=${expires}&sig=${sig}`;
  }
  /** The artifact id of a valid, unexpired path; otherwise why not. */
  check(pathAndQuery: URL, now = Date.now()): { id: number } | { problem: "expired" | "bad signature" } {
    const m = /^\/artifacts\/(\d+)\.zip$/.exec(pathAndQuery.pathname);
    const expires = Number(pathAndQuery.searchParams.get("se"));
    const sig = pathAndQuery.searchParams.get("sig") ?? "";
    if (!m) return { problem: "bad signature" };
    const want = createHmac("sha256", this.secret).update(`${m[1]}:${expires}`).digest("hex");
    if (want !== sig) return { problem: "bad signature" };
    if (now > expires) return { problem: "expired" };
    return { id: Number(m[1]) };
  }
}

/** The artifact with this id, if its run exists and carries it. */
export function findArtifact(ds: Dataset, id: number, options: ArtifactOptions = {}): SimArtifact | undefined {
  const seq = Math.floor((id - ARTIFACT_ID_BASE) / 256);
  const run = ds.runs[seq]?.seq === seq ? ds.runs[seq] : ds.runs.find((r) => r.seq === seq);
  return run ? artifactsOfRun(ds, run, options).find((a) => a.id === id) : undefined;
}

/** Approximate zip size for the list (the real bytes are made only on download). */
export function approximateSize(a: SimArtifact): number {
  switch (a.kind) {
    case "huge":
      return Math.ceil(((a.files[0]?.cases?.length ?? 0) * HUGE_CASE_BYTES) / 2);
    case "bomb":
      return 51_000;
    case "other":
      return 4_300;
    default:
      return 300 + a.files.reduce((n, f) => n + (f.cases?.length ?? 0) * 60 + (f.coverage ? 250 : 0), 0);
  }
}
