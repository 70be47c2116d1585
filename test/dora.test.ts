/**
 * DORA (issue 15, Must show). Two parts:
 *
 * 1. A hand-computed fixture: raw deployments, statuses and compare commits of one repository, written
 *    below with the arithmetic beside them, loaded as raw rows into DuckDB and transformed; the weekly
 *    and monthly reports must equal the figures computed by hand. It crosses a week boundary (a failed
 *    deployment finishing Sunday 23:30 UTC, its retry Monday 00:30) and a month boundary (a deployment
 *    finishing 31 March 23:50, its rollback 1 April 01:10).
 * 2. End to end against the simulator: the extract lands every deployment, status and compare commit
 *    exactly once; a second, incremental extract requests no compare again (and no deployment page
 *    costs rate limit); the four figures equal ground truth computed here from the simulator's world with
 *    the definitions of docs/metrics.md (true commit ancestry for lead time, the generator's own roles for
 *    rollbacks and hotfixes).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allJobsOf, generateDataset, startSimulator, type Dataset, type Simulator } from "../simulator/index.js";
import { ancestors, compareCommits, COMPARE_UNPAGED_LIMIT, deploymentWorld, type DeploymentWorld, type SimDeployment } from "../simulator/deployments.js";
import { runExtract, type ExtractResult } from "../extract/run.js";
import { emptyDeploymentStats, extractRepoDeployments } from "../extract/deployments.js";
import { BatchWriter } from "../extract/batch-writer.js";
import { createGitHubClient } from "../extract/client.js";
import { HttpCache } from "../extract/pages.js";
import { repoRef } from "../extract/actions.js";
import { loadIntoDuckDb } from "../load/duckdb-load.js";
import { runTransform } from "../transform/run.js";
import { createRawTables, openDuckDb, rawTableRef } from "../load/duckdb-connection.js";
import { duckDbExtractState } from "../load/watermark-duckdb.js";
import { createLogger, silentLogger } from "../log/logger.js";
import { rawTables, type RawTableName } from "../schemas/raw-tables.js";
import { queryWarehouse as query } from "./warehouse-query.js";

const HOUR = 3600;
const DAY_MS = 86_400_000;

/** Plain values: BIGINT → number, DATE/TIMESTAMP → ISO day or instant. */
function plain(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  return rows.map((r) =>
    Object.fromEntries(
      Object.entries(r).map(([k, v]) => [k, typeof v === "bigint" ? Number(v) : v instanceof Date ? (k.endsWith("_start") ? v.toISOString().slice(0, 10) : v.toISOString()) : v]),
    ),
  );
}

/** Every action of the DORA models and their dependencies ran, assertions included. */
async function transformDora(duckdbPath: string): Promise<void> {
  const result = await runTransform({ duckdbPath, tags: ["dora"], includeDependencies: true });
  expect(result.actions.filter((a) => a.status !== "done").map((a) => `${a.name}: ${a.status} ${a.error ?? ""}`)).toEqual([]);
}

const weeklyColumns = "week_start, repository, deployments, successful_deployments, deploy_days, frequency_bucket, change_failures, change_failure_rate, changes_deployed, median_lead_time_seconds, failures_started, failures_restored, median_time_to_restore_seconds";
const monthlyColumns = "month_start, repository, deployments, successful_deployments, deploy_days, weeks, median_weekly_deploy_days, frequency_bucket, change_failures, change_failure_rate, changes_deployed, median_lead_time_seconds, failures_started, failures_restored, median_time_to_restore_seconds";

// ------------------------------------------------------------------------------------------ part 1

const REPO = "acme/shop";
const sha = (c: string) => c.repeat(40);
const [A, B, C, D, E, F] = ["a", "b", "c", "d", "e", "f"].map(sha) as [string, string, string, string, string, string];
const X1 = "20260401T000000Z-00000001";
const X2 = "20260403T000000Z-00000002";

function deployment(id: number, environment: string, commit: string, ref: string, createdAt: string, updatedAt: string, batch = X1) {
  return {
    repository: REPO, deployment_id: id, sha: commit, ref, task: "deploy", environment, original_environment: environment,
    production_environment: environment === "production", transient_environment: false, creator_login: "deployer",
    created_at: createdAt, updated_at: updatedAt, payload: { id }, _batch_id: `${batch}-deployments`, _extracted_at: batch === X1 ? "2026-04-01T00:00:00Z" : "2026-04-03T00:00:00Z",
  };
}
function status(statusId: number, deploymentId: number, state: string, createdAt: string, batch = X1) {
  return {
    repository: REPO, deployment_id: deploymentId, status_id: statusId, state, environment: null, creator_login: "deployer",
    created_at: createdAt, updated_at: createdAt, payload: { id: statusId }, _batch_id: `${batch}-deployment_statuses`, _extracted_at: batch === X1 ? "2026-04-01T00:00:00Z" : "2026-04-03T00:00:00Z",
  };
}
function commit(base: string, head: string, c: string, authoredAt: string, committedAt: string, batch = X1) {
  return {
    repository: REPO, base_sha: base, head_sha: head, commit_sha: c, authored_at: authoredAt, committed_at: committedAt, author_login: "alice",
    payload: { sha: c }, _batch_id: `${batch}-deployment_commits`, _extracted_at: batch === X1 ? "2026-04-01T00:00:00Z" : "2026-04-03T00:00:00Z",
  };
}

/*
 * Production of acme/shop, in order (seq), 2026 (1 March is a Sunday; ISO weeks start on Monday):
 *   seq 1  #1  A  created Sun 03-08 10:00, success 10:10      first deployment: delivers its head commit A only
 *   seq 2  #3  C  created Sun 03-29 23:20, failure 23:30      delivers B, C (compare A...C); a change failure
 *   seq 3  #4  C  created Mon 03-30 00:20, success 00:30      a retry of C (no compare); restores #3: 3600 s
 *   seq 4  #5  E  created Tue 03-31 22:00, success 23:50      delivers D, E (compare C...E); followed by the
 *                                                             rollback #6 1 h 10 min later: a change failure
 *   seq 5  #6  C  created Wed 04-01 01:00, success 01:10      rollback (C was deployed before, not by #5);
 *                                                             restores #5: 01:10 - 23:50 = 4800 s
 *   seq 6  #7  F  created Thu 04-02 10:00, success 10:20      delivers D, E, F (compare C...F: after a rollback)
 *   seq 7  #8  F  created Thu 04-02 12:00, in_progress only   unfinished: counted nowhere
 * Staging: #2 (A, Tue 03-10, success; made inactive by #9) and #9 (F, Thu 04-02 09:00, success).
 *
 * Lead times (author date to the first successful, non-rollback production deployment at or after the
 * one that delivered the commit):
 *   A  authored 03-07 10:10 → #1 03-08 10:10 = 86400 s (its committer date, 03-08 09:00, is not used)
 *   B  authored 03-29 20:00 → #4 03-30 00:30 = 16200 s;  C authored 03-29 22:00 → #4 = 9000 s
 *   D  authored 03-31 08:00 → #5 03-31 23:50 = 57000 s;  E authored 03-31 12:00 → #5 = 42600 s
 *      (D and E come again with #7 after the rollback; the first deployment containing them stays #5)
 *   F  authored 04-02 09:00 → #7 04-02 10:20 = 4800 s
 */
const fixture: { [T in RawTableName]?: Record<string, unknown>[] } = {
  deployments: [
    deployment(1, "production", A, "main", "2026-03-08T10:00:00Z", "2026-03-08T10:10:00Z"),
    deployment(2, "staging", A, "main", "2026-03-10T09:00:00Z", "2026-04-02T09:05:00Z"),
    deployment(3, "production", C, "main", "2026-03-29T23:20:00Z", "2026-03-29T23:30:00Z"),
    deployment(4, "production", C, "main", "2026-03-30T00:20:00Z", "2026-03-30T00:30:00Z"),
    // #5 extracted twice: before its final status, then after (staging keeps the newest version).
    deployment(5, "production", E, "main", "2026-03-31T22:00:00Z", "2026-03-31T22:00:00Z"),
    deployment(5, "production", E, "main", "2026-03-31T22:00:00Z", "2026-03-31T23:50:00Z", X2),
    deployment(6, "production", C, C, "2026-04-01T01:00:00Z", "2026-04-01T01:10:00Z", X2),
    deployment(7, "production", F, "main", "2026-04-02T10:00:00Z", "2026-04-02T10:20:00Z", X2),
    deployment(8, "production", F, "main", "2026-04-02T12:00:00Z", "2026-04-02T12:01:00Z", X2),
    deployment(9, "staging", F, "main", "2026-04-02T09:00:00Z", "2026-04-02T09:05:00Z", X2),
  ],
  deployment_statuses: [
    status(101, 1, "in_progress", "2026-03-08T10:01:00Z"),
    status(102, 1, "success", "2026-03-08T10:10:00Z"),
    status(201, 2, "success", "2026-03-10T09:05:00Z"),
    status(202, 2, "inactive", "2026-04-02T09:05:00Z", X2),
    status(301, 3, "in_progress", "2026-03-29T23:21:00Z"),
    status(302, 3, "failure", "2026-03-29T23:30:00Z"),
    status(401, 4, "success", "2026-03-30T00:30:00Z"),
    status(501, 5, "in_progress", "2026-03-31T22:01:00Z"),
    status(502, 5, "success", "2026-03-31T23:50:00Z", X2),
    // The same status again from an earlier extract: staging keeps one.
    status(502, 5, "success", "2026-03-31T23:50:00Z", X1),
    status(601, 6, "success", "2026-04-01T01:10:00Z", X2),
    status(701, 7, "success", "2026-04-02T10:20:00Z", X2),
    status(801, 8, "in_progress", "2026-04-02T12:01:00Z", X2),
    status(901, 9, "success", "2026-04-02T09:05:00Z", X2),
  ],
  deployment_commits: [
    commit(A, A, A, "2026-03-07T10:10:00Z", "2026-03-08T09:00:00Z"),
    commit(A, C, B, "2026-03-29T20:00:00Z", "2026-03-29T22:30:00Z"),
    commit(A, C, C, "2026-03-29T22:00:00Z", "2026-03-29T22:30:00Z"),
    commit(C, E, D, "2026-03-31T08:00:00Z", "2026-03-31T21:00:00Z"),
    commit(C, E, D, "2026-03-31T08:00:00Z", "2026-03-31T21:00:00Z", X2),
    commit(C, E, E, "2026-03-31T12:00:00Z", "2026-03-31T21:00:00Z"),
    commit(C, F, D, "2026-03-31T08:00:00Z", "2026-03-31T21:00:00Z", X2),
    commit(C, F, E, "2026-03-31T12:00:00Z", "2026-03-31T21:00:00Z", X2),
    commit(C, F, F, "2026-04-02T09:00:00Z", "2026-04-02T09:30:00Z", X2),
  ],
};

/** Raw rows, each checked against its raw table's zod schema first, inserted as they would be loaded. */
async function insertRaw(path: string, rows: { [T in RawTableName]?: Record<string, unknown>[] }): Promise<void> {
  const w = await openDuckDb(path);
  try {
    await createRawTables(w.connection);
    for (const [table, list] of Object.entries(rows) as [RawTableName, Record<string, unknown>[]][]) {
      const columns = Object.keys(rawTables[table].schema.shape);
      for (const row of list) {
        const parsed = rawTables[table].schema.parse(row) as Record<string, unknown>;
        const values = columns.map((c) => (c === "payload" ? JSON.stringify(parsed[c]) : (parsed[c] as string | number | boolean | null)));
        await w.connection.run(`INSERT INTO ${rawTableRef(table)} (${columns.map((c) => `"${c}"`).join(", ")}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(", ")})`, values);
      }
    }
  } finally {
    w.close();
  }
}

describe("DORA figures on a hand-computed fixture (week and month boundaries)", () => {
  let dir: string;
  let duckdbPath: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-dora-fixture-"));
    duckdbPath = join(dir, "warehouse.duckdb");
    await insertRaw(duckdbPath, fixture);
    await transformDora(duckdbPath);
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("fct_deployments: final states, sequence, rollback, change failures and restores", async () => {
    const rows = plain(await query(duckdbPath, `SELECT deployment_id, environment, deployment_seq, final_state, finished_at, previous_sha, is_rollback, is_change_failure, starts_failure, restored_at, time_to_restore_seconds FROM actions_warehouse.fct_deployments ORDER BY deployment_id`));
    const t = (s: string | null) => (s === null ? null : new Date(s).toISOString());
    expect(rows).toEqual([
      { deployment_id: 1, environment: "production", deployment_seq: 1, final_state: "success", finished_at: t("2026-03-08T10:10:00Z"), previous_sha: null, is_rollback: false, is_change_failure: false, starts_failure: false, restored_at: null, time_to_restore_seconds: null },
      // Made inactive by #9's success: its final state is still the success before it.
      { deployment_id: 2, environment: "staging", deployment_seq: 1, final_state: "success", finished_at: t("2026-03-10T09:05:00Z"), previous_sha: null, is_rollback: false, is_change_failure: false, starts_failure: false, restored_at: null, time_to_restore_seconds: null },
      { deployment_id: 3, environment: "production", deployment_seq: 2, final_state: "failure", finished_at: t("2026-03-29T23:30:00Z"), previous_sha: A, is_rollback: false, is_change_failure: true, starts_failure: true, restored_at: t("2026-03-30T00:30:00Z"), time_to_restore_seconds: 3600 },
      { deployment_id: 4, environment: "production", deployment_seq: 3, final_state: "success", finished_at: t("2026-03-30T00:30:00Z"), previous_sha: C, is_rollback: false, is_change_failure: false, starts_failure: false, restored_at: null, time_to_restore_seconds: null },
      { deployment_id: 5, environment: "production", deployment_seq: 4, final_state: "success", finished_at: t("2026-03-31T23:50:00Z"), previous_sha: C, is_rollback: false, is_change_failure: true, starts_failure: true, restored_at: t("2026-04-01T01:10:00Z"), time_to_restore_seconds: 4800 },
      { deployment_id: 6, environment: "production", deployment_seq: 5, final_state: "success", finished_at: t("2026-04-01T01:10:00Z"), previous_sha: E, is_rollback: true, is_change_failure: false, starts_failure: false, restored_at: null, time_to_restore_seconds: null },
      { deployment_id: 7, environment: "production", deployment_seq: 6, final_state: "success", finished_at: t("2026-04-02T10:20:00Z"), previous_sha: C, is_rollback: false, is_change_failure: false, starts_failure: false, restored_at: null, time_to_restore_seconds: null },
      { deployment_id: 8, environment: "production", deployment_seq: 7, final_state: "in_progress", finished_at: null, previous_sha: F, is_rollback: false, is_change_failure: false, starts_failure: false, restored_at: null, time_to_restore_seconds: null },
      { deployment_id: 9, environment: "staging", deployment_seq: 2, final_state: "success", finished_at: t("2026-04-02T09:05:00Z"), previous_sha: A, is_rollback: false, is_change_failure: false, starts_failure: false, restored_at: null, time_to_restore_seconds: null },
    ]);
  });

  it("fct_change_lead_times: each commit once, at its first successful production deployment", async () => {
    const rows = plain(await query(duckdbPath, `SELECT environment, commit_sha, deployment_id, lead_time_seconds FROM actions_warehouse.fct_change_lead_times ORDER BY environment, commit_sha`));
    expect(rows).toEqual([
      { environment: "production", commit_sha: A, deployment_id: 1, lead_time_seconds: 86_400 },
      { environment: "production", commit_sha: B, deployment_id: 4, lead_time_seconds: 16_200 },
      { environment: "production", commit_sha: C, deployment_id: 4, lead_time_seconds: 9_000 },
      { environment: "production", commit_sha: D, deployment_id: 5, lead_time_seconds: 57_000 },
      { environment: "production", commit_sha: E, deployment_id: 5, lead_time_seconds: 42_600 },
      { environment: "production", commit_sha: F, deployment_id: 7, lead_time_seconds: 4_800 },
      // Staging's first deployment (#2, A) is compared with itself like production's: the pair (A, A) is
      // shared, so A reaches staging at #2, 03-10 09:05: 2 days 22 h 55 min after 03-07 10:10 = 255300 s.
      // #9 (A...F) has no compare rows in the fixture: no staging lead time for F.
      { environment: "staging", commit_sha: A, deployment_id: 2, lead_time_seconds: 255_300 },
    ]);
  });

  it("rpt_dora_weekly: a Sunday 23:30 failure and its Monday 00:30 retry fall in two weeks", async () => {
    const rows = plain(await query(duckdbPath, `SELECT ${weeklyColumns} FROM actions_warehouse.rpt_dora_weekly ORDER BY week_start`));
    expect(rows).toEqual([
      // #1 on Sunday 03-08: 1 deploy day (high); A's lead time 86400.
      { week_start: "2026-03-02", repository: REPO, deployments: 1, successful_deployments: 1, deploy_days: 1, frequency_bucket: "high", change_failures: 0, change_failure_rate: 0, changes_deployed: 1, median_lead_time_seconds: 86_400, failures_started: 0, failures_restored: 0, median_time_to_restore_seconds: null },
      // Only a staging deployment (#2): a quiet week, zero deploy days. (The week of 03-16 shows no activity at all: no row.)
      { week_start: "2026-03-09", repository: REPO, deployments: 0, successful_deployments: 0, deploy_days: 0, frequency_bucket: "medium_or_low", change_failures: 0, change_failure_rate: null, changes_deployed: 0, median_lead_time_seconds: null, failures_started: 0, failures_restored: 0, median_time_to_restore_seconds: null },
      // #3 failed Sunday 23:30: 1 deployment, 1 change failure (rate 1/1), restored 3600 s later (by #4, next week).
      { week_start: "2026-03-23", repository: REPO, deployments: 1, successful_deployments: 0, deploy_days: 0, frequency_bucket: "medium_or_low", change_failures: 1, change_failure_rate: 1, changes_deployed: 0, median_lead_time_seconds: null, failures_started: 1, failures_restored: 1, median_time_to_restore_seconds: 3600 },
      // #4 Mon, #5 Tue, #6 Wed, #7 Thu: 4 deploy days (elite); #5 is a change failure: 1/4 = 0.25;
      // B, C, D, E, F deployed: lead times 16200, 9000, 57000, 42600, 4800, median 16200; #5 restored in 4800 s.
      { week_start: "2026-03-30", repository: REPO, deployments: 4, successful_deployments: 4, deploy_days: 4, frequency_bucket: "elite", change_failures: 1, change_failure_rate: 0.25, changes_deployed: 5, median_lead_time_seconds: 16_200, failures_started: 1, failures_restored: 1, median_time_to_restore_seconds: 4800 },
    ]);
  });

  it("rpt_dora_monthly: 31 March 23:50 and 1 April 01:10 fall in two months", async () => {
    const rows = plain(await query(duckdbPath, `SELECT ${monthlyColumns} FROM actions_warehouse.rpt_dora_monthly ORDER BY month_start`));
    expect(rows).toEqual([
      // March: #1, #3, #4, #5 finished; success on 03-08, 03-30, 03-31: 3 deploy days; change failures #3, #5: 2/4;
      // A, B, C, D, E: 86400, 16200, 9000, 57000, 42600, median 42600; restores 3600 and 4800, median 4200;
      // weeks with a Monday in March: 03-02, 03-09, 03-23, 03-30 with 1, 0, 0, 4 deploy days: median 0.5 < 1,
      // but 3 deploy days in the month: medium.
      { month_start: "2026-03-01", repository: REPO, deployments: 4, successful_deployments: 3, deploy_days: 3, weeks: 4, median_weekly_deploy_days: 0.5, frequency_bucket: "medium", change_failures: 2, change_failure_rate: 0.5, changes_deployed: 5, median_lead_time_seconds: 42_600, failures_started: 2, failures_restored: 2, median_time_to_restore_seconds: 4200 },
      // April: #6 (04-01 01:10) and #7 (04-02); #8 unfinished. F: 4800. No week starts in April here.
      { month_start: "2026-04-01", repository: REPO, deployments: 2, successful_deployments: 2, deploy_days: 2, weeks: 0, median_weekly_deploy_days: null, frequency_bucket: "medium", change_failures: 0, change_failure_rate: 0, changes_deployed: 1, median_lead_time_seconds: 4800, failures_started: 0, failures_restored: 0, median_time_to_restore_seconds: null },
    ]);
  });
});

// ------------------------------------------------------------------------------------------ part 2

const API = "acme/api";
const WEB = "acme/web";
const FAILURE_WINDOW = 24 * HOUR;
const sec = (iso: string) => Date.parse(iso) / 1000;
const isoWeek = (s: number) => {
  const d = new Date(s * 1000);
  const day = (d.getUTCDay() + 6) % 7;
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day)).toISOString().slice(0, 10);
};
const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = (s.length - 1) / 2;
  return ((s[Math.floor(m)] as number) + (s[Math.ceil(m)] as number)) / 2;
};

/** A deployment as the ground truth sees it: from the simulator's world or its jobs. */
interface TruthDeployment {
  id: number;
  sha: string;
  ref: string;
  created: number;
  state: string | null;
  finished: number | null;
  rollback: boolean;
  hotfix: boolean;
}

interface WeekTruth {
  deployments: number;
  successful_deployments: number;
  deploy_days: number;
  change_failures: number;
  changes_deployed: number;
  median_lead_time_seconds: number | null;
  failures_started: number;
  failures_restored: number;
  median_time_to_restore_seconds: number | null;
}

/** The four figures per week (or other period) of one production environment, by the definitions of docs/metrics.md. */
function periodTruth(list: TruthDeployment[], leadTimes: Map<string, { at: number; lead: number }>, period: (s: number) => string = isoWeek): Map<string, WeekTruth> {
  const cf = list.map((d, i) => {
    if (d.state === "failure" || d.state === "error") return true;
    const next = list[i + 1];
    return d.state === "success" && d.finished !== null && next !== undefined && (next.rollback || next.hotfix) && next.created - d.finished <= FAILURE_WINDOW;
  });
  const weeks = new Map<string, WeekTruth & { days: Set<string>; leads: number[]; restores: number[] }>();
  const week = (s: number) => {
    const k = period(s);
    let w = weeks.get(k);
    if (!w) {
      w = { deployments: 0, successful_deployments: 0, deploy_days: 0, change_failures: 0, changes_deployed: 0, median_lead_time_seconds: null, failures_started: 0, failures_restored: 0, median_time_to_restore_seconds: null, days: new Set(), leads: [], restores: [] };
      weeks.set(k, w);
    }
    return w;
  };
  list.forEach((d, i) => {
    if (d.finished === null) return;
    const w = week(d.finished);
    w.deployments += 1;
    if (d.state === "success") {
      w.successful_deployments += 1;
      w.days.add(new Date(d.finished * 1000).toISOString().slice(0, 10));
    }
    if (cf[i]) w.change_failures += 1;
    if (cf[i] && !(i > 0 && cf[i - 1])) {
      w.failures_started += 1;
      const restorer = list.find((g, j) => j > i && g.state === "success" && !cf[j]);
      if (restorer?.finished != null) {
        w.failures_restored += 1;
        w.restores.push(restorer.finished - d.finished);
      }
    }
  });
  for (const { at, lead } of leadTimes.values()) {
    const w = week(at);
    w.changes_deployed += 1;
    w.leads.push(lead);
  }
  return new Map(
    [...weeks].map(([k, w]) => {
      const { days, leads, restores, ...rest } = w;
      return [k, { ...rest, deploy_days: days.size, median_lead_time_seconds: median(leads), median_time_to_restore_seconds: median(restores) }];
    }),
  );
}

function apiProduction(world: DeploymentWorld): TruthDeployment[] {
  return world.deployments
    .filter((d) => d.environment === "production")
    .map((d: SimDeployment) => {
      const last = d.statuses.filter((s) => s.state !== "inactive").at(-1);
      const state = last?.state ?? null;
      const finished = state === "success" || state === "failure" || state === "error" ? sec(last?.created_at as string) : null;
      return { id: d.id, sha: d.sha, ref: d.ref, created: sec(d.created_at), state, finished, rollback: d.role === "rollback", hotfix: d.role === "hotfix" };
    });
}

/** Lead time truth: every commit of a production deployment's history after the first deployed SHA's. */
function apiLeadTimes(world: DeploymentWorld, list: TruthDeployment[]): Map<string, { at: number; lead: number }> {
  const first = list[0];
  if (!first) return new Map();
  const before = ancestors(world, first.sha);
  before.delete(first.sha);
  const out = new Map<string, { at: number; lead: number }>();
  for (const d of list) {
    if (d.state !== "success" || d.finished === null) continue;
    for (const c of ancestors(world, d.sha)) {
      if (before.has(c) || out.has(c)) continue;
      const commit = world.bySha.get(c);
      if (!commit) continue;
      out.set(c, { at: d.finished, lead: d.finished - sec(commit.author.date) });
    }
  }
  return out;
}

/** Workflow deployments of acme/web: completed `deploy` jobs of every attempt, by the documented rule. */
function webProduction(ds: Dataset): TruthDeployment[] {
  const out: Omit<TruthDeployment, "rollback" | "hotfix">[] = [];
  for (const run of ds.runs.filter((r) => r.repo === WEB))
    for (const job of allJobsOf(ds, run).flat())
      if (/deploy/i.test(job.name) && job.status === "completed" && job.completed_at !== null && ["success", "failure", "timed_out", "startup_failure"].includes(job.conclusion ?? ""))
        out.push({ id: job.id, sha: run.head_sha, ref: run.head_branch, created: sec(job.created_at), state: job.conclusion === "success" ? "success" : "failure", finished: sec(job.completed_at) });
  out.sort((a, b) => a.created - b.created || a.id - b.id);
  return out.map((d, i) => ({ ...d, rollback: i > 0 && out[i - 1]?.sha !== d.sha && out.slice(0, i - 1).some((e) => e.sha === d.sha), hotfix: /hotfix/i.test(d.ref) }));
}

/** The (base, head) pairs the extract must compare, with their commits (newest 250). */
function expectedCommits(world: DeploymentWorld): Set<string> {
  const keys = new Set<string>();
  for (const environment of new Set(world.deployments.map((d) => d.environment))) {
    const list = world.deployments.filter((d) => d.environment === environment);
    const deployed = new Set<string>();
    list.forEach((d, i) => {
      const previous = list[i - 1];
      if (!previous) keys.add(`${d.sha} ${d.sha} ${d.sha}`);
      else if (!deployed.has(d.sha)) for (const c of compareCommits(world, previous.sha, d.sha).commits.slice(-COMPARE_UNPAGED_LIMIT)) keys.add(`${previous.sha} ${d.sha} ${c.sha}`);
      deployed.add(d.sha);
    });
  }
  return keys;
}

describe("DORA end to end: simulator → extract → DuckDB → models, against the simulator's ground truth", () => {
  let dir: string;
  let ds: Dataset;
  let world: DeploymentWorld;
  let sim: Simulator;
  let duckdbPath: string;
  let stagingDir: string;
  let first: ExtractResult;
  let second: ExtractResult;
  let secondRoutes: Record<string, number>;
  let secondCostly: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-dora-e2e-"));
    duckdbPath = join(dir, "warehouse.duckdb");
    stagingDir = join(dir, "staging");
    ds = generateDataset({ days: 14, runsPerRepoPerDay: 12, busyDayRuns: 0 });
    world = deploymentWorld(ds);
    sim = await startSimulator({ dataset: ds, rateLimit: 100_000 });
    // "Now" is a day after the dataset's anchor, so the incremental window (watermark minus 30 days) covers it all.
    const now = new Date(Date.parse(ds.anchor) + DAY_MS);
    const extract = async (extra: { since?: string }) => {
      const result = await runExtract({ repos: [API, WEB], apiUrl: sim.url, stagingDir, packages: false, now, ...extra }, { log: silentLogger, state: duckDbExtractState(duckdbPath) });
      await loadIntoDuckDb({ stagingDir, duckdbPath, log: silentLogger });
      return result;
    };
    // The first extract covers the days the second one lists again (watermark minus the 30-day lookback).
    first = await extract({ since: new Date(now.getTime() - 30 * DAY_MS).toISOString().slice(0, 10) });
    sim.resetStats();
    second = await extract({});
    secondRoutes = sim.stats().byRoute;
    secondCostly = sim.stats().costly;
    await transformDora(duckdbPath);
  }, 600_000);

  afterAll(async () => {
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the world has what the issue asks for: failures fixed, a rollback, a hotfix, every compare status", () => {
    const roles = new Set(world.deployments.map((d) => `${d.environment}:${d.role}`));
    for (const r of ["production:deploy", "production:fix", "production:retry", "production:rollback", "production:hotfix", "staging:deploy"]) expect(roles).toContain(r);
    const states = new Set(world.deployments.map((d) => d.statuses.at(-1)?.state));
    for (const s of ["success", "failure", "error", "inactive"]) expect(states).toContain(s);
    expect(webProduction(ds).length).toBeGreaterThan(10);
    expect(first.manifest.window.since <= (world.deployments[0]?.created_at ?? "")).toBe(true);
  });

  it("every deployment, status and compare commit lands exactly once, after two extracts", async () => {
    const [deps] = plain(await query(duckdbPath, `SELECT COUNT(*) AS n, COUNT(DISTINCT deployment_id) AS ids FROM github_raw.deployments`));
    expect(deps).toEqual({ n: world.deployments.length, ids: world.deployments.length });
    const statuses = world.deployments.reduce((n, d) => n + d.statuses.length, 0);
    const [sts] = plain(await query(duckdbPath, `SELECT COUNT(*) AS n, COUNT(DISTINCT status_id) AS ids FROM github_raw.deployment_statuses`));
    expect(sts).toEqual({ n: statuses, ids: statuses });
    const rows = plain(await query(duckdbPath, `SELECT base_sha, head_sha, commit_sha FROM github_raw.deployment_commits`));
    const got = rows.map((r) => `${String(r.base_sha)} ${String(r.head_sha)} ${String(r.commit_sha)}`);
    expect(got.length).toBe(new Set(got).size);
    expect(new Set(got)).toEqual(expectedCommits(world));
    expect(first.deployments).toMatchObject({ deployments: world.deployments.length, statuses, commits: got.length, truncated: 0, missing: 0 });
  });

  it("a second, incremental extract fetches no compare again and spends no rate limit on deployments", () => {
    expect(second.manifest.window.since < (world.deployments[0]?.created_at ?? "")).toBe(true);
    expect(secondRoutes["GET /repos/{owner}/{repo}/compare/{basehead}"] ?? 0).toBe(0);
    expect(second.deployments).toMatchObject({ compares: 0, deployments: 0, statuses: 0, commits: 0 });
    // A pair compared once serves every deployment with it (staging and production share most pairs).
    expect(second.deployments?.comparesCached).toBe((first.deployments?.compares ?? 0) + (first.deployments?.comparesCached ?? 0));
    expect(first.deployments?.compares).toBeGreaterThan(10);
    // Every request of the second extract (runs, jobs, deployments, statuses) answered 304.
    expect(secondCostly).toBe(0);
    expect(second.manifest.counts).toEqual({});
  });

  it("lead time of every production commit equals the first successful deployment containing it (true ancestry)", async () => {
    const truth = apiLeadTimes(world, apiProduction(world));
    const rows = plain(await query(duckdbPath, `SELECT commit_sha, lead_time_seconds FROM actions_warehouse.fct_change_lead_times WHERE repository = '${API}' AND is_production`));
    expect(new Map(rows.map((r) => [String(r.commit_sha), r.lead_time_seconds]))).toEqual(new Map([...truth].map(([c, t]) => [c, t.lead])));
  });

  it("rpt_dora_weekly equals the ground truth for the API-deployed and the workflow-deployed repository", async () => {
    const rows = plain(await query(duckdbPath, `SELECT ${weeklyColumns} FROM actions_warehouse.rpt_dora_weekly ORDER BY repository, week_start`));
    const apiList = apiProduction(world);
    const expected = [
      ...[...periodTruth(apiList, apiLeadTimes(world, apiList))].map(([week, w]) => ({ week_start: week, repository: API, ...w })),
      ...[...periodTruth(webProduction(ds), new Map())].map(([week, w]) => ({ week_start: week, repository: WEB, ...w })),
    ].sort((a, b) => (a.repository + a.week_start < b.repository + b.week_start ? -1 : 1));
    // Every week between the first and the last production week has activity here (runs every day).
    expect(rows.map(({ frequency_bucket: _b, change_failure_rate: _r, ...rest }) => rest)).toEqual(expected);
    for (const r of rows) {
      expect(r.frequency_bucket).toBe((r.deploy_days as number) >= 3 ? "elite" : (r.deploy_days as number) >= 1 ? "high" : "medium_or_low");
      expect(r.change_failure_rate).toBe((r.deployments as number) === 0 ? null : (r.change_failures as number) / (r.deployments as number));
    }
    expect(rows.some((r) => r.repository === API && (r.failures_restored as number) > 0)).toBe(true);
  });

  it("rpt_dora_monthly equals the ground truth per calendar month", async () => {
    const month = (s: number) => `${new Date(s * 1000).toISOString().slice(0, 7)}-01`;
    const rows = plain(await query(duckdbPath, `SELECT month_start, repository, deployments, successful_deployments, deploy_days, change_failures, changes_deployed, median_lead_time_seconds, failures_started, failures_restored, median_time_to_restore_seconds FROM actions_warehouse.rpt_dora_monthly ORDER BY repository, month_start`));
    const apiList = apiProduction(world);
    const expected = [
      ...[...periodTruth(apiList, apiLeadTimes(world, apiList), month)].map(([m, w]) => ({ month_start: m, repository: API, ...w })),
      ...[...periodTruth(webProduction(ds), new Map(), month)].map(([m, w]) => ({ month_start: m, repository: WEB, ...w })),
    ].sort((a, b) => (a.repository + a.month_start < b.repository + b.month_start ? -1 : 1));
    expect(rows).toEqual(expected);
  });
});

describe("bad deployment data is quarantined with a reason, never dropped, and the extract goes on", () => {
  let dir: string;
  let sim: Simulator;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "aw-dora-bad-"));
  });
  afterAll(async () => {
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a deployment without created_at, a status with a non-numeric id and a compare answering 404", async () => {
    const ds = generateDataset({ seed: 3, days: 5, runsPerRepoPerDay: 4, busyDayRuns: 0 });
    const world = deploymentWorld(ds);
    const served = { lists: 0, statuses: 0, compares: 0 };
    sim = await startSimulator({
      dataset: ds,
      faults: (ctx) => {
        if (ctx.route === "GET /repos/{owner}/{repo}/deployments" && served.lists++ === 0)
          return { kind: "mutate", mutate: (body) => (body as Record<string, unknown>[]).map((d, i) => (i === 0 ? { ...d, created_at: undefined } : d)) };
        if (ctx.route === "GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses" && served.statuses++ === 0)
          return { kind: "mutate", mutate: (body) => (body as Record<string, unknown>[]).map((s, i) => (i === 0 ? { ...s, id: "not-a-number" } : s)) };
        if (ctx.route === "GET /repos/{owner}/{repo}/compare/{basehead}" && served.compares++ === 0) return { status: 404, body: { message: "Not Found", documentation_url: "https://docs.github.com/rest" } };
        return undefined;
      },
    });
    const result = await runExtract(
      { repos: [API], since: new Date(Date.parse(ds.anchor) - 6 * DAY_MS).toISOString().slice(0, 10), apiUrl: sim.url, stagingDir: join(dir, "staging"), packages: false, maxQuarantined: 100, now: new Date(Date.parse(ds.anchor) + DAY_MS) },
      { log: silentLogger },
    );
    const reasons = Object.entries(result.manifest.quarantine_reasons ?? {});
    expect(reasons.length, JSON.stringify(reasons)).toBe(3);
    const count = (prefix: RegExp) => reasons.filter(([k]) => prefix.test(k)).reduce((n, [, v]) => n + v, 0);
    expect(count(/^deployments: id, created_at, environment or sha: missing/)).toBe(1);
    expect(count(/^deployment_statuses: status_id/)).toBe(1);
    expect(count(/^deployment_commits: compare answered 404: [0-9a-f]{40} or [0-9a-f]{40} is not in acme\/api/)).toBe(1);
    expect(result.deployments?.missing).toBe(1);
    // Everything else arrived: the newest deployment was quarantined, the rest written.
    const inWindow = world.deployments.filter((d) => d.created_at >= result.manifest.window.since);
    expect(result.manifest.counts.deployments).toBe(inWindow.length - 1);
    expect(result.manifest.quarantined).toBe(3);
  }, 300_000);

  it("a token that may not read deployments (403) skips them with a warning and keeps the runs", async () => {
    await sim?.close();
    const ds = generateDataset({ seed: 3, days: 2, runsPerRepoPerDay: 4, busyDayRuns: 0 });
    sim = await startSimulator({
      dataset: ds,
      faults: (ctx) =>
        ctx.route === "GET /repos/{owner}/{repo}/deployments" ? { status: 403, body: { message: "Resource not accessible by integration", documentation_url: "https://docs.github.com/rest/deployments/deployments#list-deployments" } } : undefined,
    });
    const lines: string[] = [];
    const log = createLogger({ write: (line) => void lines.push(line), json: true });
    const result = await runExtract(
      { repos: [API], since: new Date(Date.parse(ds.anchor) - 2 * DAY_MS).toISOString().slice(0, 10), apiUrl: sim.url, stagingDir: join(dir, "staging-403"), packages: false, now: new Date(Date.parse(ds.anchor) + DAY_MS) },
      { log },
    );
    expect(result.deployments?.forbidden).toEqual([API]);
    expect(result.manifest.counts.deployments ?? 0).toBe(0);
    expect(result.manifest.counts.workflow_runs).toBeGreaterThan(0);
    expect(lines.join("\n")).toMatch(/deployments of acme\/api skipped: .*403.*Deployments: read.*--no-deployments/);
  }, 300_000);
});

describe("a window whose first production deployment has its predecessor on a later page", () => {
  it("lists that environment alone until the predecessor shows up, and compares from it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "aw-dora-pages-"));
    const ds = generateDataset({ days: 14, runsPerRepoPerDay: 2, busyDayRuns: 0 });
    const world = deploymentWorld(ds);
    const newestFirst = [...world.deployments].reverse();
    // A production deployment with a new SHA whose next older deployment is a staging one that ends a
    // page of 2: the first page reaching before the window then holds no older production deployment.
    const k = newestFirst.findIndex((d, i) => {
      const next = newestFirst[i + 1];
      const prod = world.deployments.filter((x) => x.environment === "production");
      const at = prod.indexOf(d);
      return d.environment === "production" && d.role === "deploy" && at > 2 && next?.environment === "staging" && (i + 1) % 2 === 1 && !prod.slice(0, at).some((x) => x.sha === d.sha);
    });
    expect(k).toBeGreaterThanOrEqual(0);
    const target = newestFirst[k] as SimDeployment;
    const prod = world.deployments.filter((x) => x.environment === "production");
    const predecessor = prod[prod.indexOf(target) - 1] as SimDeployment;
    const compared: string[] = [];
    const lists: string[] = [];
    const sim = await startSimulator({
      dataset: ds,
      faults: (ctx) => {
        if (ctx.route === "GET /repos/{owner}/{repo}/compare/{basehead}") compared.push(decodeURIComponent(ctx.path.split("/compare/")[1] ?? ""));
        if (ctx.route === "GET /repos/{owner}/{repo}/deployments") lists.push(ctx.query.get("environment") ?? "(all)");
        return undefined;
      },
    });
    try {
      const { octokit } = createGitHubClient({ apiUrl: sim.url, log: silentLogger });
      const writer = new BatchWriter(join(dir, "staging"), "20261015T120000Z-00000000", "2026-10-15");
      const stats = emptyDeploymentStats();
      await extractRepoDeployments(octokit, new HttpCache(new Map()), writer, repoRef(API), { since: new Date(target.created_at), knownCompares: new Set(), stats, pageSize: 2 }, silentLogger);
      writer.abandon();
      expect(lists).toContain("production");
      expect(compared).toContain(`${predecessor.sha}...${target.sha}`);
      expect(stats.deployments).toBe(k + 1);
    } finally {
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
