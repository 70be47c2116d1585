/**
 * Synthetic raw data at any scale, generated inside DuckDB with generate_series (seconds for millions of
 * rows), for the load and transform benchmarks. Shapes follow the simulator: runs with 1–2 attempts,
 * jobs on hosted and self-hosted runners, every status and conclusion, steps per job.
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import { rawTableRef } from "../load/duckdb-connection.js";

export interface Scale {
  runs: number;
  jobsPerRun: number;
  stepsPerJob: number;
  /** First run id (to append a later slice without clashing). */
  firstRun?: number;
  batchId?: string;
  extractedAt?: string;
}

const base = "TIMESTAMPTZ '2026-09-01 00:00:00+00'";

export function runsSelect(s: Scale): string {
  const first = s.firstRun ?? 1;
  return `SELECT
    'acme/repo-' || (i % 40) AS repository, 10000000000 + i AS run_id, CAST(CASE WHEN i % 17 = 0 THEN 2 ELSE 1 END AS BIGINT) AS run_attempt,
    1000 + (i % 120) AS workflow_id, 'Workflow ' || (i % 120) AS workflow_name, '.github/workflows/w' || (i % 120) || '.yml' AS workflow_path,
    CASE WHEN i % 3 = 0 THEN 'pull_request' ELSE 'push' END AS event, CASE WHEN i % 5 = 0 THEN 'main' ELSE 'feature/' || (i % 300) END AS head_branch,
    md5(i::VARCHAR) AS head_sha, 'user' || (i % 50) AS actor_login, 'completed' AS status,
    CASE WHEN i % 10 = 0 THEN 'failure' WHEN i % 37 = 0 THEN 'cancelled' ELSE 'success' END AS conclusion,
    ${base} + to_seconds(i * 7) AS created_at, ${base} + to_seconds(i * 7 + 20) AS run_started_at,
    ${base} + to_seconds(i * 7 + 20 + 60 + (i % 900)) AS updated_at, 'https://github.com/acme/x/actions/runs/' || i AS html_url,
    json_object('id', 10000000000 + i) AS payload, '${s.batchId ?? "bench"}' AS _batch_id, ${s.extractedAt ? `TIMESTAMPTZ '${s.extractedAt}'` : "now()"} AS _extracted_at
  FROM range(${first}, ${first + s.runs}) t(i)`;
}

export function jobsSelect(s: Scale): string {
  const first = s.firstRun ?? 1;
  return `SELECT
    'acme/repo-' || (r % 40) AS repository, 30000000000 + r * 1000 + j AS job_id, 10000000000 + r AS run_id, CAST(CASE WHEN r % 17 = 0 AND j % 2 = 1 THEN 2 ELSE 1 END AS BIGINT) AS run_attempt,
    'Workflow ' || (r % 120) AS workflow_name, 'job ' || j AS job_name, 'main' AS head_branch, 'completed' AS status,
    CASE WHEN (r + j) % 11 = 0 THEN 'failure' WHEN (r + j) % 23 = 0 THEN 'skipped' ELSE 'success' END AS conclusion,
    ${base} + to_seconds(r * 7 + j) AS created_at, ${base} + to_seconds(r * 7 + j + ((r + j) % 120)) AS started_at,
    ${base} + to_seconds(r * 7 + j + ((r + j) % 120) + 30 + ((r * j) % 1500)) AS completed_at,
    'runner ' || (j % 30) AS runner_name, CASE WHEN j % 4 = 0 THEN 'Default' ELSE 'GitHub Actions' END AS runner_group_name,
    CASE WHEN j % 4 = 0 THEN ['self-hosted', 'linux', 'x64'] WHEN j % 4 = 1 THEN ['windows-latest'] WHEN j % 9 = 2 THEN ['macos-14'] ELSE ['ubuntu-latest'] END AS labels,
    json_object('id', 30000000000 + r * 1000 + j) AS payload, '${s.batchId ?? "bench"}' AS _batch_id, ${s.extractedAt ? `TIMESTAMPTZ '${s.extractedAt}'` : "now()"} AS _extracted_at
  FROM range(${first}, ${first + s.runs}) t(r), range(0, ${s.jobsPerRun}) u(j)`;
}

export function stepsSelect(s: Scale): string {
  const first = s.firstRun ?? 1;
  return `SELECT
    'acme/repo-' || (r % 40) AS repository, 30000000000 + r * 1000 + j AS job_id, 10000000000 + r AS run_id, CAST(1 AS BIGINT) AS run_attempt,
    k AS step_number, 'step ' || k AS step_name, 'completed' AS status, 'success' AS conclusion,
    ${base} + to_seconds(r * 7 + j + k * 10) AS started_at, ${base} + to_seconds(r * 7 + j + k * 10 + 9) AS completed_at,
    json_object('number', k) AS payload, '${s.batchId ?? "bench"}' AS _batch_id, ${s.extractedAt ? `TIMESTAMPTZ '${s.extractedAt}'` : "now()"} AS _extracted_at
  FROM range(${first}, ${first + s.runs}) t(r), range(0, ${s.jobsPerRun}) u(j), range(1, ${s.stepsPerJob + 1}) v(k)`;
}

/** Inserts one slice of synthetic runs, jobs and steps into the raw tables. */
export async function insertSynthetic(connection: DuckDBConnection, s: Scale): Promise<void> {
  await connection.run(`INSERT INTO ${rawTableRef("workflow_runs")} BY NAME ${runsSelect(s)}`);
  await connection.run(`INSERT INTO ${rawTableRef("workflow_jobs")} BY NAME ${jobsSelect(s)}`);
  await connection.run(`INSERT INTO ${rawTableRef("job_steps")} BY NAME ${stepsSelect(s)}`);
}
