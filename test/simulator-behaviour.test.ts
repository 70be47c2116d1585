/** Semantics of the GitHub API simulator: filters, caps, paging, attempts, ETags, rate limits, determinism, landmarks. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  allJobsOf, findRun, generateDataset, jobsOf, landmarks, latestAttempt, parseCreated, startSimulator, toSec, type Dataset, type Simulator,
} from "../simulator/index.js";

interface RunsPage {
  total_count: number;
  workflow_runs: { id: number; created_at: string; run_attempt: number; status: string; conclusion: string | null; updated_at: string; head_branch: string }[];
}
interface JobsPage {
  total_count: number;
  jobs: { id: number; run_attempt: number; status: string; conclusion: string | null; started_at: string; created_at: string; completed_at: string | null }[];
}

let ds: Dataset;
let sim: Simulator;

async function get<T>(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(path.startsWith("http") ? path : `${sim.url}${path}`, { headers });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
}
const q = (s: string) => encodeURIComponent(s);

beforeAll(async () => {
  ds = generateDataset({ seed: 42 });
  sim = await startSimulator({ dataset: ds });
});
afterAll(async () => {
  await sim?.close();
});

describe("created filter parsing", () => {
  const t = (s: string) => toSec(s);
  it("dates, date-times, ranges, open ranges", () => {
    expect(parseCreated("2026-10-01")).toEqual({ from: t("2026-10-01T00:00:00Z"), to: t("2026-10-01T23:59:59Z") });
    expect(parseCreated(">=2026-10-01").from).toBe(t("2026-10-01T00:00:00Z"));
    expect(parseCreated(">2026-10-01").from).toBe(t("2026-10-02T00:00:00Z"));
    expect(parseCreated("<2026-10-01").to).toBe(t("2026-09-30T23:59:59Z"));
    expect(parseCreated("<=2026-10-01").to).toBe(t("2026-10-01T23:59:59Z"));
    expect(parseCreated(">=2026-10-01T05:30:00Z").from).toBe(t("2026-10-01T05:30:00Z"));
    expect(parseCreated(">2026-10-01T05:30:00Z").from).toBe(t("2026-10-01T05:30:01Z"));
    expect(parseCreated("<2026-10-01T05:30:00+00:00").to).toBe(t("2026-10-01T05:29:59Z"));
    expect(parseCreated("2026-10-01T05:30:00+02:00..2026-10-01T06:00:00Z")).toEqual({ from: t("2026-10-01T03:30:00Z"), to: t("2026-10-01T06:00:00Z") });
    // a date as the upper bound of a range means the whole day
    expect(parseCreated("2026-10-01..2026-10-03")).toEqual({ from: t("2026-10-01T00:00:00Z"), to: t("2026-10-03T23:59:59Z") });
    expect(parseCreated("2026-10-01..*").from).toBe(t("2026-10-01T00:00:00Z"));
    expect(parseCreated("2026-10-01..*").to).toBeGreaterThan(t("2100-01-01T00:00:00Z"));
    expect(parseCreated("*..2026-10-01").to).toBe(t("2026-10-01T23:59:59Z"));
    expect(parseCreated("2026-10-01T05:30:00 00:00..*").from).toBe(t("2026-10-01T05:30:00Z")); // unencoded '+'
    expect(() => parseCreated("yesterday")).toThrow();
  });

  it("the server applies it exactly (inclusive bounds, latest attempts only)", async () => {
    const lm = landmarks(ds);
    if (!lm.busyDay) throw new Error("no busy day");
    const repo = lm.busyDay.repo;
    const inRepo = ds.runs.filter((r) => r.repo === repo);
    const probe = inRepo[Math.floor(inRepo.length / 2)];
    if (!probe) throw new Error("no runs");
    const from = probe.created_at;
    const to = new Date((toSec(from) + 3600) * 1000).toISOString().replace(".000Z", "Z");
    const expected = inRepo.filter((r) => r.created_at >= from && r.created_at <= to).map((r) => r.id).sort((a, b) => b - a);
    const { body } = await get<RunsPage>(`/repos/${repo}/actions/runs?per_page=100&created=${q(`${from}..${to}`)}`);
    expect(body.total_count).toBe(expected.length);
    expect(body.workflow_runs.map((r) => r.id).slice(0, 100)).toEqual(expected.slice(0, 100));
    const byDay = await get<RunsPage>(`/repos/${repo}/actions/runs?per_page=1&created=${from.slice(0, 10)}`);
    expect(byDay.body.total_count).toBe(inRepo.filter((r) => r.created_at.startsWith(from.slice(0, 10))).length);
    const bad = await get<{ message: string }>(`/repos/${repo}/actions/runs?created=${q("soon")}`);
    expect(bad.status).toBe(422);
  });
});

describe("runs list paging and caps", () => {
  it("sorted by created_at desc, then id desc; shows the latest attempt", async () => {
    const { body } = await get<RunsPage>("/repos/acme/mobile/actions/runs?per_page=100");
    const keys = body.workflow_runs.map((r) => `${r.created_at}|${String(r.id).padStart(20, "0")}`);
    expect(keys).toEqual([...keys].sort().reverse());
    const lm = landmarks(ds);
    const run3 = findRun(ds, lm.rerun3RunId);
    if (!run3) throw new Error("no rerun3");
    const one = await get<RunsPage["workflow_runs"][number]>(`/repos/${run3.repo}/actions/runs/${run3.id}`);
    expect(one.body.run_attempt).toBe(3);
  });

  it("filtered: total_count is true but only the first 1,000 are reachable", async () => {
    const lm = landmarks(ds);
    if (!lm.busyDay) throw new Error("no busy day");
    const base = `/repos/${lm.busyDay.repo}/actions/runs?created=${lm.busyDay.date}&per_page=100`;
    const p10 = await get<RunsPage>(`${base}&page=10`);
    expect(p10.body.total_count).toBe(lm.busyDay.runs);
    expect(p10.body.workflow_runs).toHaveLength(100);
    const p11 = await get<RunsPage>(`${base}&page=11`);
    expect(p11.status).toBe(200);
    expect(p11.body.total_count).toBe(lm.busyDay.runs);
    expect(p11.body.workflow_runs).toHaveLength(0);
  });

  it("unfiltered: 422 past 40,000 results", async () => {
    const ok = await get<RunsPage>("/repos/acme/api/actions/runs?per_page=100&page=400");
    expect(ok.status).toBe(200);
    const res = await get<{ message: string; documentation_url: string }>("/repos/acme/api/actions/runs?per_page=100&page=401");
    expect(res.status).toBe(422);
    expect(res.body.message).toMatch(/pagination/i);
    expect(res.body.documentation_url).toMatch(/^https:\/\/docs\.github\.com/);
  });

  it("Link headers like GitHub (absolute, query preserved) and they can be followed", async () => {
    const first = await get<RunsPage>("/repos/acme/api/actions/runs?per_page=50&branch=main");
    const link = first.headers.get("link") ?? "";
    expect(link).toMatch(/<http:\/\/127\.0\.0\.1:\d+\/repositories\/\d+\/actions\/runs\?per_page=50&branch=main&page=2>; rel="next"/);
    expect(link).toMatch(/rel="last"/);
    expect(link).not.toMatch(/rel="prev"/);
    const next = /<([^>]+)>; rel="next"/.exec(link)?.[1];
    if (!next) throw new Error("no next");
    const second = await get<RunsPage>(next);
    expect(second.status).toBe(200);
    const link2 = second.headers.get("link") ?? "";
    expect(link2).toMatch(/page=1>; rel="prev"/);
    expect(link2).toMatch(/page=1>; rel="first"/);
    expect(second.body.workflow_runs[0]?.id).not.toBe(first.body.workflow_runs[0]?.id);
    const all = [...first.body.workflow_runs, ...second.body.workflow_runs];
    expect(new Set(all.map((r) => r.id)).size).toBe(all.length);
    expect(all.every((r) => r.head_branch === "main")).toBe(true);
  });

  it("branch, event and status filters", async () => {
    const queued = await get<RunsPage>("/repos/acme/api/actions/runs?status=queued");
    expect(queued.body.total_count).toBeGreaterThan(0);
    expect(queued.body.workflow_runs.every((r) => r.status === "queued" && r.conclusion === null)).toBe(true);
    const failures = await get<RunsPage>("/repos/acme/api/actions/runs?status=failure&per_page=100");
    expect(failures.body.workflow_runs.every((r) => r.conclusion === "failure")).toBe(true);
    const expected = ds.runs.filter((r) => r.repo === "acme/api" && r.event === "schedule").length;
    const sched = await get<RunsPage>("/repos/acme/api/actions/runs?event=schedule&per_page=1");
    expect(sched.body.total_count).toBe(expected);
  });
});

describe("attempts and jobs", () => {
  it("filter=latest vs filter=all, attempts endpoint, failed-only re-run", async () => {
    const lm = landmarks(ds);
    const run = findRun(ds, lm.rerunRunId);
    if (!run) throw new Error("no rerun run");
    expect(run.attempts).toHaveLength(2);
    const perAttempt = allJobsOf(ds, run);
    const latest = await get<JobsPage>(`/repos/${run.repo}/actions/runs/${run.id}/jobs?per_page=100`);
    const all = await get<JobsPage>(`/repos/${run.repo}/actions/runs/${run.id}/jobs?filter=all&per_page=100`);
    expect(latest.body.jobs.every((j) => j.run_attempt === 2)).toBe(true);
    expect(latest.body.total_count).toBe(perAttempt[1]?.length);
    expect(all.body.total_count).toBe(perAttempt.flat().length);
    expect(new Set(all.body.jobs.map((j) => j.id)).size).toBe(all.body.total_count);
    // failed-only: attempt 2 has only the jobs that failed (and their dependents) in attempt 1
    expect(run.attempts[1]?.rerun_mode).toBe("failed");
    expect(perAttempt[1]?.length).toBeLessThan(perAttempt[0]?.length ?? 0);
    const a1 = await get<{ run_attempt: number; conclusion: string; created_at: string; updated_at: string }>(`/repos/${run.repo}/actions/runs/${run.id}/attempts/1`);
    const a2 = await get<{ run_attempt: number; conclusion: string; created_at: string; updated_at: string; previous_attempt_url: string }>(`/repos/${run.repo}/actions/runs/${run.id}/attempts/2`);
    expect(a1.body.run_attempt).toBe(1);
    expect(a1.body.conclusion).toBe("failure");
    expect(a2.body.created_at).toBe(a1.body.created_at);
    expect(a2.body.updated_at > a1.body.updated_at).toBe(true);
    expect(a2.body.previous_attempt_url).toMatch(/\/attempts\/1$/);
    const aj = await get<JobsPage>(`/repos/${run.repo}/actions/runs/${run.id}/attempts/1/jobs?per_page=100`);
    expect(aj.body.jobs.map((j) => j.id)).toEqual(perAttempt[0]?.map((j) => j.id));
    expect((await get(`/repos/${run.repo}/actions/runs/${run.id}/attempts/9`)).status).toBe(404);
  });

  it("the big run pages its jobs", async () => {
    const lm = landmarks(ds);
    const run = findRun(ds, lm.bigRunId);
    if (!run) throw new Error("no big run");
    const p1 = await get<JobsPage>(`/repos/${run.repo}/actions/runs/${run.id}/jobs?per_page=100`);
    const p2 = await get<JobsPage>(`/repos/${run.repo}/actions/runs/${run.id}/jobs?per_page=100&page=2`);
    expect(p1.body.total_count).toBeGreaterThan(100);
    expect(p1.body.jobs.length + p2.body.jobs.length).toBe(p1.body.total_count);
    expect(p1.headers.get("link")).toMatch(/rel="next"/);
  });

  it("never-started jobs have started_at = created_at; unfinished ones have completed_at null", () => {
    const lm = landmarks(ds);
    const queued = jobsOf(ds, lm.queuedRunId);
    expect(queued.length).toBeGreaterThan(0);
    expect(queued.every((j) => j.status === "queued" && j.started_at === j.created_at && j.completed_at === null && j.conclusion === null)).toBe(true);
    const inProgress = jobsOf(ds, lm.inProgressRunId);
    expect(inProgress.some((j) => j.status === "in_progress" && j.completed_at === null)).toBe(true);
    const stuck = jobsOf(ds, lm.stuckQueuedRunId);
    expect(stuck.some((j) => j.status === "queued" && j.runner_name === null)).toBe(true);
    const skipped = ds.runs.slice(0, 400).flatMap((r) => jobsOf(ds, r.id)).filter((j) => j.conclusion === "skipped");
    expect(skipped.length).toBeGreaterThan(0);
    expect(skipped.every((j) => j.started_at === j.created_at && j.completed_at === j.created_at && j.steps.length === 0)).toBe(true);
  });

  it("rerun() adds an attempt with new job ids and changes updated_at", async () => {
    const local = generateDataset({ seed: 5, days: 2, runsPerRepoPerDay: 5, busyDayRuns: 0 });
    const s = await startSimulator({ dataset: local });
    try {
      const run = local.runs.find((r) => latestAttempt(r).conclusion === "failure");
      if (!run) throw new Error("no failed run");
      const before = await get<RunsPage["workflow_runs"][number]>(`${s.url}/repos/${run.repo}/actions/runs/${run.id}`);
      const idsBefore = new Set(jobsOf(local, run.id).map((j) => j.id));
      s.rerun(run.id, { failedOnly: true });
      const after = await get<RunsPage["workflow_runs"][number]>(`${s.url}/repos/${run.repo}/actions/runs/${run.id}`);
      expect(after.body.run_attempt).toBe(before.body.run_attempt + 1);
      expect(after.body.updated_at > before.body.updated_at).toBe(true);
      expect(after.body.created_at).toBe(before.body.created_at);
      expect(after.body.status).toBe("completed");
      const jobs = await get<JobsPage>(`${s.url}/repos/${run.repo}/actions/runs/${run.id}/jobs`);
      expect(jobs.body.jobs.length).toBeGreaterThan(0);
      expect(jobs.body.jobs.every((j) => !idsBefore.has(j.id) && j.run_attempt === after.body.run_attempt)).toBe(true);
    } finally {
      await s.close();
    }
  });
});

describe("ETag, rate limit, auth, errors", () => {
  it("304 on If-None-Match does not cost rate limit", async () => {
    const s = await startSimulator({ dataset: ds, rateLimit: 3 });
    try {
      const a = await get<RunsPage>(`${s.url}/repos/acme/infra/actions/runs`);
      const etag = a.headers.get("etag") ?? "";
      expect(etag).toMatch(/^"[0-9a-f]{40}"$/);
      expect(a.headers.get("x-ratelimit-remaining")).toBe("2");
      expect(a.headers.get("x-ratelimit-resource")).toBe("core");
      expect(a.headers.get("x-github-request-id")).toBeTruthy();
      expect(a.headers.get("content-type")).toBe("application/json; charset=utf-8");
      for (let i = 0; i < 5; i++) {
        const b = await get(`${s.url}/repos/acme/infra/actions/runs`, { "If-None-Match": etag });
        expect(b.status).toBe(304);
        expect(b.headers.get("x-ratelimit-remaining")).toBe("2");
      }
      expect(s.stats().notModified).toBe(5);
      expect(s.stats().costly).toBe(1);
      await get(`${s.url}/repos/acme/api`);
      await get(`${s.url}/repos/acme/web`);
      const limited = await get<{ message: string; documentation_url: string }>(`${s.url}/repos/acme/api`);
      expect(limited.status).toBe(403);
      expect(limited.body.message).toMatch(/API rate limit exceeded/);
      expect(limited.headers.get("x-ratelimit-remaining")).toBe("0");
      expect(Number(limited.headers.get("x-ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000);
      const rl = await get<{ rate: { remaining: number; limit: number } }>(`${s.url}/rate_limit`);
      expect(rl.status).toBe(200);
      expect(rl.body.rate).toMatchObject({ remaining: 0, limit: 3 });
      expect(s.stats().byRoute["GET /repos/{owner}/{repo}/actions/runs"]).toBe(6);
      s.resetStats();
      expect(s.stats().requests).toBe(0);
    } finally {
      await s.close();
    }
  });

  it("token: 401 without it, 200 with token or Bearer", async () => {
    const s = await startSimulator({ dataset: ds, token: "sekret" });
    try {
      expect((await get(`${s.url}/user`)).status).toBe(401);
      expect((await get(`${s.url}/user`, { Authorization: "token nope" })).status).toBe(401);
      expect((await get(`${s.url}/user`, { Authorization: "token sekret" })).status).toBe(200);
      expect((await get(`${s.url}/user`, { Authorization: "Bearer sekret" })).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it("404 for unknown routes, 400 for packages without package_type", async () => {
    const nf = await get<{ message: string; documentation_url: string }>("/nope/nope");
    expect(nf.status).toBe(404);
    expect(nf.body).toEqual({ message: "Not Found", documentation_url: "https://docs.github.com/rest" });
    expect((await get("/orgs/acme/packages")).status).toBe(400);
    expect((await get("/users/octo-dev/packages")).status).toBe(400);
  });

  it("package versions page and carry container tags / npm metadata", async () => {
    const lm = landmarks(ds);
    const { owner, package_type, name, versions } = lm.bigPackage;
    expect(versions).toBeGreaterThan(100);
    const p1 = await get<{ id: number; metadata: { package_type: string; container?: { tags: string[] } } }[]>(`/orgs/${owner}/packages/${package_type}/${name}/versions?per_page=100`);
    const p2 = await get<{ id: number }[]>(`/orgs/${owner}/packages/${package_type}/${name}/versions?per_page=100&page=2`);
    expect(p1.body.length + p2.body.length).toBe(versions);
    expect(p1.body[0]?.metadata.container?.tags).toContain("latest");
    const npm = await get<{ metadata: { package_type: string } }[]>("/orgs/acme/packages/npm/sdk/versions");
    expect(npm.body[0]?.metadata.package_type).toBe("npm");
    const deleted = await get<{ deleted_at: string }[]>(`/orgs/${owner}/packages/${package_type}/${name}/versions?state=deleted`);
    expect(deleted.body.length).toBeGreaterThan(0);
    expect(deleted.body.every((v) => typeof v.deleted_at === "string")).toBe(true);
  });
});

describe("dataset", () => {
  it("is deterministic from seed and anchor", () => {
    const a = generateDataset({ seed: 3, days: 3 });
    const b = generateDataset({ seed: 3, days: 3 });
    const c = generateDataset({ seed: 4, days: 3 });
    expect(a).toEqual(b);
    expect(jobsOf(a, a.runs[10]?.id ?? 0)).toEqual(jobsOf(b, b.runs[10]?.id ?? 0));
    expect(c.runs.map((r) => r.head_sha)).not.toEqual(a.runs.map((r) => r.head_sha));
    const d = generateDataset({ seed: 3, days: 3, anchor: "2026-01-01T00:00:00Z" });
    expect(d.runs[0]?.created_at).not.toBe(a.runs[0]?.created_at);
  });

  it("has every landmark at default size", () => {
    const lm = landmarks(ds);
    expect(lm.busyDay?.runs).toBeGreaterThan(1000);
    expect(jobsOf(ds, lm.bigRunId).length).toBeGreaterThan(100);
    expect(lm.bigPackage.versions).toBeGreaterThan(100);
    expect(ds.runs.some((r) => r.attempts.length === 2)).toBe(true);
    expect(findRun(ds, lm.rerun3RunId)?.attempts).toHaveLength(3);
    const queued = findRun(ds, lm.queuedRunId);
    const inProgress = findRun(ds, lm.inProgressRunId);
    expect(queued && latestAttempt(queued)).toMatchObject({ status: "queued", conclusion: null });
    expect(inProgress && latestAttempt(inProgress)).toMatchObject({ status: "in_progress", conclusion: null });
    const mid = findRun(ds, lm.midnightRunId);
    if (!mid) throw new Error("no midnight run");
    expect(latestAttempt(mid).updated_at.slice(0, 10)).not.toBe(mid.created_at.slice(0, 10));
    const all = ds.runs.flatMap((r) => r.attempts.map((a) => a.conclusion));
    for (const c of ["success", "failure", "cancelled", "timed_out"]) expect(all).toContain(c);
    const jobs = ds.runs.slice(0, 1500).flatMap((r) => jobsOf(ds, r.id));
    for (const c of ["success", "failure", "cancelled", "skipped", "timed_out"]) expect(jobs.map((j) => j.conclusion)).toContain(c);
    expect(jobs.some((j) => j.labels.join(",") === "self-hosted,linux,x64" && j.runner_group_name === "Default")).toBe(true);
    expect(jobs.some((j) => j.runner_group_name === "GitHub Actions" && /^GitHub Actions \d+$/.test(j.runner_name ?? ""))).toBe(true);
    expect(jobs.some((j) => /^test \(ubuntu-latest, \d+\)$/.test(j.name))).toBe(true);
    const events = new Set(ds.runs.map((r) => r.event));
    for (const e of ["push", "pull_request", "schedule", "workflow_dispatch"]) expect(events).toContain(e);
    expect(ds.runs.some((r) => r.head_branch.startsWith("dependabot/"))).toBe(true);
    // landmarks survive shrinking
    const small = generateDataset({ seed: 1, days: 2, scale: 0.1 });
    const slm = landmarks(small);
    expect(slm.busyDay?.runs).toBeGreaterThan(1000);
    expect(jobsOf(small, slm.bigRunId).length).toBeGreaterThan(100);
  });
});
