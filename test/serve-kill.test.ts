/**
 * `serve` as a child process, the way Cloud Run and people start it: SIGKILL in the middle of a burst,
 * restart, and every acknowledged delivery is in the warehouse exactly once. Also the documented command
 * line (`GITHUB_WEBHOOK_SECRET=s3cret actions-warehouse serve --port N --duckdb-path F`), SIGTERM exiting
 * 0, and the refusal to start without a secret.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, startSimulator } from "../simulator/index.js";
import { openDuckDb } from "../load/duckdb-connection.js";

type Json = Record<string, unknown>;
const SECRET = "s3cret";
const BIN = join(import.meta.dirname, "..", "bin", "actions-warehouse.js");
const ID_BASE = 7_000_000_000_000;

const sign = (body: string) => `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      const port = typeof address === "object" && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn" };
  for (const name of ["GITHUB_WEBHOOK_SECRET", "INGEST_TOKEN", "METRICS_TOKEN", "PORT"]) delete env[name];
  return env;
}

interface Child {
  proc: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
}

function start(args: string[], env: NodeJS.ProcessEnv): Child {
  const proc = spawn(process.execPath, [BIN, "serve", ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  proc.stderr?.on("data", (c: Buffer) => (err += c.toString()));
  proc.stdout?.resume();
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  return { proc, exited, stderr: () => err };
}

async function health(port: number): Promise<Json | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    return res.ok ? ((await res.json()) as Json) : undefined;
  } catch {
    return undefined;
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("serve as a process", () => {
  let dir: string;
  let template: Json;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-serve-kill-"));
    const dataset = generateDataset({ seed: 5, days: 1, runsPerRepoPerDay: 2, busyDayRuns: 0, bigRunJobs: 3, bigPackageVersions: 3 });
    const sim = await startSimulator({ dataset });
    try {
      const repo = dataset.repos[0]?.full_name ?? "";
      const list = (await (await fetch(`${sim.url}/repos/${repo}/actions/runs?per_page=1`)).json()) as { workflow_runs: Json[] };
      template = list.workflow_runs[0] as Json;
    } finally {
      await sim.close();
    }
  }, 60_000);

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps every acknowledged delivery exactly once across a SIGKILL mid-burst", async () => {
    const duckdbPath = join(dir, "kill.duckdb");
    const port = await freePort();
    const args = ["--port", String(port), "--host", "127.0.0.1", "--duckdb-path", duckdbPath, "--flush-seconds", "1", "--transform-seconds", "3600"];
    const env = { ...baseEnv(), GITHUB_WEBHOOK_SECRET: SECRET };
    const first = start(args, env);
    await waitFor("first start", () => health(port));

    const TOTAL = 1500;
    const deliveries = Array.from({ length: TOTAL }, (_, i) => {
      const body = JSON.stringify({ action: "completed", workflow_run: { ...template, id: ID_BASE + i }, repository: template.repository });
      return { guid: `guid-${i}`, body, id: ID_BASE + i };
    });
    const post = async (d: (typeof deliveries)[number]) => {
      const res = await fetch(`http://127.0.0.1:${port}/webhook`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-github-event": "workflow_run", "x-github-delivery": d.guid, "x-github-hook-id": "77", "x-hub-signature-256": sign(d.body) },
        body: d.body,
      });
      return { status: res.status, body: (await res.json()) as Json };
    };
    const acked = new Set<number>();
    let next = 0;
    let killed = false;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < deliveries.length) {
          const d = deliveries[next] as (typeof deliveries)[number];
          next += 1;
          try {
            const answer = await post(d);
            if (answer.status === 202 || answer.status === 200) acked.add(d.id);
          } catch {
            // refused or cut: not acknowledged
          }
          if (!killed && acked.size >= 500) {
            killed = true;
            first.proc.kill("SIGKILL");
          }
        }
      }),
    );
    expect(killed).toBe(true);
    await first.exited;
    expect(acked.size).toBeGreaterThanOrEqual(500);
    expect(acked.size).toBeLessThan(TOTAL);

    const second = start(args, env);
    try {
      await waitFor("restart", () => health(port));
      // Redeliveries of acknowledged deliveries are recognised after the restart.
      for (const d of deliveries.filter((x) => acked.has(x.id)).slice(0, 20)) {
        const answer = await post(d);
        expect(answer.status).toBe(200);
        expect(answer.body.duplicate).toBe(true);
      }
      await waitFor("the spool to be loaded", async () => {
        const h = await health(port);
        return h && h.spool_backlog === 0 && h.last_load_at ? h : undefined;
      });
    } finally {
      second.proc.kill("SIGTERM");
    }
    expect(await second.exited).toBe(0);

    const w = await openDuckDb(duckdbPath);
    try {
      const rows = (await w.connection.runAndReadAll(`SELECT run_id, COUNT(*) AS n FROM github_raw.workflow_runs WHERE run_id >= ${ID_BASE} GROUP BY run_id`)).getRowObjectsJS();
      const counts = new Map(rows.map((r) => [Number(r.run_id), Number(r.n)]));
      for (const id of acked) expect(counts.get(id), `run ${id}`).toBe(1);
      for (const [id, n] of counts) expect(n, `run ${id}`).toBe(1);
      const keys = (await w.connection.runAndReadAll(`SELECT COUNT(*) AS n, COUNT(DISTINCT delivery_key) AS d FROM github_raw._deliveries`)).getRowObjectsJS()[0];
      expect(Number(keys?.n)).toBe(Number(keys?.d));
      expect(Number(keys?.n)).toBe(counts.size);
    } finally {
      w.close();
    }
  }, 180_000);

  it("starts with the documented command line, answers /health and exits 0 on SIGTERM", async () => {
    const port = await freePort();
    const child = start(["--port", String(port), "--duckdb-path", join(dir, "live.duckdb")], { ...baseEnv(), GITHUB_WEBHOOK_SECRET: SECRET });
    try {
      const h = await waitFor("/health", () => health(port));
      expect(h.status).toBe("ok");
      expect(h.spool_backlog).toBe(0);
      const z = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(z.status).toBe(200);
    } finally {
      child.proc.kill("SIGTERM");
    }
    expect(await child.exited).toBe(0);
  }, 60_000);

  it("refuses to start without GITHUB_WEBHOOK_SECRET, naming it", async () => {
    const port = await freePort();
    const child = start(["--port", String(port), "--duckdb-path", join(dir, "nosecret.duckdb")], baseEnv());
    expect(await child.exited).toBe(3);
    expect(child.stderr()).toContain("GITHUB_WEBHOOK_SECRET");
  }, 60_000);
});
