/** The command line as scripts and the cron use it: a real subprocess, real exit codes. */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, startSimulator, type Simulator } from "../simulator/index.js";
import { openDuckDb } from "../load/duckdb-connection.js";

const BIN = join(import.meta.dirname, "..", "bin", "actions-warehouse.js");

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("actions-warehouse CLI", () => {
  let dir: string;
  let simulator: Simulator;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-cli-"));
    const dataset = generateDataset({ seed: 3, anchor: "2026-10-15T12:00:00Z", days: 3, runsPerRepoPerDay: 4, busyDayRuns: 0, bigRunJobs: 20, bigPackageVersions: 10 });
    simulator = await startSimulator({ dataset, token: "ghp_clitesttoken0123456789" });
  });
  afterAll(async () => {
    await simulator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("documents every command with examples", async () => {
    const { code, stdout } = await cli(["--help"]);
    expect(code).toBe(0);
    for (const command of ["extract", "load", "transform", "pipeline", "demo"]) expect(stdout).toContain(command);
    const pipelineHelp = await cli(["pipeline", "--help"]);
    expect(pipelineHelp.stdout).toMatch(/Examples:[\s\S]*actions-warehouse pipeline --repo/);
  });

  it("stops on bad configuration with a message naming the field (exit 3)", async () => {
    const { code, stderr } = await cli(["extract", "--repo", "not-a-repo", "--since", "2026-13-45"], { GITHUB_API_URL: simulator.url });
    expect(code).toBe(3);
    expect(stderr).toMatch(/repos\.0: --repo must be OWNER\/NAME/);
    expect(stderr).toMatch(/since: /);
  });

  it("rejects an unknown warehouse with the accepted values (exit 2)", async () => {
    const { code, stderr } = await cli(["pipeline", "--repo", "acme/api", "--since", "2026-10-01", "--warehouse", "oracle"]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/Allowed choices are duckdb/);
  });

  it("runs the stable pipeline invocation end to end, with the token from the environment and never in the output", async () => {
    const duckdbPath = join(dir, "cli.duckdb");
    const token = "ghp_clitesttoken0123456789";
    const { code, stdout, stderr } = await cli(
      ["pipeline", "--repo", "acme/api", "--org", "acme", "--since", "2026-10-12", "--warehouse", "duckdb", "--duckdb-path", duckdbPath, "--staging-dir", join(dir, "staging"), "--var", "kpi_reference_time=2026-10-15T12:00:00Z"],
      { GITHUB_API_URL: simulator.url, GITHUB_TOKEN: token, LOG_LEVEL: "debug" },
    );
    expect(stderr + stdout).not.toContain(token);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/workflow_runs\s+\d+/);
    expect(stdout).toMatch(/API requests\s+\d+/);
    const w = await openDuckDb(duckdbPath);
    try {
      const rows = (await w.connection.runAndReadAll("SELECT COUNT(*) AS n FROM actions_warehouse.fct_workflow_runs")).getRowObjectsJS();
      expect(Number(rows[0]?.n)).toBeGreaterThan(0);
    } finally {
      w.close();
    }
  });

  it("fails clearly when the token is rejected (exit 1)", async () => {
    const { code, stderr } = await cli(["extract", "--repo", "acme/api", "--since", "2026-10-14", "--staging-dir", join(dir, "s2")], {
      GITHUB_API_URL: simulator.url,
      GITHUB_TOKEN: "ghp_wrongtoken9876543210",
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/Bad credentials|401/);
    expect(stderr).not.toContain("ghp_wrongtoken9876543210");
  });
});
