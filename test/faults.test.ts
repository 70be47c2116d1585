/**
 * The simulator's seeded faults, and the client surviving each one: every kind is injected on the first
 * attempt of a request and the request must still return the right data, with the fault counted.
 * Runs arriving while the extractor pages shift items between pages; every run must still be
 * extracted exactly once.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateDataset, startSimulator, type RequestContext } from "../simulator/index.js";
import { createFaultSchedule, FAULT_KINDS, type FaultKind } from "../simulator/faults.js";
import { createGitHubClient } from "../extract/client.js";
import { runExtract } from "../extract/run.js";
import { silentLogger } from "../log/logger.js";

const dir = mkdtempSync(join(tmpdir(), "aw-faults-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ctx = (path: string): RequestContext => ({ method: "GET", path, query: new URLSearchParams(), headers: {}, route: `GET ${path}` });

describe("fault schedules", () => {
  it("are reproducible from the seed and draw every kind", () => {
    const draw = (seed: string) => {
      const s = createFaultSchedule({ seed, rate: 0.5 });
      s.onNewRun = () => {};
      return Array.from({ length: 400 }, (_, i) => {
        const f = s.hook(ctx(`/p/${i}`));
        return f === undefined ? "-" : "kind" in f ? f.kind : String(f.status);
      });
    };
    expect(draw("a")).toEqual(draw("a"));
    expect(draw("a")).not.toEqual(draw("b"));
    const s = createFaultSchedule({ seed: "a", rate: 0.5 });
    s.onNewRun = () => {};
    for (let i = 0; i < 400; i++) s.hook(ctx(`/p/${i}`));
    expect(Object.keys(s.seen).sort()).toEqual([...FAULT_KINDS].sort());
    const hits = Object.values(s.seen).reduce((n, c) => n + c, 0);
    expect(hits).toBeGreaterThan(150);
    expect(hits).toBeLessThan(250);
  });
});

describe("the client retries every fault", () => {
  const kinds = FAULT_KINDS.filter((k) => k !== "new-run");
  const expectedFault: Record<Exclude<FaultKind, "new-run">, string> = {
    "500": "status 500",
    "502": "status 502",
    "503": "status 503",
    "secondary-403": "status 403",
    "429": "status 429",
    "primary-exhausted": "status 403",
    "connection-reset": "connection error",
    "truncated-json": "truncated body",
    slow: "timeout",
  };
  for (const kind of kinds) {
    it(`${kind}: the request succeeds after a retry`, async () => {
      const dataset = generateDataset({ seed: 1, days: 1, runsPerRepoPerDay: 1, busyDayRuns: 0, bigRunJobs: 2, bigPackageVersions: 2 });
      // The first attempt of every URL gets the fault, the retry goes through.
      const faulted = new Set<string>();
      const schedule = createFaultSchedule({ seed: kind, rate: 1, kinds: { [kind]: 1 }, slowMs: 600, retryAfterSeconds: 1 });
      const simulator = await startSimulator({
        dataset,
        faults: (c) => {
          const key = `${c.path}?${c.query.toString()}`;
          if (faulted.has(key)) return undefined;
          faulted.add(key);
          return schedule.hook(c);
        },
      });
      try {
        const { octokit, usage } = createGitHubClient({ apiUrl: simulator.url, log: silentLogger, requestTimeoutMs: 300, retryTimeScaleMs: 5 });
        const { data } = await octokit.rest.actions.listRepoWorkflows({ owner: "acme", repo: "api" });
        expect(data.workflows.map((w) => w.id).sort()).toEqual(dataset.workflows.filter((w) => w.repo === "acme/api").map((w) => w.id).sort());
        expect(usage.faults[expectedFault[kind]]).toBe(1);
        expect(usage.retries).toBe(1);
        expect(usage.requests).toBe(2);
      } finally {
        await simulator.close();
      }
    }, 30_000);
  }
});

describe("runs arriving while the extractor pages", () => {
  it("shift items to later pages; every run is extracted exactly once", async () => {
    const dataset = generateDataset({ seed: 5, days: 1, runsPerRepoPerDay: 400, busyDayRuns: 0, bigRunJobs: 2, bigPackageVersions: 2 });
    const before = new Set(dataset.runs.filter((r) => r.repo === "acme/api").map((r) => r.id));
    let arrived = 0;
    // Each request for a later page of a runs list first adds three new runs at the top of the list.
    const simulator = await startSimulator({
      dataset,
      faults: (c) => {
        const page = Number(c.query.get("page") ?? "1");
        if (!c.route.endsWith("/actions/runs") || page < 2) return undefined;
        return {
          kind: "before",
          run: () => {
            for (let i = 0; i < 3; i++) simulator.addRun({ repo: "acme/api" });
            arrived += 3;
          },
        };
      },
    });
    try {
      const result = await runExtract(
        { repos: ["acme/api"], since: dataset.anchor.slice(0, 10), apiUrl: simulator.url, stagingDir: join(dir, "shift"), now: new Date(dataset.anchor), packages: false },
        { log: silentLogger },
      );
      expect(arrived).toBeGreaterThan(0);
      const file = result.manifest.files.find((f) => f.table === "workflow_runs");
      const rows = gunzipSync(readFileSync(join(dir, "shift", file?.path ?? ""))).toString().trim().split("\n").map((l) => JSON.parse(l) as { run_id: number; run_attempt: number; created_at: string });
      const keys = rows.map((r) => `${r.run_id}/${r.run_attempt}`);
      expect(new Set(keys).size).toBe(keys.length); // nothing doubled
      const extracted = new Set(rows.map((r) => r.run_id));
      const today = [...before].filter((id) => dataset.runs.find((r) => r.id === id)?.created_at.startsWith(dataset.anchor.slice(0, 10)));
      expect(today.length).toBeGreaterThan(100); // the day spans several pages
      expect(today.filter((id) => !extracted.has(id))).toEqual([]); // nothing lost
    } finally {
      await simulator.close();
    }
  }, 60_000);
});
