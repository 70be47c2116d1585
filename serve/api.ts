/**
 * The read side of `serve`: `/api/metrics`, `/api/runs`, `/api/filters`, `/api/config` and `/api/status`
 * (what the status wall, `GET /`, draws). Everything is read from the models in the DuckDB file the
 * server owns (`actions_warehouse.fct_workflow_runs`, latest attempts only, and `fct_workflow_jobs`), plus
 * one run's raw payload from `github_raw.workflow_runs` (the version the staging models keep) at
 * `/api/runs/{run_id}/payload`, read only when the wall's side panel opens.
 *
 * DuckDB is opened through `Flusher.read`, between flushes, so the process never holds two DuckDB
 * instances on the file. Answers are cached per query until the next load or transform (at most a few
 * seconds), so a wall on many screens costs one read per refresh.
 *
 * Query parameters are checked with zod; a bad one gets 400 naming it.
 */
import { readFileSync } from "node:fs";
import { Script } from "node:vm";
import type { DuckDBConnection, DuckDBValue } from "@duckdb/node-api";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { datasets } from "../load/datasets.js";
import { quoteIdent, rawTableRef } from "../load/duckdb-connection.js";
import type { ServeConfig } from "./config.js";
import type { Flusher } from "./flusher.js";

/** includes/constants.js is CommonJS (Dataform requires it) in a `"type": "module"` package: evaluated in a wrapper, as serve/metrics.ts does. */
function loadConstants(): { FAILURE_CONCLUSIONS: string[]; NOT_FINISHED_STATUSES: string[] } {
  const source = readFileSync(new URL("../includes/constants.js", import.meta.url), "utf8");
  const wrapper: unknown = new Script(`(function (module, exports) {\n${source}\n})`, { filename: "includes/constants.js" }).runInThisContext();
  if (typeof wrapper !== "function") throw new Error("includes/constants.js: not loadable");
  const module: { exports: Record<string, unknown> } = { exports: {} };
  (wrapper as (m: typeof module, e: Record<string, unknown>) => void)(module, module.exports);
  const strings = (v: unknown, key: string): string[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new Error(`includes/constants.js: ${key} is not a list of strings`);
    return v;
  };
  return { FAILURE_CONCLUSIONS: strings(module.exports.FAILURE_CONCLUSIONS, "FAILURE_CONCLUSIONS"), NOT_FINISHED_STATUSES: strings(module.exports.NOT_FINISHED_STATUSES, "NOT_FINISHED_STATUSES") };
}
const constants = loadConstants();

export const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;

const FAILURES = constants.FAILURE_CONCLUSIONS;
const NOT_FINISHED = constants.NOT_FINISHED_STATUSES;
const sqlList = (values: string[]) => values.map((v) => `'${v.replaceAll("'", "''")}'`).join(", ");

const model = (name: string) => `${quoteIdent(datasets.models)}.${quoteIdent(name)}`;
const RUNS = model("fct_workflow_runs");
const JOBS = model("fct_workflow_jobs");

/** Default time range when `from` is not given: the last 7 days before `to`. */
export const DEFAULT_RANGE_HOURS = 7 * 24;
/** `group_by` when not given: hours for ranges up to two days, else days. */
const AUTO_HOURLY_MAX_HOURS = 48;
const MAX_LIMIT = 500;
const CACHE_MS = 5_000;

const iso = (column: string) => `strftime(${column}, '%Y-%m-%dT%H:%M:%SZ')`;

// ---------------------------------------------------------------- query parameters

const time = z
  .string()
  .trim()
  .refine((s) => /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(s) && !Number.isNaN(Date.parse(s)), {
    message: "must be an ISO-8601 date or time in UTC, e.g. 2026-11-30 or 2026-11-30T12:00:00Z",
  })
  .transform((s) => new Date(/^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00Z` : /(Z|[+-]\d{2}:?\d{2})$/.test(s) ? s : `${s.replace(" ", "T")}Z`));

const limit = (fallback: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `must be a whole number from 1 to ${MAX_LIMIT}`)
    .transform(Number)
    .pipe(z.number().int().min(1, `must be a whole number from 1 to ${MAX_LIMIT}`).max(MAX_LIMIT, `must be at most ${MAX_LIMIT}`))
    .default(fallback);

const name = z.string().trim().min(1, "must not be empty").max(300, "is too long");

const filterParams = {
  from: time.optional(),
  to: time.optional(),
  repository: name.optional(),
  workflow: name.optional(),
};

const metricsQuery = z.strictObject({ ...filterParams, group_by: z.enum(["hour", "day"]).optional(), limit: limit(20) });
const runsQuery = z.strictObject({
  ...filterParams,
  status: z.enum(["success", "failure", "cancelled", "skipped", "in_progress", "queued", "running", "completed"]).optional(),
  limit: limit(50),
});
const statusQuery = z.strictObject({ ...filterParams });
const payloadQuery = z.strictObject({ attempt: z.coerce.number().int().min(1).max(1_000).optional() });
const runIdParam = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const filtersQuery = z.strictObject({ repository: name.optional() });

export class ApiParamError extends Error {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(`${param}: ${message}`);
    this.name = "ApiParamError";
  }
}

function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.output<S> {
  const parsed = schema.safeParse(query ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (!issue) throw new ApiParamError("query", "invalid");
  if (issue.code === "unrecognized_keys") throw new ApiParamError(issue.keys[0] ?? "query", `unknown query parameter (known: ${Object.keys((schema as unknown as z.ZodObject).shape).join(", ")})`);
  const param = String(issue.path[0] ?? "query");
  const message = issue.code === "invalid_type" && issue.expected === "string" ? "must be given once, as text" : issue.message;
  throw new ApiParamError(param, message);
}

export interface Filters {
  from: Date;
  to: Date;
  repository?: string | undefined;
  workflow?: string | undefined;
}

function resolveRange(q: { from?: Date | undefined; to?: Date | undefined }, now: Date): { from: Date; to: Date } {
  // Whole seconds, so the requests of one refresh share a cache entry.
  const to = q.to ?? new Date(Math.floor(now.getTime() / 1000) * 1000);
  const from = q.from ?? new Date(to.getTime() - DEFAULT_RANGE_HOURS * 3_600_000);
  if (from.getTime() >= to.getTime()) throw new ApiParamError("from", `must be before to (${to.toISOString()})`);
  return { from, to };
}

/** The WHERE of the filters on a model with repository, workflow_name and created_at. */
function where(f: Filters, opts: { time?: boolean; alias?: string } = {}): { sql: string; values: Record<string, DuckDBValue> } {
  const a = opts.alias ? `${opts.alias}.` : "";
  const parts: string[] = [];
  const values: Record<string, DuckDBValue> = {};
  if (opts.time !== false) {
    parts.push(`${a}created_at >= $from::TIMESTAMPTZ AND ${a}created_at < $to::TIMESTAMPTZ`);
    values.from = f.from.toISOString();
    values.to = f.to.toISOString();
  }
  if (f.repository !== undefined) {
    parts.push(`${a}repository = $repository`);
    values.repository = f.repository;
  }
  if (f.workflow !== undefined) {
    parts.push(`${a}workflow_name = $workflow`);
    values.workflow = f.workflow;
  }
  return { sql: parts.length ? parts.join(" AND ") : "TRUE", values };
}

// ---------------------------------------------------------------- reading

type Row = Record<string, unknown>;

async function rows(connection: DuckDBConnection, sql: string, values: Record<string, DuckDBValue> = {}): Promise<Row[]> {
  const reader = Object.keys(values).length ? await connection.runAndReadAll(sql, values) : await connection.runAndReadAll(sql);
  return reader.getRowObjectsJS().map((r) => {
    const out: Row = {};
    for (const [k, v] of Object.entries(r)) out[k] = typeof v === "bigint" ? Number(v) : v;
    return out;
  });
}

async function tablesPresent(connection: DuckDBConnection): Promise<{ runs: boolean; jobs: boolean; raw: boolean }> {
  const found = await rows(
    connection,
    `SELECT table_schema AS s, table_name AS t FROM information_schema.tables WHERE (table_schema = $models AND table_name IN ('fct_workflow_runs', 'fct_workflow_jobs')) OR (table_schema = $raw AND table_name = 'workflow_runs')`,
    { models: datasets.models, raw: datasets.raw },
  );
  const has = (s: string, t: string) => found.some((r) => r.s === s && r.t === t);
  return { runs: has(datasets.models, "fct_workflow_runs"), jobs: has(datasets.models, "fct_workflow_jobs"), raw: has(datasets.raw, "workflow_runs") };
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** The run columns every run listing answers, from fct_workflow_runs aliased `r`. */
const RUN_COLUMNS = `
  r.run_id, r.run_attempt, r.repository, r.workflow_name, r.head_branch, r.event, r.actor_login,
  r.status, r.conclusion, r.duration_seconds, r.html_url,
  ${iso("r.created_at")} AS created_at, ${iso("r.run_started_at")} AS run_started_at, ${iso("r.updated_at")} AS updated_at`;

export interface RecentRun {
  id: number;
  run_attempt: number;
  workflow: string | null;
  /** The conclusion once completed (success, failure, ...), else the status (queued, in_progress, ...). */
  status: string;
  run_status: string;
  conclusion: string | null;
  duration_seconds: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  repo: string;
  branch: string | null;
  /** The login that triggered this attempt (the run's actor). */
  triggered_by: string | null;
  event: string | null;
  html_url: string | null;
}

function recentRun(r: Row): RecentRun {
  const runStatus = String(r.status);
  const conclusion = str(r.conclusion);
  return {
    id: Number(r.run_id),
    run_attempt: Number(r.run_attempt),
    workflow: str(r.workflow_name),
    status: runStatus === "completed" && conclusion ? conclusion : runStatus,
    run_status: runStatus,
    conclusion,
    duration_seconds: num(r.duration_seconds),
    created_at: String(r.created_at),
    started_at: str(r.run_started_at),
    finished_at: runStatus === "completed" ? str(r.updated_at) : null,
    repo: String(r.repository),
    branch: str(r.head_branch),
    triggered_by: str(r.actor_login),
    event: str(r.event),
    html_url: str(r.html_url),
  };
}

export interface MetricsAnswer {
  summary: { total_runs: number; success_rate: number | null; avg_duration_seconds: number | null; last_updated: string | null };
  time_series: { timestamp: string; success: number; failure: number; avg_duration: number | null }[];
  recent_runs: RecentRun[];
  range: { from: string; to: string; group_by: "hour" | "day" };
}

export async function readMetrics(connection: DuckDBConnection, f: Filters & { groupBy: "hour" | "day"; limit: number }): Promise<MetricsAnswer> {
  const range = { from: f.from.toISOString(), to: f.to.toISOString(), group_by: f.groupBy };
  const present = await tablesPresent(connection);
  if (!present.runs) return { summary: { total_runs: 0, success_rate: null, avg_duration_seconds: null, last_updated: null }, time_series: [], recent_runs: [], range };
  const w = where(f);
  const failures = sqlList(FAILURES);
  const [summary] = await rows(
    connection,
    `SELECT COUNT(*)::INTEGER AS total_runs,
            COUNT(*) FILTER (WHERE conclusion = 'success')::INTEGER AS successes,
            COUNT(*) FILTER (WHERE conclusion IN (${failures}))::INTEGER AS failures,
            AVG(duration_seconds) FILTER (WHERE status = 'completed')::DOUBLE AS avg_duration
     FROM ${RUNS} WHERE is_latest_attempt AND ${w.sql}`,
    w.values,
  );
  const [updated] = await rows(connection, `SELECT ${iso("MAX(_extracted_at)")} AS last_updated FROM ${RUNS}`);
  const series = await rows(
    connection,
    `SELECT ${iso(`date_trunc('${f.groupBy}', created_at)`)} AS bucket,
            COUNT(*) FILTER (WHERE conclusion = 'success')::INTEGER AS success,
            COUNT(*) FILTER (WHERE conclusion IN (${failures}))::INTEGER AS failure,
            AVG(duration_seconds) FILTER (WHERE status = 'completed')::DOUBLE AS avg_duration
     FROM ${RUNS} WHERE is_latest_attempt AND ${w.sql}
     GROUP BY 1 ORDER BY 1`,
    w.values,
  );
  const recent = await rows(
    connection,
    `SELECT ${RUN_COLUMNS} FROM ${RUNS} AS r WHERE r.is_latest_attempt AND ${where(f, { alias: "r" }).sql}
     ORDER BY r.created_at DESC, r.run_id DESC LIMIT ${f.limit}`,
    w.values,
  );
  const successes = Number(summary?.successes ?? 0);
  const fails = Number(summary?.failures ?? 0);
  return {
    summary: {
      total_runs: Number(summary?.total_runs ?? 0),
      success_rate: successes + fails > 0 ? successes / (successes + fails) : null,
      avg_duration_seconds: num(summary?.avg_duration),
      last_updated: str(updated?.last_updated),
    },
    time_series: series.map((s) => ({ timestamp: String(s.bucket), success: Number(s.success), failure: Number(s.failure), avg_duration: num(s.avg_duration) })),
    recent_runs: recent.map(recentRun),
    range,
  };
}

const STATUS_FILTERS: Record<string, string> = {
  success: "r.conclusion = 'success'",
  failure: `r.conclusion IN (${sqlList(FAILURES)})`,
  cancelled: "r.conclusion = 'cancelled'",
  skipped: "r.conclusion = 'skipped'",
  completed: "r.status = 'completed'",
  in_progress: "r.status = 'in_progress'",
  queued: `r.status IN (${sqlList(NOT_FINISHED.filter((s) => s !== "in_progress"))})`,
  running: `r.status IN (${sqlList(NOT_FINISHED)})`,
};

export async function readRuns(connection: DuckDBConnection, f: Filters & { status?: string | undefined; limit: number }): Promise<{ runs: RecentRun[] }> {
  const present = await tablesPresent(connection);
  if (!present.runs) return { runs: [] };
  const w = where(f, { alias: "r" });
  const status = f.status ? ` AND ${STATUS_FILTERS[f.status] ?? "TRUE"}` : "";
  const found = await rows(
    connection,
    `SELECT ${RUN_COLUMNS} FROM ${RUNS} AS r
     WHERE r.is_latest_attempt AND ${w.sql}${status}
     ORDER BY r.created_at DESC, r.run_id DESC LIMIT ${f.limit}`,
    w.values,
  );
  return { runs: found.map(recentRun) };
}

/**
 * The raw payload of one run attempt (the latest when `attempt` is not given): the version the staging
 * models keep (stg_workflow_runs: newest updated_at, _extracted_at, _batch_id). Read only when the wall's
 * side panel opens, so a refresh never downloads fifty payloads. Undefined when the run is unknown.
 */
export async function readRunPayload(connection: DuckDBConnection, runId: number, attempt?: number): Promise<{ run_id: number; run_attempt: number; payload: unknown } | undefined> {
  const present = await tablesPresent(connection);
  if (!present.raw) return undefined;
  const [found] = await rows(
    connection,
    `SELECT p.run_attempt, p.payload::VARCHAR AS payload FROM ${rawTableRef("workflow_runs")} AS p
     WHERE p.run_id = $run_id${attempt === undefined ? "" : " AND p.run_attempt = $attempt"}
     ORDER BY p.run_attempt DESC, p.updated_at DESC, p._extracted_at DESC, p._batch_id DESC LIMIT 1`,
    attempt === undefined ? { run_id: runId } : { run_id: runId, attempt },
  );
  if (!found) return undefined;
  let payload: unknown = null;
  if (typeof found.payload === "string") {
    try {
      payload = JSON.parse(found.payload);
    } catch {
      payload = found.payload;
    }
  }
  return { run_id: runId, run_attempt: Number(found.run_attempt), payload };
}

export async function readFilters(connection: DuckDBConnection, repository?: string): Promise<{ repositories: string[]; workflows: string[]; pairs: { repository: string; workflow: string }[] }> {
  const present = await tablesPresent(connection);
  if (!present.runs) return { repositories: [], workflows: [], pairs: [] };
  const pairs = (await rows(connection, `SELECT DISTINCT repository, workflow_name FROM ${RUNS} WHERE workflow_name IS NOT NULL ORDER BY 1, 2`)).map((r) => ({
    repository: String(r.repository),
    workflow: String(r.workflow_name),
  }));
  const repositories = (await rows(connection, `SELECT DISTINCT repository FROM ${RUNS} ORDER BY 1`)).map((r) => String(r.repository));
  const workflows = [...new Set(pairs.filter((p) => repository === undefined || p.repository === repository).map((p) => p.workflow))].sort();
  return { repositories, workflows, pairs };
}

export interface StatusAnswer {
  now: string;
  tiles: { repository: string; workflow: string; status: string; run_status: string; conclusion: string | null; run_id: number; html_url: string | null; updated_at: string; branch: string | null }[];
  open: { kind: "run" | "job"; run_id: number; job_id: number | null; repository: string; workflow: string | null; job_name: string | null; branch: string | null; status: string; created_at: string; started_at: string | null; age_seconds: number; html_url: string | null }[];
  queue: { jobs: number; avg_seconds: number | null; p50_seconds: number | null; p95_seconds: number | null; max_seconds: number | null; queued_now: number; oldest_queued_seconds: number | null };
}

export async function readStatus(connection: DuckDBConnection, f: Filters, now: Date): Promise<StatusAnswer> {
  const present = await tablesPresent(connection);
  const empty: StatusAnswer = { now: now.toISOString(), tiles: [], open: [], queue: { jobs: 0, avg_seconds: null, p50_seconds: null, p95_seconds: null, max_seconds: null, queued_now: 0, oldest_queued_seconds: null } };
  if (!present.runs) return empty;
  const nameOnly = where(f, { time: false, alias: "r" });
  // Tiles: the latest run of each repository and workflow, whatever the time range (the state now).
  const tiles = await rows(
    connection,
    `SELECT r.repository, COALESCE(r.workflow_name, '(unnamed)') AS workflow, r.status, r.conclusion, r.run_id, r.html_url, r.head_branch, ${iso("r.updated_at")} AS updated_at
     FROM ${RUNS} AS r WHERE r.is_latest_attempt AND ${nameOnly.sql}
     QUALIFY ROW_NUMBER() OVER (PARTITION BY r.repository, r.workflow_name ORDER BY r.created_at DESC, r.run_id DESC) = 1
     ORDER BY r.repository, workflow`,
    nameOnly.values,
  );
  const values = { ...nameOnly.values, now: now.toISOString() };
  const openRuns = await rows(
    connection,
    `SELECT 'run' AS kind, r.run_id, NULL::BIGINT AS job_id, r.repository, r.workflow_name, NULL::VARCHAR AS job_name, r.head_branch, r.status,
            ${iso("r.created_at")} AS created_at, ${iso("r.run_started_at")} AS started_at,
            date_diff('second', r.created_at, $now::TIMESTAMPTZ)::INTEGER AS age_seconds, r.html_url
     FROM ${RUNS} AS r WHERE r.is_latest_attempt AND r.status IN (${sqlList(NOT_FINISHED)}) AND ${nameOnly.sql}`,
    values,
  );
  const openJobs = present.jobs
    ? await rows(
        connection,
        `SELECT 'job' AS kind, r.run_id, r.job_id, r.repository, r.workflow_name, r.job_name, r.head_branch, r.status,
                ${iso("r.created_at")} AS created_at, ${iso("r.started_at")} AS started_at,
                date_diff('second', r.created_at, $now::TIMESTAMPTZ)::INTEGER AS age_seconds, NULL::VARCHAR AS html_url
         FROM ${JOBS} AS r WHERE r.status IN (${sqlList(NOT_FINISHED)}) AND ${nameOnly.sql}`,
        values,
      )
    : [];
  const open = [...openRuns, ...openJobs]
    .map((r) => ({
      kind: r.kind === "job" ? ("job" as const) : ("run" as const),
      run_id: Number(r.run_id),
      job_id: num(r.job_id),
      repository: String(r.repository),
      workflow: str(r.workflow_name),
      job_name: str(r.job_name),
      branch: str(r.head_branch),
      status: String(r.status),
      created_at: String(r.created_at),
      started_at: str(r.started_at),
      age_seconds: Number(r.age_seconds),
      html_url: str(r.html_url),
    }))
    .sort((a, b) => b.age_seconds - a.age_seconds);
  let queue = empty.queue;
  if (present.jobs) {
    const w = where(f, { alias: "r" });
    const [q] = await rows(
      connection,
      `SELECT COUNT(queue_seconds)::INTEGER AS jobs, AVG(queue_seconds)::DOUBLE AS avg_s,
              quantile_cont(queue_seconds, 0.5)::DOUBLE AS p50, quantile_cont(queue_seconds, 0.95)::DOUBLE AS p95, MAX(queue_seconds)::DOUBLE AS max_s
       FROM ${JOBS} AS r WHERE ${w.sql}`,
      w.values,
    );
    const queuedNow = open.filter((o) => o.kind === "job" && o.started_at === null && o.status !== "in_progress");
    queue = {
      jobs: Number(q?.jobs ?? 0),
      avg_seconds: num(q?.avg_s),
      p50_seconds: num(q?.p50),
      p95_seconds: num(q?.p95),
      max_seconds: num(q?.max_s),
      queued_now: queuedNow.length,
      oldest_queued_seconds: queuedNow.length ? Math.max(...queuedNow.map((o) => o.age_seconds)) : null,
    };
  }
  return {
    now: now.toISOString(),
    tiles: tiles.map((t) => {
      const runStatus = String(t.status);
      const conclusion = str(t.conclusion);
      return {
        repository: String(t.repository),
        workflow: String(t.workflow),
        status: runStatus === "completed" && conclusion ? conclusion : runStatus,
        run_status: runStatus,
        conclusion,
        run_id: Number(t.run_id),
        html_url: str(t.html_url),
        updated_at: String(t.updated_at),
        branch: str(t.head_branch),
      };
    }),
    open,
    queue,
  };
}

// ---------------------------------------------------------------- routes

export interface ApiOptions {
  config: ServeConfig;
  flusher: Flusher;
  /** Default: package.json's version. */
  version?: string;
  /** The clock (tests). */
  now?: () => Date;
}

export function registerApi(app: FastifyInstance, options: ApiOptions): void {
  const { flusher, config } = options;
  const now = options.now ?? (() => new Date());
  const cache = new Map<string, { at: number; version: string; value: Promise<unknown> }>();

  const dataVersion = () => `${flusher.lastLoadAt?.getTime() ?? 0}:${flusher.lastTransformAt?.getTime() ?? 0}`;

  /** One read per (route, query) until the data changes or a few seconds pass. */
  function cached<T>(key: string, read: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    const version = dataVersion();
    const hit = cache.get(key);
    if (hit && hit.version === version && Date.now() - hit.at < CACHE_MS) return hit.value as Promise<T>;
    const value = flusher.read(read);
    cache.set(key, { at: Date.now(), version, value });
    value.catch(() => cache.delete(key));
    if (cache.size > 500) for (const k of [...cache.keys()].slice(0, 250)) cache.delete(k);
    return value;
  }

  async function answer(request: FastifyRequest, reply: FastifyReply, work: () => Promise<unknown>): Promise<FastifyReply> {
    try {
      return reply.code(200).header("cache-control", "no-store").send(await work());
    } catch (error) {
      if (error instanceof ApiParamError) return reply.code(400).send({ ok: false, error: error.message, param: error.param });
      request.log.error(error);
      return reply.code(500).send({ ok: false, error: `cannot read the warehouse: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}` });
    }
  }

  const keyOf = (request: FastifyRequest) => request.url;

  app.get("/api/metrics", (request, reply) =>
    answer(request, reply, async () => {
      const q = parseQuery(metricsQuery, request.query);
      const { from, to } = resolveRange(q, now());
      const groupBy = q.group_by ?? (to.getTime() - from.getTime() <= AUTO_HOURLY_MAX_HOURS * 3_600_000 ? "hour" : "day");
      const f = { from, to, repository: q.repository, workflow: q.workflow, groupBy, limit: q.limit };
      return cached(`metrics ${JSON.stringify(f)}`, (c) => readMetrics(c, f));
    }),
  );

  app.get("/api/runs", (request, reply) =>
    answer(request, reply, async () => {
      const q = parseQuery(runsQuery, request.query);
      const { from, to } = resolveRange(q, now());
      const f = { from, to, repository: q.repository, workflow: q.workflow, status: q.status, limit: q.limit };
      return cached(`runs ${JSON.stringify(f)}`, (c) => readRuns(c, f));
    }),
  );

  // The wall's side panel: one run's raw payload, read when the panel opens.
  app.get<{ Params: { run_id: string } }>("/api/runs/:run_id/payload", async (request, reply) => {
    const id = runIdParam.safeParse(request.params.run_id);
    if (!id.success) return reply.code(400).send({ ok: false, error: "run_id: must be a run id (a positive whole number)", param: "run_id" });
    const q = payloadQuery.safeParse(request.query ?? {});
    if (!q.success) return reply.code(400).send({ ok: false, error: "attempt: must be a run attempt (1 or more); the only query parameter", param: "attempt" });
    let found: Awaited<ReturnType<typeof readRunPayload>>;
    try {
      found = await cached(`payload ${id.data} ${q.data.attempt ?? "latest"}`, (c) => readRunPayload(c, id.data, q.data.attempt));
    } catch (error) {
      request.log.error(error);
      return reply.code(500).send({ ok: false, error: `cannot read the warehouse: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}` });
    }
    if (!found) return reply.code(404).send({ ok: false, error: `run ${id.data}${q.data.attempt ? ` attempt ${q.data.attempt}` : ""} is not in the warehouse` });
    return reply.code(200).header("cache-control", "no-store").send(found);
  });

  app.get("/api/status", (request, reply) =>
    answer(request, reply, async () => {
      const q = parseQuery(statusQuery, request.query);
      const at = now();
      const { from, to } = resolveRange(q, at);
      const f = { from, to, repository: q.repository, workflow: q.workflow };
      return cached(`status ${keyOf(request)} ${Math.floor(at.getTime() / 1000)}`, (c) => readStatus(c, f, at));
    }),
  );

  app.get("/api/filters", (request, reply) =>
    answer(request, reply, async () => {
      const q = parseQuery(filtersQuery, request.query);
      return cached(`filters ${q.repository ?? ""}`, (c) => readFilters(c, q.repository));
    }),
  );

  app.get("/api/config", (request, reply) =>
    answer(request, reply, async () => ({
      refresh_seconds: config.refreshSeconds,
      metrics_prefix: config.metricsPrefix,
      version: options.version ?? PACKAGE_VERSION,
      flush_seconds: config.flushSeconds,
      transform_seconds: config.transformSeconds,
      default_range_hours: DEFAULT_RANGE_HOURS,
    })),
  );
}
