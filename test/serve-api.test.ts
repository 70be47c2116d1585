/**
 * `serve`'s read API against ground truth computed here from the delivered events: signed
 * `workflow_run` and `workflow_job` deliveries (several versions of a run, re-run attempts, runs outside
 * the range, open runs and queued jobs) are loaded and transformed, then `/api/metrics`, `/api/runs`,
 * `/api/status`, `/api/filters` and `/api/config` are compared with what the events say. Plus the 400s.
 */
import { createHmac, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../log/logger.js";
import { parseServeConfig } from "../serve/config.js";
import { startServe, type ServeServer } from "../serve/server.js";

type Json = Record<string, unknown>;

const SECRET = "api-secret";
const REPOS = ["acme/api", "acme/web", "other/tool"];
const WORKFLOWS = ["CI", "Deploy"];
const FAILURES = new Set(["failure", "timed_out", "startup_failure"]);
const HOUR = 3_600_000;

const sign = (body: string) => `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`;
const isoS = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

/** A REST workflow run object (the fields the row builder reads, plus a few extra kept in the payload). */
function runObject(o: { id: number; attempt: number; repo: string; workflow: string; branch: string; actor: string; status: string; conclusion: string | null; created: number; started: number; updated: number }): Json {
  const workflowId = 1000 + WORKFLOWS.indexOf(o.workflow) + 10 * REPOS.indexOf(o.repo);
  return {
    id: o.id,
    name: o.workflow,
    run_number: o.id % 1000,
    run_attempt: o.attempt,
    workflow_id: workflowId,
    path: `.github/workflows/${o.workflow.toLowerCase()}.yml`,
    event: "push",
    head_branch: o.branch,
    head_sha: `${o.id.toString(16).padStart(8, "0")}${"0".repeat(32)}`,
    actor: { login: o.actor, id: 7 },
    triggering_actor: { login: o.actor, id: 7 },
    status: o.status,
    conclusion: o.conclusion,
    created_at: isoS(o.created),
    run_started_at: isoS(o.started),
    updated_at: isoS(o.updated),
    html_url: `https://github.com/${o.repo}/actions/runs/${o.id}${o.attempt > 1 ? `/attempts/${o.attempt}` : ""}`,
    repository: { full_name: o.repo, id: 1 },
    extra_field: `kept-${o.id}-${o.attempt}-${o.status}`,
  };
}

function jobObject(o: { id: number; runId: number; repo: string; workflow: string; status: string; conclusion: string | null; created: number; started: number | null; completed: number | null }): Json {
  return {
    id: o.id,
    run_id: o.runId,
    run_attempt: 1,
    workflow_name: o.workflow,
    name: `build (${o.id})`,
    head_branch: "main",
    head_sha: "f".repeat(40),
    status: o.status,
    conclusion: o.conclusion,
    created_at: isoS(o.created),
    started_at: o.started === null ? null : isoS(o.started),
    completed_at: o.completed === null ? null : isoS(o.completed),
    runner_name: o.started === null ? null : "GitHub Actions 1",
    runner_group_name: o.started === null ? null : "GitHub Actions",
    labels: ["ubuntu-latest"],
    steps: [],
    html_url: `https://github.com/${o.repo}/actions/runs/${o.runId}/job/${o.id}`,
  };
}

interface Delivered {
  event: "workflow_run" | "workflow_job";
  object: Json;
  repo: string;
}

async function deliver(url: string, d: Delivered): Promise<number> {
  const body = JSON.stringify({ action: String(d.object.status), [d.event]: d.object, repository: { full_name: d.repo } });
  const res = await fetch(`${url}/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": d.event, "x-github-delivery": randomUUID(), "x-github-hook-id": "1", "x-hub-signature-256": sign(body) },
    body,
  });
  return res.status;
}

/** A seeded generator, so the fixture is the same every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Truth {
  id: number;
  attempt: number;
  repo: string;
  workflow: string;
  branch: string;
  actor: string;
  status: string;
  conclusion: string | null;
  created: number;
  started: number;
  updated: number;
}

/** The runs' final versions (latest attempt) and every delivery (versions in lifecycle order, some re-run attempts). */
function fixture(now: number): { deliveries: Delivered[]; runs: Truth[]; jobs: Json[] } {
  const random = rng(12);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const deliveries: Delivered[] = [];
  const runs: Truth[] = [];
  const conclusions = ["success", "success", "success", "failure", "timed_out", "cancelled", "skipped"];
  for (let i = 0; i < 60; i += 1) {
    const id = 5_000_000_000 + i * 7;
    const repo = pick(REPOS);
    const workflow = pick(WORKFLOWS);
    // Spread over 4 days before now, so 24 h and 7 d ranges differ; none in the future.
    const created = now - Math.floor(random() * 96 * HOUR) - 60_000;
    const started = created + Math.floor(random() * 120_000);
    const open = i % 15 === 0;
    const rerun = !open && i % 9 === 0;
    const base = { id, repo, workflow, branch: pick(["main", "dev", "feature/x"]), actor: pick(["alice", "bob"]), created, started };
    // requested → in_progress → completed (the API keeps the newest version).
    deliveries.push({ event: "workflow_run", repo, object: runObject({ ...base, attempt: 1, status: "queued", conclusion: null, updated: created }) });
    deliveries.push({ event: "workflow_run", repo, object: runObject({ ...base, attempt: 1, status: "in_progress", conclusion: null, updated: started + 1000 }) });
    if (open) {
      runs.push({ ...base, attempt: 1, status: "in_progress", conclusion: null, updated: started + 1000 });
      continue;
    }
    const duration = 30_000 + Math.floor(random() * 900_000);
    const first = rerun ? "failure" : pick(conclusions);
    deliveries.push({ event: "workflow_run", repo, object: runObject({ ...base, attempt: 1, status: "completed", conclusion: first, updated: started + duration }) });
    if (!rerun) {
      runs.push({ ...base, attempt: 1, status: "completed", conclusion: first, updated: started + duration });
      continue;
    }
    const started2 = Math.min(now - 1000, started + duration + 60_000);
    const updated2 = Math.min(now - 500, started2 + 45_000);
    deliveries.push({ event: "workflow_run", repo, object: runObject({ ...base, attempt: 2, started: started2, status: "completed", conclusion: "success", updated: updated2 }) });
    runs.push({ ...base, attempt: 2, started: started2, status: "completed", conclusion: "success", updated: updated2 });
  }
  // Jobs: some started (queue latency), two still queued.
  const jobs: Json[] = [];
  runs.slice(0, 12).forEach((r, k) => {
    const queued = k < 2;
    const created = r.created;
    const startedAt = queued ? null : created + 5_000 + k * 7_000;
    const job = jobObject({ id: 9_000_000 + k, runId: r.id, repo: r.repo, workflow: r.workflow, status: queued ? "queued" : "completed", conclusion: queued ? null : "success", created, started: startedAt, completed: startedAt === null ? null : startedAt + 20_000 });
    jobs.push({ ...job, repository: r.repo });
    deliveries.push({ event: "workflow_job", repo: r.repo, object: job });
  });
  return { deliveries, runs, jobs };
}

describe("serve: /api/* against ground truth from the delivered events", () => {
  let dir: string;
  let server: ServeServer;
  let truth: Truth[];
  let jobs: Json[];
  const now = Date.now();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-serve-api-"));
    const config = parseServeConfig({ port: 0, host: "127.0.0.1", duckdbPath: join(dir, "live.duckdb"), transformSeconds: 1, refreshSeconds: 7 }, { GITHUB_WEBHOOK_SECRET: SECRET });
    server = await startServe(config, { log: silentLogger, timers: false });
    const f = fixture(now);
    truth = f.runs;
    jobs = f.jobs;
    for (const d of f.deliveries) expect(await deliver(server.url, d)).toBe(202);
    await server.flush({ transform: "force" });
  }, 180_000);

  afterAll(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const get = async (path: string): Promise<{ status: number; body: Json }> => {
    const res = await fetch(`${server.url}${path}`);
    return { status: res.status, body: (await res.json()) as Json };
  };

  /** What /api/metrics should answer, computed from the events. */
  function expected(from: number, to: number, groupBy: "hour" | "day", limit: number, filter: { repository?: string; workflow?: string } = {}) {
    const inRange = truth.filter((r) => r.created >= from && r.created < to && (!filter.repository || r.repo === filter.repository) && (!filter.workflow || r.workflow === filter.workflow));
    const completed = inRange.filter((r) => r.status === "completed");
    const durationOf = (r: Truth) => Math.floor((Math.floor(r.updated / 1000) * 1000 - Math.floor(r.started / 1000) * 1000) / 1000);
    const successes = inRange.filter((r) => r.conclusion === "success").length;
    const failures = inRange.filter((r) => r.conclusion !== null && FAILURES.has(r.conclusion)).length;
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
    const bucket = (ms: number) => {
      const d = new Date(ms);
      if (groupBy === "day") d.setUTCHours(0, 0, 0, 0);
      else d.setUTCMinutes(0, 0, 0);
      return d.toISOString().replace(".000Z", "Z");
    };
    const buckets = new Map<string, Truth[]>();
    for (const r of inRange) buckets.set(bucket(r.created), [...(buckets.get(bucket(r.created)) ?? []), r]);
    const series = [...buckets.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([timestamp, rs]) => ({
        timestamp,
        success: rs.filter((r) => r.conclusion === "success").length,
        failure: rs.filter((r) => r.conclusion !== null && FAILURES.has(r.conclusion)).length,
        avg_duration: mean(rs.filter((r) => r.status === "completed").map(durationOf)),
      }));
    const recent = [...inRange]
      .sort((a, b) => b.created - a.created || b.id - a.id)
      .slice(0, limit)
      .map((r) => ({
        id: r.id,
        workflow: r.workflow,
        status: r.status === "completed" ? r.conclusion : r.status,
        duration_seconds: r.status === "completed" ? durationOf(r) : null,
        started_at: isoS(r.started),
        finished_at: r.status === "completed" ? isoS(r.updated) : null,
        repo: r.repo,
        branch: r.branch,
        triggered_by: r.actor,
      }));
    return {
      summary: { total_runs: inRange.length, success_rate: successes + failures ? successes / (successes + failures) : null, avg_duration_seconds: mean(completed.map(durationOf)) },
      time_series: series,
      recent_runs: recent,
    };
  }

  const pickRecent = (runs: unknown) =>
    (runs as Json[]).map((r) => ({ id: r.id, workflow: r.workflow, status: r.status, duration_seconds: r.duration_seconds, started_at: r.started_at, finished_at: r.finished_at, repo: r.repo, branch: r.branch, triggered_by: r.triggered_by }));

  function compare(body: Json, want: ReturnType<typeof expected>): void {
    const summary = body.summary as Json;
    expect(summary.total_runs).toBe(want.summary.total_runs);
    expect(summary.success_rate).toBeCloseTo(want.summary.success_rate ?? Number.NaN, 9);
    expect(summary.avg_duration_seconds).toBeCloseTo(want.summary.avg_duration_seconds ?? Number.NaN, 6);
    expect(typeof summary.last_updated).toBe("string");
    const series = body.time_series as Json[];
    expect(series.map((s) => ({ timestamp: s.timestamp, success: s.success, failure: s.failure }))).toEqual(want.time_series.map((s) => ({ timestamp: s.timestamp, success: s.success, failure: s.failure })));
    series.forEach((s, i) => {
      const w = want.time_series[i]?.avg_duration ?? null;
      if (w === null) expect(s.avg_duration).toBeNull();
      else expect(s.avg_duration).toBeCloseTo(w, 6);
    });
    expect(pickRecent(body.recent_runs)).toEqual(want.recent_runs);
  }

  it("answers the documented shape with the events' values (7 days, daily)", async () => {
    const from = now - 7 * 24 * HOUR;
    const { status, body } = await get(`/api/metrics?from=${isoS(from)}&to=${isoS(now + 1000)}&group_by=day&limit=25`);
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(["range", "recent_runs", "summary", "time_series"]);
    expect(Object.keys(body.summary as Json).sort()).toEqual(["avg_duration_seconds", "last_updated", "success_rate", "total_runs"]);
    compare(body, expected(Math.floor(from / 1000) * 1000, Math.floor((now + 1000) / 1000) * 1000, "day", 25));
    expect((body.summary as Json).total_runs).toBe(60);
    const recent = (body.recent_runs as Json[])[0] as Json;
    for (const key of ["id", "workflow", "status", "duration_seconds", "started_at", "finished_at", "repo", "branch", "triggered_by"]) expect(recent).toHaveProperty(key);
  });

  it("hourly over the last 24 hours, and the defaults (7 days to now, latest attempts only)", async () => {
    const from = now - 24 * HOUR;
    const to = now + 1000;
    const hourly = await get(`/api/metrics?from=${isoS(from)}&to=${isoS(to)}&group_by=hour&limit=5`);
    expect(hourly.status).toBe(200);
    compare(hourly.body, expected(Math.floor(from / 1000) * 1000, Math.floor(to / 1000) * 1000, "hour", 5));
    expect((hourly.body.time_series as Json[]).every((s) => /T\d\d:00:00Z$/.test(String(s.timestamp)))).toBe(true);
    const defaults = await get("/api/metrics");
    expect(defaults.status).toBe(200);
    expect((defaults.body.summary as Json).total_runs).toBe(60);
    expect((defaults.body.range as Json).group_by).toBe("day");
    expect((defaults.body.recent_runs as Json[]).length).toBe(20);
    // A re-run counts once, as its latest attempt.
    const rerun = truth.find((r) => r.attempt === 2);
    expect(rerun).toBeDefined();
    const all = await get(`/api/metrics?limit=500`);
    const rows = (all.body.recent_runs as Json[]).filter((r) => r.id === rerun?.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.status).toBe("success");
  });

  it("filters by repository and workflow", async () => {
    const from = now - 7 * 24 * HOUR;
    const to = now + 1000;
    for (const [repository, workflow] of [
      ["acme/web", undefined],
      [undefined, "Deploy"],
      ["other/tool", "CI"],
    ] as const) {
      const q = new URLSearchParams({ from: isoS(from), to: isoS(to), group_by: "day", limit: "100" });
      if (repository) q.set("repository", repository);
      if (workflow) q.set("workflow", workflow);
      const { status, body } = await get(`/api/metrics?${q.toString()}`);
      expect(status).toBe(200);
      const want = expected(Math.floor(from / 1000) * 1000, Math.floor(to / 1000) * 1000, "day", 100, { ...(repository ? { repository } : {}), ...(workflow ? { workflow } : {}) });
      expect(want.summary.total_runs).toBeGreaterThan(0);
      compare(body, want);
    }
    const none = await get("/api/metrics?repository=nobody/nothing");
    expect(none.status).toBe(200);
    expect(none.body.summary).toMatchObject({ total_runs: 0, success_rate: null, avg_duration_seconds: null });
    expect(none.body.time_series).toEqual([]);
  });

  it("answers 400 naming the bad parameter", async () => {
    const cases: [string, string][] = [
      ["group_by=week", "group_by"],
      ["limit=0", "limit"],
      ["limit=abc", "limit"],
      ["limit=501", "limit"],
      ["from=yesterday", "from"],
      ["to=2026-13-45", "to"],
      [`from=${isoS(now)}&to=${isoS(now - HOUR)}`, "from"],
      ["repository=a&repository=b", "repository"],
      ["groupBy=day", "groupBy"],
      ["workflow=", "workflow"],
    ];
    for (const [query, param] of cases) {
      const { status, body } = await get(`/api/metrics?${query}`);
      expect(status, query).toBe(400);
      expect(body.param, query).toBe(param);
      expect(String(body.error), query).toContain(param);
    }
    expect((await get("/api/runs?status=exploded")).body.param).toBe("status");
  });

  it("/api/runs: recent runs with filters; /api/runs/{id}/payload: a run's newest raw payload", async () => {
    const { status, body } = await get("/api/runs?limit=500");
    expect(status).toBe(200);
    const runs = body.runs as Json[];
    expect(runs).toHaveLength(60);
    let earlierAttempts = 0;
    for (const run of runs) {
      const t = truth.find((r) => r.id === run.id);
      expect(t).toBeDefined();
      expect(run.run_attempt).toBe(t?.attempt);
      // A refresh of the wall downloads no payload: it is read when the side panel opens.
      expect(run).not.toHaveProperty("payload");
      const answer = await get(`/api/runs/${String(run.id)}/payload`);
      expect(answer.status).toBe(200);
      const payload = answer.body.payload as Json;
      // The newest version of the latest attempt, exactly as delivered (extra fields kept).
      expect(answer.body.run_attempt).toBe(t?.attempt);
      expect(payload.id).toBe(t?.id);
      expect(payload.run_attempt).toBe(t?.attempt);
      expect(payload.status).toBe(t?.status);
      expect(payload.extra_field).toBe(`kept-${t?.id}-${t?.attempt}-${t?.status}`);
      expect(run.html_url).toBe(payload.html_url);
      if ((t?.attempt ?? 1) > 1) {
        earlierAttempts += 1;
        const first = await get(`/api/runs/${String(run.id)}/payload?attempt=1`);
        expect(first.status).toBe(200);
        expect((first.body.payload as Json).run_attempt).toBe(1);
      }
    }
    expect(earlierAttempts).toBeGreaterThan(0);
    const unknown = await get("/api/runs/424242424242/payload");
    expect(unknown.status).toBe(404);
    expect(String(unknown.body.error)).toContain("424242424242");
    expect((await get("/api/runs/abc/payload")).body.param).toBe("run_id");
    expect((await get(`/api/runs/${String(runs[0]?.id)}/payload?attempt=0`)).body.param).toBe("attempt");
    const failed = await get("/api/runs?status=failure&repository=acme/api&limit=500");
    const wantFailed = truth.filter((r) => r.repo === "acme/api" && r.conclusion !== null && FAILURES.has(r.conclusion)).map((r) => r.id).sort();
    expect((failed.body.runs as Json[]).map((r) => r.id).sort()).toEqual(wantFailed);
    const open = await get("/api/runs?status=running");
    expect((open.body.runs as Json[]).map((r) => r.id).sort()).toEqual(truth.filter((r) => r.status !== "completed").map((r) => r.id).sort());
  });

  it("/api/status: a tile per repository and workflow with its latest status, what is open now, queue latency", async () => {
    const { status, body } = await get("/api/status");
    expect(status).toBe(200);
    const tiles = body.tiles as Json[];
    const pairs = new Set(truth.map((r) => `${r.repo}|${r.workflow}`));
    expect(tiles).toHaveLength(pairs.size);
    for (const tile of tiles) {
      const latest = truth.filter((r) => r.repo === tile.repository && r.workflow === tile.workflow).sort((a, b) => b.created - a.created || b.id - a.id)[0];
      expect(tile.run_id).toBe(latest?.id);
      expect(tile.status).toBe(latest?.status === "completed" ? latest.conclusion : latest?.status);
    }
    const open = body.open as Json[];
    const openRuns = truth.filter((r) => r.status !== "completed");
    expect(open.filter((o) => o.kind === "run").map((o) => o.run_id).sort()).toEqual(openRuns.map((r) => r.id).sort());
    expect(open.filter((o) => o.kind === "job")).toHaveLength(2);
    for (const o of open) expect(o.age_seconds).toBeGreaterThan(0);
    const started = jobs.filter((j) => j.started_at !== null && Date.parse(String(j.created_at)) >= now - 7 * 24 * HOUR);
    const waits = started.map((j) => (Date.parse(String(j.started_at)) - Date.parse(String(j.created_at))) / 1000);
    const queue = body.queue as Json;
    expect(queue.jobs).toBe(waits.length);
    expect(queue.avg_seconds).toBeCloseTo(waits.reduce((a, b) => a + b, 0) / waits.length, 6);
    expect(queue.max_seconds).toBe(Math.max(...waits));
    expect(queue.queued_now).toBe(2);
    const filtered = await get("/api/status?repository=acme/web");
    expect((filtered.body.tiles as Json[]).every((t) => t.repository === "acme/web")).toBe(true);
  });

  it("/api/filters and /api/config", async () => {
    const filters = await get("/api/filters");
    expect(filters.status).toBe(200);
    expect(filters.body.repositories).toEqual([...new Set(truth.map((r) => r.repo))].sort());
    expect(filters.body.workflows).toEqual([...new Set(truth.map((r) => r.workflow))].sort());
    const narrowed = await get("/api/filters?repository=acme/api");
    expect(narrowed.body.workflows).toEqual([...new Set(truth.filter((r) => r.repo === "acme/api").map((r) => r.workflow))].sort());
    const config = await get("/api/config");
    expect(config.body).toMatchObject({ refresh_seconds: 7, metrics_prefix: "github_actions_" });
    expect(typeof config.body.version).toBe("string");
  });
});
