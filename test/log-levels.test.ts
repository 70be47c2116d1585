/**
 * Log levels mean something, and the command line has manners.
 * - `error` only when the run fails: a successful incremental run (a first run, then a second one whose
 *   list pages all answer 304) prints nothing at LOG_LEVEL=error, and no error line at info;
 * - a 304 is debug; a retried failure is one warn line naming its real cause (`status 502`);
 * - LOG_LEVEL is case-insensitive, an unknown value is a configuration error (exit 3);
 * - `--version`; no arguments prints the help and exits 2; bad flag values are exit 2 when the command
 *   line cannot parse them, 3 when it parses them and the configuration refuses them.
 * Drives the real `main()` in-process (test/cli-session.ts).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { generateDataset, startSimulator, type Dataset, type Simulator } from "../simulator/index.js";
import { cliSession } from "./cli-session.js";

const DAY = 86_400_000;
let dir: string;
let dataset: Dataset;
let simulator: Simulator;

type Line = { level: string; msg: string } & Record<string, unknown>;
const parse = (stderr: string): Line[] =>
  stderr
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "aw-log-levels-"));
  dataset = generateDataset({ seed: "log-levels", anchor: new Date(Date.now() - 3600_000).toISOString().replace(/\.\d{3}Z$/, "Z"), days: 3, runsPerRepoPerDay: 2, busyDayRuns: 0, bigRunJobs: 3, bigPackageVersions: 3 });
  simulator = await startSimulator({ dataset });
});
afterAll(async () => {
  await simulator?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("an incremental run", () => {
  const duckdb = () => join(dir, "incremental.duckdb");
  const staging = () => join(dir, "incremental-staging");
  const scope = () => ["--org", dataset.org.login, "--user", dataset.user.login];

  /** extract then load, as the cron does, in one session with LOG_LEVEL=level. */
  async function tick(level: string, extra: string[] = []): Promise<{ codes: number[]; stderr: string; stdout: string }> {
    const session = cliSession({ GITHUB_API_URL: simulator.url, LOG_LEVEL: level });
    try {
      const extract = await session.run("extract", ...scope(), ...extra, "--staging-dir", staging(), "--duckdb-path", duckdb());
      const load = await session.run("load", "--staging-dir", staging(), "--duckdb-path", duckdb());
      return { codes: [extract, load], stderr: session.stderr, stdout: session.stdout };
    } finally {
      session.close();
    }
  }

  it("prints nothing at LOG_LEVEL=error: the first run, and the second whose list pages all answer 304", async () => {
    // The first run covers the days the second run's 30-day lookback lists again: every page has an ETag.
    const first = await tick("error", ["--since", new Date(Date.now() - 30 * DAY).toISOString().slice(0, 10)]);
    expect(first.codes, first.stderr).toEqual([0, 0]);
    expect(first.stderr).toBe("");
    expect(first.stdout).toMatch(/workflow_runs\s+\d+/);

    simulator.resetStats();
    const second = await tick("error");
    expect(second.codes, second.stderr).toEqual([0, 0]);
    expect(second.stderr).toBe("");
    expect(simulator.stats().notModified).toBeGreaterThan(30);
  }, 120_000);

  it("has no error line at info, and its 304s are debug lines (LOG_LEVEL=DEBUG, any case)", async () => {
    const info = await tick("info");
    expect(info.codes, info.stderr).toEqual([0, 0]);
    const infoLines = parse(info.stderr);
    expect(infoLines.length).toBeGreaterThan(0);
    expect(infoLines.filter((l) => l.level === "error")).toEqual([]);
    expect(infoLines.some((l) => l.msg === "extract finished")).toBe(true);
    expect(infoLines.filter((l) => l.level === "debug")).toEqual([]);

    const debug = await tick("DEBUG");
    expect(debug.codes, debug.stderr).toEqual([0, 0]);
    const debugLines = parse(debug.stderr);
    expect(debugLines.filter((l) => l.level === "error")).toEqual([]);
    const notModified = debugLines.filter((l) => / - 304 with id /.test(l.msg));
    expect(notModified.length).toBeGreaterThan(30);
    expect(new Set(notModified.map((l) => l.level))).toEqual(new Set(["debug"]));
  }, 120_000);
});

describe("a retried failure", () => {
  it("is one warn line naming the status (502), and the run succeeds without an error line", async () => {
    let failed = 0;
    const flaky = await startSimulator({
      dataset,
      faults: (c) => {
        if (failed > 0 || !c.route.endsWith("/actions/runs")) return undefined;
        failed += 1;
        return { status: 502, body: { message: "Server Error" } };
      },
    });
    const session = cliSession({ GITHUB_API_URL: flaky.url, LOG_LEVEL: "info" });
    try {
      const code = await session.run("extract", "--repo", "acme/api", "--since", dataset.anchor.slice(0, 10), "--no-packages", "--staging-dir", join(dir, "flaky-staging"), "--duckdb-path", join(dir, "flaky.duckdb"));
      expect(code, session.stderr).toBe(0);
      const lines = parse(session.stderr);
      expect(lines.filter((l) => l.level === "error")).toEqual([]);
      const warns = lines.filter((l) => l.level === "warn");
      expect(warns).toHaveLength(1);
      expect(warns[0]?.msg).toMatch(/^retrying GET http:\/\/127\.0\.0\.1:\d+\/repos\/acme\/api\/actions\/runs\S*: status 502 \(attempt 1 failed; next in 1\.0 s\)$/);
      expect(warns[0]?.cause).toBe("status 502");
      expect(session.stderr).not.toMatch(/500 with id UNKNOWN/);
    } finally {
      session.close();
      await flaky.close();
    }
  }, 60_000);
});

describe("command-line manners", () => {
  it("LOG_LEVEL=loud is a configuration error naming LOG_LEVEL and the accepted values (exit 3)", async () => {
    const session = cliSession({ LOG_LEVEL: "loud" });
    try {
      expect(await session.run("extract", "--repo", "acme/api", "--since", "2026-10-01")).toBe(3);
      expect(session.stderr).toContain("LOG_LEVEL: must be one of debug, info, warn, error (any case), got \\\"loud\\\"");
    } finally {
      session.close();
    }
  });

  it("--version prints the package version (exit 0)", async () => {
    const session = cliSession();
    let out = "";
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    });
    try {
      const { version } = JSON.parse(readFileSync(join(import.meta.dirname, "..", "package.json"), "utf8")) as { version: string };
      expect(await session.run("--version")).toBe(0);
      expect(out.trim()).toBe(version);
    } finally {
      session.close();
    }
  });

  it("no arguments prints the help on stderr and exits 2", async () => {
    const session = cliSession();
    try {
      expect(await session.run()).toBe(2);
      expect(session.stderr).toMatch(/^Usage: actions-warehouse \[options\] \[command\]/);
      expect(session.stderr).toContain("pipeline");
      expect(session.stderr).toContain("LOG_LEVEL");
    } finally {
      session.close();
    }
  });

  it("a value the command line cannot parse is exit 2; a parsed value the configuration refuses is exit 3, naming the field", async () => {
    const session = cliSession({ GITHUB_API_URL: simulator.url });
    const run = async (...args: string[]) => {
      session.clear();
      const code = await session.run("extract", "--repo", "acme/api", "--since", dataset.anchor.slice(0, 10), "--staging-dir", join(dir, "flags-staging"), "--duckdb-path", join(dir, "flags.duckdb"), ...args);
      return { code, stderr: session.stderr };
    };
    try {
      for (const args of [["--concurrency", "abc"], ["--concurrency", "1e3"], ["--concurrency", "0x10"], ["--concurrency", ""], ["--lookback-days", "1.5"], ["--max-retry-seconds", "soon"], ["--bogus"]]) {
        const { code, stderr } = await run(...args);
        expect(code, args.join(" ")).toBe(2);
        expect(stderr, args.join(" ")).toMatch(/error: /);
      }
      const range = await run("--concurrency", "0");
      expect(range.code).toBe(3);
      expect(range.stderr).toContain("--concurrency must be between 1 and 50");
      const limit = await run("--max-retry-seconds", "99999");
      expect(limit.code).toBe(3);
      expect(limit.stderr).toContain("--max-retry-seconds must be a whole number of seconds between 0 and 3600");
    } finally {
      session.close();
    }
  });
});
