/**
 * Safe by default (issue 11, items 3 and 6): the demo never deletes what it did not create, two runs on
 * one warehouse never overlap (the second stops before any API request, naming the holder), a stale
 * lock is taken over, `transform` refuses a missing file, the compile cache lives with the working data,
 * and `doctor` fails on read-only, corrupt, half-built and locked warehouses, naming the fix.
 */
import { spawn } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, startSimulator, type Dataset, type Simulator } from "../simulator/index.js";
import { runPipeline } from "../jobs/pipeline.js";
import { DEMO_MARKER_FILE, DEMO_MARKER_TABLE, demoPaths, runDemo } from "../jobs/demo.js";
import { runDoctor, type CheckResult } from "../jobs/doctor.js";
import { openDuckDb } from "../load/duckdb-connection.js";
import { ensureBookkeeping } from "../load/duckdb-load.js";
import { acquireWarehouseLock, lockFileOf, WarehouseLockedError, type LockHolder } from "../load/warehouse-lock.js";
import { compileCacheDir, projectRoot } from "../transform/compile.js";
import { silentLogger } from "../log/logger.js";
import { cliSession } from "./cli-session.js";
import { queryWarehouse as query } from "./warehouse-query.js";

const ANCHOR = "2026-10-15T12:00:00Z";
const SINCE = "2026-10-13";
const UNTIL = "2026-10-15";
const SMALL = { runsPerRepoPerDay: 3, busyDayRuns: 0, bigRunJobs: 3, bigPackageVersions: 2 };
const BIN = join(import.meta.dirname, "..", "bin", "actions-warehouse.js");
const byCheck = (results: CheckResult[]) => Object.fromEntries(results.map((r) => [r.check, r]));
const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** Rows per table of every schema: what a destructive surprise would change. */
async function rowCounts(path: string): Promise<Record<string, number>> {
  const tables = await query(path, "SELECT schema_name AS s, table_name AS t FROM duckdb_tables() ORDER BY 1, 2");
  const out: Record<string, number> = {};
  for (const { s, t } of tables) out[`${String(s)}.${String(t)}`] = Number((await query(path, `SELECT COUNT(*) AS n FROM "${String(s)}"."${String(t)}"`))[0]?.n);
  return out;
}

interface Child {
  pid: number;
  done: Promise<{ code: number | null; out: string }>;
  out(): string;
}

/**
 * Runs node with `args` in a child process. `withoutDacOverride`: as root, drop the capabilities that
 * let root ignore file modes (util-linux `setpriv`), so a read-only file is read-only to the child, while
 * it can still read the project it runs from (a different user may not reach a private checkout).
 */
function start(args: string[], options: { env?: Record<string, string>; cwd?: string; withoutDacOverride?: boolean } = {}): Child {
  const caps = "-dac_override,-dac_read_search";
  const [command, argv] = options.withoutDacOverride ? ["setpriv", [`--inh-caps=${caps}`, `--bounding-set=${caps}`, "--", process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(command, argv, {
    env: { ...process.env, ...options.env },
    cwd: options.cwd ?? projectRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ code: number | null; out: string }>((resolve) => child.on("close", (code) => resolve({ code, out })));
  return { pid: child.pid ?? -1, done, out: () => out };
}

async function until(condition: () => boolean, what: string, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A PID that ran on this host and is dead now. */
async function deadPid(): Promise<number> {
  const child = start(["-e", ""]);
  await child.done;
  return child.pid;
}

describe("safe by default", () => {
  let dir: string;
  let dataset: Dataset;
  let simulator: Simulator;
  /** A real (non-demo) warehouse, built once by the pipeline; tests work on copies. */
  let real: string;

  const copyOfReal = (name: string): string => {
    const path = join(dir, name);
    copyFileSync(real, path);
    return path;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-safety-"));
    dataset = generateDataset({ seed: 11, anchor: ANCHOR, days: 3, ...SMALL });
    simulator = await startSimulator({ dataset });
    real = join(dir, "real.duckdb");
    await runPipeline({
      extract: { orgs: [dataset.org.login], since: SINCE, until: UNTIL, apiUrl: simulator.url, stagingDir: join(dir, "real.staging") },
      duckdbPath: real,
      vars: { kpi_reference_time: ANCHOR },
      log: silentLogger,
    });
  }, 120_000);

  afterAll(async () => {
    await simulator?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe("demo: nothing destructive without consent", () => {
    it("refuses an existing warehouse it did not create, names the file and --force, and leaves every row in place", async () => {
      const warehouse = copyOfReal("acme.duckdb");
      const before = await rowCounts(warehouse);
      expect(before["github_raw.workflow_runs"]).toBeGreaterThan(0);
      const hash = sha256(warehouse);
      const session = cliSession();
      try {
        const code = await session.run("demo", "--duckdb-path", warehouse);
        expect(code).toBe(1);
        expect(session.stderr).toContain(`demo: ${warehouse} already exists and was not created by the demo (it may be a real warehouse)`);
        expect(session.stderr).toContain(`add --force to overwrite ${warehouse}`);
      } finally {
        session.close();
      }
      expect(sha256(warehouse)).toBe(hash);
      expect(await rowCounts(warehouse)).toEqual(before);
      // Nothing of the demo's was written beside it, and the lock is gone.
      expect(existsSync(demoPaths(warehouse).stagingDir)).toBe(false);
      expect(existsSync(demoPaths(warehouse).report)).toBe(false);
      expect(existsSync(lockFileOf(warehouse))).toBe(false);
    });

    it("refuses a staging folder it did not create", async () => {
      const warehouse = join(dir, "fresh.duckdb");
      const { stagingDir } = demoPaths(warehouse);
      mkdirSync(stagingDir);
      writeFileSync(join(stagingDir, "precious.ndjson"), "{}\n");
      const session = cliSession();
      try {
        expect(await session.run("demo", "--duckdb-path", warehouse)).toBe(1);
        expect(session.stderr).toContain(`demo: the folder ${stagingDir} already exists and was not created by the demo`);
        expect(session.stderr).toContain(`add --force to delete ${stagingDir}`);
      } finally {
        session.close();
      }
      expect(readdirSync(stagingDir)).toEqual(["precious.ndjson"]);
      expect(existsSync(warehouse)).toBe(false);
    });

    it("overwrites with --force, marks what it created, and runs again on its own file without --force", async () => {
      const warehouse = copyOfReal("overwritten.duckdb");
      const paths = demoPaths(warehouse);
      const session = cliSession();
      try {
        await runDemo({ duckdbPath: warehouse, seed: 5, days: 2, dataset: SMALL, force: true, log: silentLogger });
        const marker = await query(warehouse, `SELECT note FROM main."${DEMO_MARKER_TABLE}"`);
        expect(String(marker[0]?.note)).toMatch(/created by actions-warehouse demo/);
        expect(existsSync(join(paths.stagingDir, DEMO_MARKER_FILE))).toBe(true);
        expect(existsSync(paths.report)).toBe(true);
        // The real warehouse's single extract was replaced by the demo's.
        const extracts = await query(warehouse, `SELECT COUNT(*) AS n FROM github_raw._extracts`);
        expect(Number(extracts[0]?.n)).toBe(1);

        // Again, without --force: the file and folder are the demo's own.
        await runDemo({ duckdbPath: warehouse, seed: 5, days: 2, dataset: SMALL, log: silentLogger });
        expect(Number((await query(warehouse, `SELECT COUNT(*) AS n FROM github_raw._extracts`))[0]?.n)).toBe(1);
        expect(await query(warehouse, `SELECT COUNT(*) AS n FROM main."${DEMO_MARKER_TABLE}"`)).toEqual([{ n: 1n }]);
        const runs = await query(warehouse, "SELECT COUNT(*) AS n, COUNT(DISTINCT (run_id, run_attempt)) AS d FROM actions_warehouse.fct_workflow_runs");
        expect(Number(runs[0]?.n)).toBeGreaterThan(0);
        expect(runs[0]?.n).toBe(runs[0]?.d);
        expect(session.stdout).toContain(`Warehouse: ${warehouse}`);
      } finally {
        session.close();
      }
      expect(existsSync(lockFileOf(warehouse))).toBe(false);
    }, 120_000);
  });

  describe("one run per warehouse", () => {
    const pipelineArgs = (warehouse: string) => ["pipeline", "--org", dataset.org.login, "--since", SINCE, "--until", UNTIL, "--duckdb-path", warehouse];

    it("a second pipeline on the same warehouse stops before any API request, naming the holder's PID, host and start time", async () => {
      const warehouse = join(dir, "shared.duckdb");
      const first = start([BIN, ...pipelineArgs(warehouse)], { env: { GITHUB_API_URL: simulator.url, LOG_LEVEL: "warn" } });
      await until(() => existsSync(lockFileOf(warehouse)), "the first pipeline's lock");
      const holder = JSON.parse(readFileSync(lockFileOf(warehouse), "utf8")) as LockHolder;
      expect(holder).toMatchObject({ pid: first.pid, host: hostname(), command: "pipeline" });

      const second = await startSimulator({ dataset });
      const session = cliSession({ GITHUB_API_URL: second.url });
      try {
        const code = await session.run(...pipelineArgs(warehouse));
        expect(code).toBe(1);
        expect(second.stats().requests).toBe(0);
        expect(session.stderr).toContain(`warehouse ${warehouse} is in use by pipeline (PID ${first.pid} on ${hostname()}, started ${holder.started})`);
        expect(session.stderr).toContain(`Wait for that run to finish (or stop it: kill ${first.pid}) and run again`);
      } finally {
        session.close();
        await second.close();
      }
      const result = await first.done;
      expect(result.code, result.out).toBe(0);
      expect(existsSync(lockFileOf(warehouse))).toBe(false);
    }, 120_000);

    it("takes over a stale lock whose PID is dead", async () => {
      const warehouse = copyOfReal("stale.duckdb");
      const stale: LockHolder = { pid: await deadPid(), host: hostname(), started: "2026-11-01T00:00:00.000Z", command: "pipeline", token: "crashed" };
      writeFileSync(lockFileOf(warehouse), JSON.stringify(stale));
      const session = cliSession({ GITHUB_API_URL: simulator.url });
      try {
        const code = await session.run(...pipelineArgs(warehouse));
        expect(code, session.stderr).toBe(0);
        expect(session.stderr).toContain("took over a stale warehouse lock");
        expect(session.stderr).toContain(`PID ${stale.pid} is not running`);
      } finally {
        session.close();
      }
      expect(existsSync(lockFileOf(warehouse))).toBe(false);
    }, 120_000);

    it("never takes over a lock from another host, and says how to remove it", () => {
      const warehouse = join(dir, "remote.duckdb");
      writeFileSync(lockFileOf(warehouse), JSON.stringify({ pid: 1, host: "runner-7", started: "2026-11-29T10:00:00.000Z", command: "pipeline", token: "t" }));
      const error = (() => {
        try {
          acquireWarehouseLock(warehouse, "load");
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(WarehouseLockedError);
      expect((error as Error).message).toBe(
        `warehouse ${warehouse} is in use by pipeline (PID 1 on runner-7, started 2026-11-29T10:00:00.000Z). Wait for that run to finish; if it is no longer running on runner-7, delete ${lockFileOf(warehouse)} and run again.`,
      );
      rmSync(lockFileOf(warehouse));
    });

    it("translates DuckDB's own file lock, held by a program that does not take the lock, into a message naming the file", async () => {
      const warehouse = copyOfReal("held.duckdb");
      const holder = start(
        ["--input-type=module", "-e", `import { DuckDBInstance } from "@duckdb/node-api"; const i = await DuckDBInstance.create(${JSON.stringify(warehouse)}); await i.connect(); console.log("ready"); setInterval(() => {}, 1000);`],
      );
      try {
        await until(() => holder.out().includes("ready"), "the DuckDB holder");
        const session = cliSession();
        try {
          expect(await session.run("load", "--duckdb-path", warehouse, "--staging-dir", join(dir, "empty-staging"))).toBe(1);
          expect(session.stderr).toContain(`warehouse ${warehouse} is open in`);
          expect(session.stderr).toContain(`(PID ${holder.pid}), which is not an actions-warehouse run`);
          expect(session.stderr).toContain("Close the warehouse there");
        } finally {
          session.close();
        }
      } finally {
        process.kill(holder.pid);
        await holder.done;
      }
      expect(existsSync(lockFileOf(warehouse))).toBe(false);
    });
  });

  describe("transform on a missing file", () => {
    it("refuses, says to run pipeline or load first, and creates nothing", async () => {
      const folder = join(dir, "nothing-here");
      const warehouse = join(folder, "w.duckdb");
      const session = cliSession();
      try {
        expect(await session.run("transform", "--duckdb-path", warehouse)).toBe(1);
        expect(session.stderr).toContain(`warehouse ${warehouse} does not exist: transform builds the models from a loaded warehouse. Run \`pipeline\` (or \`extract\` then \`load\`) with --duckdb-path ${warehouse} first`);
      } finally {
        session.close();
      }
      expect(existsSync(folder)).toBe(false);
    });
  });

  describe("compile cache", () => {
    it("is written under the working folder's .warehouse/cache, never inside the install folder", async () => {
      const work = join(dir, "workdir");
      mkdirSync(work);
      const w = await openDuckDb(join(work, "w.duckdb"));
      await ensureBookkeeping(w.connection);
      w.close();
      expect(compileCacheDir(work)).toBe(join(work, ".warehouse", "cache"));
      // A var nobody else uses gives this compile a cache entry of its own.
      const probe = randomUUID();
      const run = await start([BIN, "transform", "--duckdb-path", "w.duckdb", "--var", `cache_probe=${probe}`], { cwd: work, env: { LOG_LEVEL: "warn" } }).done;
      expect(run.code, run.out).toBe(0);
      const cached = readdirSync(join(work, ".warehouse", "cache"));
      expect(cached).toHaveLength(1);
      expect(cached[0]).toMatch(/^compile-[0-9a-f]{32}\.json$/);
      expect(readFileSync(join(work, ".warehouse", "cache", cached[0] ?? ""), "utf8")).toContain(probe);
      expect(existsSync(join(projectRoot, ".warehouse", "cache", cached[0] ?? ""))).toBe(false);
    }, 120_000);
  });

  describe("doctor checks what pipeline will trip on", () => {
    const doctor = async (duckdbPath: string) => byCheck(await runDoctor({ apiUrl: simulator.url, duckdbPath, stagingDir: join(dir, "doctor-staging") }));

    it("passes a sound warehouse: lock free, opens read-write, every block readable, raw tables all there", async () => {
      const r = await doctor(copyOfReal("sound.duckdb"));
      expect(r["warehouse lock"]?.status).toBe("ok");
      expect(r["warehouse file"]?.status).toBe("ok");
      expect(r["warehouse file"]?.detail).toMatch(/opens read-write/);
      expect(r["warehouse integrity"]?.status).toBe("ok");
      expect(r["raw tables"]?.status).toBe("ok");
    });

    it("fails on a read-only warehouse, naming the file and the fix", async () => {
      const folder = join(dir, "readonly");
      mkdirSync(folder);
      const warehouse = join(folder, "w.duckdb");
      copyFileSync(real, warehouse);
      chmodSync(warehouse, 0o444);
      if (process.getuid?.() === 0) {
        // Root writes any file: run doctor without the capability that lets it ignore file modes.
        const run = await start([BIN, "doctor", "--duckdb-path", warehouse, "--staging-dir", join(folder, "staging")], { withoutDacOverride: true, env: { GITHUB_API_URL: simulator.url } }).done;
        expect(run.code, run.out).toBe(1);
        expect(run.out).toMatch(/^FAIL\s+warehouse file\s+/m);
        expect(run.out).toContain(`${warehouse} cannot be opened for writing (`);
        expect(run.out).toContain(`pipeline, load and transform write to it. Give this user write access to the file and its folder (e.g. chmod u+w ${warehouse})`);
        expect(run.out).not.toMatch(/all checks passed/);
      } else {
        const r = await doctor(warehouse);
        expect(r["warehouse file"]?.status).toBe("fail");
        expect(r["warehouse file"]?.detail).toContain(`${warehouse} cannot be opened for writing`);
      }
    }, 60_000);

    it("fails on a corrupt warehouse that still opens, naming the file and how to rebuild it", async () => {
      const warehouse = copyOfReal("corrupt.duckdb");
      const [size] = await query(warehouse, "PRAGMA database_size");
      const blocks = await query(warehouse, "SELECT DISTINCT block_id FROM pragma_storage_info('github_raw.workflow_runs') WHERE block_id >= 0 ORDER BY 1");
      const block = Number(blocks[0]?.block_id);
      expect(Number.isInteger(block)).toBe(true);
      // DuckDB's file header is three 4 KiB blocks; data blocks follow, each starting with its checksum.
      const fd = openSync(warehouse, "r+");
      writeSync(fd, Buffer.alloc(64, 0xa5), 0, 64, 3 * 4096 + block * Number(size?.block_size) + 100);
      closeSync(fd);
      const r = await doctor(warehouse);
      // What doctor looked at before: the file opens and lists its tables.
      expect(r["warehouse file"]?.status).toBe("ok");
      expect(r["warehouse integrity"]?.status).toBe("fail");
      expect(r["warehouse integrity"]?.detail).toContain(`${warehouse} is corrupt (IO Error: Corrupt database file`);
      expect(r["warehouse integrity"]?.detail).toContain("Restore it from a backup, or move it aside and rebuild it with `pipeline --since YYYY-MM-DD`");
    });

    it("fails on a half-built warehouse, naming the missing tables and what to run", async () => {
      const warehouse = copyOfReal("half.duckdb");
      const w = await openDuckDb(warehouse);
      await w.connection.run('DROP TABLE github_raw."_extracts"; DROP TABLE github_raw.job_steps');
      w.close();
      const r = await doctor(warehouse);
      expect(r["raw tables"]?.status).toBe("fail");
      expect(r["raw tables"]?.detail).toBe(
        `${warehouse} is half-built: github_raw lacks job_steps, _extracts. Run \`load --duckdb-path ${warehouse}\` (it creates the missing tables, then loads what is staged) or \`pipeline\`, then \`transform\`.`,
      );
    });

    it("fails while another run holds the lock, naming the holder", async () => {
      const warehouse = copyOfReal("busy.duckdb");
      const lock = acquireWarehouseLock(warehouse, "pipeline");
      try {
        const r = await doctor(warehouse);
        expect(r["warehouse lock"]?.status).toBe("fail");
        expect(r["warehouse lock"]?.detail).toContain(`warehouse ${warehouse} is in use by pipeline (PID ${process.pid} on ${hostname()}, started ${lock.holder.started})`);
        expect(r["warehouse file"]?.status).toBe("skip");
      } finally {
        lock.release();
      }
      // A stale lock is only a warning: the next run takes it over.
      writeFileSync(lockFileOf(warehouse), JSON.stringify({ pid: await deadPid(), host: hostname(), started: "2026-11-01T00:00:00.000Z", command: "load", token: "x" }));
      const r = await doctor(warehouse);
      expect(r["warehouse lock"]?.status).toBe("warn");
      expect(r["warehouse lock"]?.detail).toMatch(/^stale lock .* left by load \(PID \d+ on .*\): the next run takes it over$/);
      expect(r["raw tables"]?.status).toBe("ok");
    });
  });
});
