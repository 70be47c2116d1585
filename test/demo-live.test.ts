/**
 * `actions-warehouse demo --live` as a child process, the way a person starts it: it prints the wall's and
 * the metrics' URLs, `/health` answers, the simulator's signed deliveries arrive (`/metrics` counts
 * completed runs, accepted and duplicate deliveries) and land in the demo's warehouse, SIGTERM exits 0.
 * A second run on the same path clears what the first left (it is marked); an unmarked spool folder is
 * refused and left alone.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDuckDb, quoteIdent } from "../load/duckdb-connection.js";
import { datasets } from "../load/datasets.js";
import { DEMO_MARKER_FILE, DEMO_MARKER_TABLE, liveSpoolDir } from "../jobs/demo.js";
import { spoolDirOf } from "../serve/spool.js";

const BIN = join(import.meta.dirname, "..", "bin", "actions-warehouse.js");

interface Child {
  proc: ChildProcess;
  exited: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
}

function start(args: string[], cwd: string): Child {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn" };
  for (const name of ["GITHUB_WEBHOOK_SECRET", "INGEST_TOKEN", "METRICS_TOKEN", "PORT"]) delete env[name];
  const proc = spawn(process.execPath, [BIN, "demo", "--live", ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout?.on("data", (c: Buffer) => (out += c.toString()));
  proc.stderr?.on("data", (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  return { proc, exited, stdout: () => out, stderr: () => err };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, child: Child, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (child.proc.exitCode !== null) throw new Error(`the demo exited (${child.proc.exitCode}) while waiting for ${what}:\n${child.stderr()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${child.stdout()}\n${child.stderr()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Sum of a metric's samples whose labels contain every `label="value"` given. */
function sample(text: string, name: string, labels: string[] = []): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labels.every((l) => line.includes(l))) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

describe("demo --live", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "demo-live-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the live spool folder is serve's own", () => {
    expect(liveSpoolDir(join(dir, "x", "live.duckdb"))).toBe(spoolDirOf(join(dir, "x", "live.duckdb")));
  });

  it("prints the wall's URL, answers /health, /metrics counts the pushed runs, the warehouse gets them, SIGTERM exits 0", async () => {
    const warehouse = join(dir, "live.duckdb");
    const child = start(["--duckdb-path", warehouse], dir);
    let port = 0;
    try {
      port = await waitFor("the wall's URL", () => {
        const m = /^Wall: +http:\/\/127\.0\.0\.1:(\d+)\/$/m.exec(child.stdout());
        return m ? Number(m[1]) : undefined;
      }, child);
      expect(child.stdout()).toContain(`Metrics: http://127.0.0.1:${port}/metrics`);
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      expect(health.status).toBe(200);
      expect(((await health.json()) as { status: string }).status).toBe("ok");
      const wall = await fetch(`http://127.0.0.1:${port}/`);
      expect(wall.status).toBe(200);
      expect(wall.headers.get("content-type")).toContain("text/html");

      const pushed = await waitFor("the push summary", () => /^Pushed (\d+) deliveries \((\d+) events, (\d+) duplicates.*: (\d+) answered 2xx, (\d+) failed\.$/m.exec(child.stdout()) ?? undefined, child);
      const [sent, events, duplicates, ok, failed] = pushed.slice(1).map(Number) as [number, number, number, number, number];
      expect(events).toBeGreaterThan(0);
      expect(failed).toBe(0);
      expect(ok).toBe(sent);

      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(sample(text, "github_actions_workflow_run_total")).toBeGreaterThan(0);
      expect(sample(text, "github_actions_job_run_total")).toBeGreaterThan(0);
      expect(sample(text, "github_actions_job_queue_duration_seconds_count")).toBeGreaterThan(0);
      const accepted = sample(text, "github_actions_webhook_deliveries_total", ['outcome="accepted"']);
      const dup = sample(text, "github_actions_webhook_deliveries_total", ['outcome="duplicate"']);
      expect(accepted).toBe(events);
      expect(dup).toBe(duplicates);
      expect(sample(text, "github_actions_webhook_deliveries_total", ['outcome="bad_signature"'])).toBe(0);

      // Loaded within a flush or two (--flush-seconds 5).
      await waitFor("a load", async () => {
        const h = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { last_load_at: string | null; spool_backlog: number };
        return h.last_load_at !== null && h.spool_backlog === 0 ? true : undefined;
      }, child);
    } finally {
      child.proc.kill("SIGTERM");
    }
    expect(await child.exited).toBe(0);
    expect(child.stdout()).toMatch(/^Stopped\. Warehouse: /m);

    const w = await openDuckDb(warehouse);
    try {
      const runs = (await w.connection.runAndReadAll(`SELECT COUNT(*) AS n FROM ${quoteIdent(datasets.raw)}.workflow_runs`)).getRowObjectsJS()[0];
      expect(Number(runs?.n)).toBeGreaterThan(0);
      const mark = (await w.connection.runAndReadAll(`SELECT COUNT(*) AS n FROM main.${quoteIdent(DEMO_MARKER_TABLE)}`)).getRowObjectsJS()[0];
      expect(Number(mark?.n)).toBe(1);
    } finally {
      w.close();
    }
    expect(existsSync(join(liveSpoolDir(warehouse), DEMO_MARKER_FILE))).toBe(true);

    // Everything it left is marked: a second run replaces it without --force.
    const again = start(["--duckdb-path", warehouse], dir);
    try {
      const p = await waitFor("the wall's URL again", () => /^Wall: +http:\/\/127\.0\.0\.1:(\d+)\/$/m.exec(again.stdout())?.[1], again);
      expect((await fetch(`http://127.0.0.1:${p}/health`)).status).toBe(200);
    } finally {
      again.proc.kill("SIGTERM");
    }
    expect(await again.exited).toBe(0);
  }, 180_000);

  it("refuses an unmarked spool folder and leaves it alone", async () => {
    const warehouse = join(dir, "other.duckdb");
    const spool = liveSpoolDir(warehouse);
    mkdirSync(spool, { recursive: true });
    writeFileSync(join(spool, "seg-precious.ndjson"), "{}\n");
    const child = start(["--duckdb-path", warehouse], dir);
    const code = await child.exited;
    expect(code).not.toBe(0);
    expect(child.stderr()).toContain(spool);
    expect(child.stderr()).toContain("--force");
    expect(readFileSync(join(spool, "seg-precious.ndjson"), "utf8")).toBe("{}\n");
    expect(existsSync(warehouse)).toBe(false);
  }, 60_000);
});
