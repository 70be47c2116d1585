/**
 * A BigQuery stand-in on 127.0.0.1 for the REST endpoints the project (and the Dataform CLI) uses:
 * datasets insert/get/list, tables insert/get/list/patch/update/delete, jobs insert/get/cancel (load and
 * query jobs), jobs.query and jobs.getQueryResults, plus the Security Token Service exchange that Workload
 * Identity Federation credentials (`external_account`, what google-github-actions/auth writes) perform.
 *
 * No emulator for BigQuery is on npm, so this is hand-written, but strict: every request body is checked
 * against the official resource schemas (bigquery-api-schema.ts, generated from the discovery document),
 * every request must carry the bearer token the STS endpoint issued (so the real Application Default
 * Credentials path of the client is exercised and no auth call can leave 127.0.0.1), load jobs read the
 * `gs://` objects from the Cloud Storage stand-in, gunzip them and type-check every row against the
 * destination table's schema, reporting errors with their location the way BigQuery does, and query jobs
 * run for real on an in-memory DuckDB (bigquery-sql.ts). Every request is recorded so tests can assert
 * the exact configuration sent.
 *
 * Beyond the body schemas, the stand-in enforces what the real service does and a forgiving fake would
 * not; each rule below cites the Google page it comes from and can be switched off (`rules`) so a test can
 * show the defect it catches would otherwise pass:
 * - legacyTypeNames: tables.get answers INTEGER, FLOAT, BOOLEAN, RECORD for INT64, FLOAT64, BOOL, STRUCT;
 * - loadSchemaMatch: a load's schema must match the table's unless schemaUpdateOptions allow the change;
 * - schemaUpdates: tables.patch/update only add NULLABLE/REPEATED columns and relax REQUIRED;
 * - locations: datasets have a location; jobs run in one, may only touch datasets there, are found by
 *   jobs.get only there, and a load's bucket must be compatible with the dataset's location;
 * - jobIds: letters, digits, `_`, `-`, at most 1,024 characters;
 * - asyncJobs: jobs go PENDING -> RUNNING -> DONE over `jobLatencyMs`; errors appear at DONE only;
 * - loadQuota: 1,500 load jobs per table per day (`loadJobsPerTablePerDay`);
 * - queryExecution: query jobs, jobs.query and getQueryResults run the SQL (DDL, DML, SELECT with named
 *   parameters) and dry runs estimate bytes; off, only CREATE SCHEMA runs and dry runs answer 0 bytes.
 * - sessions: "A transaction must be contained in a single SQL query, except when in Session mode"
 *   (https://cloud.google.com/bigquery/docs/transactions#transaction_scope): a job with
 *   `createSession: true` opens a session (statistics.sessionInfo.sessionId), later jobs join it with
 *   connectionProperties session_id (https://cloud.google.com/bigquery/docs/sessions-write-queries), in its
 *   location only; BEGIN TRANSACTION outside a session fails; statements in a transaction see its own
 *   writes, nobody else sees them before COMMIT; "If an error occurs during a transaction ... BigQuery
 *   automatically rolls back the transaction" (same page); DDL on permanent tables is refused inside one
 *   (#statements_supported_in_transactions); CALL BQ.ABORT_SESSION() ends a session
 *   (https://cloud.google.com/bigquery/docs/sessions-terminating). Off: BEGIN/COMMIT/ROLLBACK are no-ops
 *   and every statement commits at once (a forgiving fake).
 * - transactionConflicts: "If a transaction mutates (updates or deletes) rows in a table, then other
 *   transactions or DML statements that mutate rows in the same table cannot run concurrently.
 *   Conflicting transactions are cancelled." (https://cloud.google.com/bigquery/docs/transactions#transaction_concurrency):
 *   an UPDATE/DELETE/MERGE in a transaction on a table another open transaction has mutated, or that a
 *   mutation committed after this transaction began (snapshot isolation), fails with "Transaction is
 *   aborted due to concurrent update against table ..." and rolls the transaction back.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import { Ajv, type ValidateFunction } from "ajv";
import { bigQueryApiSchemas } from "./bigquery-api-schema.js";
import {
  bindParameters,
  checkSyntax,
  classifyStatement,
  estimateBytes,
  formatRows,
  legacyFields,
  legacyTypeName,
  QueryError,
  sameType,
  startSqlEngine,
  tableReferences,
  timestampFormat,
  type QueryParameter,
  type RelationInfo,
  type SqlEngine,
  type Statement,
  type TableField,
  type TableRef,
  type WireRow,
} from "./bigquery-sql.js";

export type { TableField } from "./bigquery-sql.js";
export { legacyFields, legacyTypeName, sameType } from "./bigquery-sql.js";

/** The behaviours of the real service the stand-in enforces; each can be switched off for a test. */
export const BIGQUERY_RULES = ["legacyTypeNames", "loadSchemaMatch", "schemaUpdates", "locations", "jobIds", "asyncJobs", "loadQuota", "queryExecution", "sessions", "transactionConflicts"] as const;
export type BigQueryRule = (typeof BIGQUERY_RULES)[number];

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  status: number;
}

interface StoredTable {
  resource: Record<string, unknown> & { schema: { fields: TableField[] } };
  /** Rows load jobs accepted, as sent (DML and DDL results live in the SQL engine only). */
  rows: Record<string, unknown>[];
}

type JobStatus = { state: string; errorResult?: JobError; errors?: JobError[] };
interface JobError {
  reason: string;
  message: string;
  location?: string;
}

interface QueryResult {
  statementType: string;
  schema?: { fields: TableField[] };
  /** TIMESTAMP cells as int64 microseconds; rewritten per request. */
  rows: WireRow[];
  numDmlAffectedRows?: string;
}

interface StoredJob {
  resource: Record<string, unknown> & { status: JobStatus; statistics: Record<string, unknown> };
  /** When the job leaves PENDING, and when it is DONE (its work runs then). */
  startAt: number;
  doneAt: number;
  finished: boolean;
  /** Resolves once the job is DONE. */
  settled: Promise<void>;
  result?: QueryResult;
  /** This job's number among the load jobs of its destination table that UTC day (loadQuota). */
  loadOrdinal?: number;
  /** The session the query job runs in (rule `sessions`). */
  session?: string;
}

/** A BigQuery session (rule `sessions`): its location, and its open transaction if any. */
interface StoredSession {
  projectId: string;
  location: string;
  transaction?: {
    /** Commit sequence number when BEGIN ran (the transaction's snapshot). */
    snapshot: number;
    /** Tables (`dataset.table`) this transaction mutated with UPDATE, DELETE or MERGE. */
    mutated: Set<string>;
  };
}

export interface BigQueryStandInOptions {
  /** Base URL of the Cloud Storage stand-in that `gs://` URIs (and bucket locations) are read from. */
  gcsUrl: string;
  /** How long a job takes from insert to DONE (PENDING for the first third), so clients must poll. */
  jobLatencyMs?: number;
  /** Called before each request is handled; return a status to fail it (e.g. 503 after the job was created). */
  fault?: (req: { method: string; path: string; body: unknown }) => { status: number; afterHandling: boolean } | undefined;
  /** Rules to switch off (all are on by default): see BIGQUERY_RULES. */
  rules?: Partial<Record<BigQueryRule, boolean>>;
  /** Load jobs per destination table per UTC day before `quotaExceeded` (BigQuery: 1,500). */
  loadJobsPerTablePerDay?: number;
}

export interface BigQueryStandIn {
  url: string;
  /** The value for BIGQUERY_EMULATOR_HOST: the API root including /bigquery/v2. */
  apiRoot: string;
  tokenUrl: string;
  requests: RecordedRequest[];
  issuedTokens: number;
  tables: Map<string, StoredTable>;
  datasets: Map<string, Record<string, unknown>>;
  jobs: Map<string, StoredJob>;
  /** SQL of every query job (jobs.insert and jobs.query), in order, with whether it was a dry run. */
  queries: { sql: string; dryRun: boolean }[];
  /** Open sessions by id (rule `sessions`). */
  sessions: Map<string, StoredSession>;
  /** The rules in force (a copy). */
  readonly rules: Record<BigQueryRule, boolean>;
  /** Switches rules on or off from now on. */
  setRules(rules: Partial<Record<BigQueryRule, boolean>>): void;
  /** The SQL engine query jobs run on. */
  sql: SqlEngine;
  /** Load jobs that were inserted (created, not answered with 409). */
  loadJobs(): Record<string, unknown>[];
  rows(dataset: string, table: string): Record<string, unknown>[];
  setFault(fault: BigQueryStandInOptions["fault"]): void;
  /**
   * IAM permissions the caller lacks (empty: it has them all). `tables.testIamPermissions` leaves them
   * out of its answer, and without `bigquery.jobs.create` jobs.insert answers 403 accessDenied. Mutable.
   */
  deniedPermissions: Set<string>;
  close(): Promise<void>;
}

const TOKEN = "stand-in-access-token";

const STATUS_OF: Record<number, string> = { 400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 409: "ALREADY_EXISTS", 500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE" };
/** The HTTP code BigQuery answers a job error's reason with (https://cloud.google.com/bigquery/docs/error-messages). */
const CODE_OF: Record<string, number> = { invalid: 400, invalidQuery: 400, notFound: 404, duplicate: 409, quotaExceeded: 403, accessDenied: 403, notImplemented: 501, backendError: 503, internalError: 500 };

function apiError(res: ServerResponse, code: number, status: string, message: string, reason: string): number {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { code, message, status, errors: [{ message, domain: "global", reason }] } }));
  return code;
}

function jobErrorResponse(res: ServerResponse, error: JobError): number {
  const code = CODE_OF[error.reason] ?? 400;
  return apiError(res, code, STATUS_OF[code] ?? "INVALID_ARGUMENT", error.message, error.reason);
}

function json(res: ServerResponse, body: unknown, code = 200): number {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
  return code;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

const sleep = (ms: number, timers?: Set<NodeJS.Timeout>) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(() => {
      timers?.delete(t);
      resolve();
    }, Math.max(0, ms));
    t.unref();
    timers?.add(t);
  });

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?$/;

/** Checks one value against a field the way a JSON load does; returns a message or undefined. */
function fieldError(field: TableField, value: unknown): string | undefined {
  const mode = field.mode ?? "NULLABLE";
  if (value === undefined || value === null) return mode === "REQUIRED" ? `Missing required field: ${field.name}.` : undefined;
  if (mode === "REPEATED") {
    if (!Array.isArray(value)) return `Non-array value for repeated field: ${field.name}.`;
    for (const item of value) {
      const e = fieldError({ ...field, mode: "REQUIRED" }, item);
      if (e) return e;
    }
    return undefined;
  }
  if (Array.isArray(value) && field.type !== "JSON") return `Array specified for non-repeated field: ${field.name}.`;
  const bad = `Could not convert value to ${field.type.toLowerCase()}. Field: ${field.name}; Value: ${JSON.stringify(value)}`;
  switch (field.type.toUpperCase()) {
    case "STRING":
      return typeof value === "string" ? undefined : bad;
    case "INT64":
    case "INTEGER":
      return (typeof value === "number" && Number.isInteger(value)) || (typeof value === "string" && /^-?\d+$/.test(value)) ? undefined : bad;
    case "FLOAT64":
    case "FLOAT":
    case "NUMERIC":
      return typeof value === "number" || (typeof value === "string" && value.trim() !== "" && !Number.isNaN(Number(value))) ? undefined : bad;
    case "BOOL":
    case "BOOLEAN":
      return typeof value === "boolean" ? undefined : bad;
    case "TIMESTAMP":
      return typeof value === "string" && TIMESTAMP.test(value) && !Number.isNaN(Date.parse(value)) ? undefined : bad;
    case "DATE":
      return typeof value === "string" && /^\d{4}-\d{2}-\d{2}$/.test(value) ? undefined : bad;
    case "JSON":
      return undefined;
    case "RECORD":
    case "STRUCT": {
      if (typeof value !== "object") return bad;
      const record = value as Record<string, unknown>;
      const unknown = Object.keys(record).find((k) => !(field.fields ?? []).some((f) => f.name === k));
      if (unknown) return `No such field: ${field.name}.${unknown}.`;
      for (const f of field.fields ?? []) {
        const e = fieldError(f, record[f.name]);
        if (e) return e;
      }
      return undefined;
    }
    default:
      return `Unsupported field type ${field.type} for ${field.name}`;
  }
}

const sameLocation = (a: unknown, b: unknown) => String(a ?? "US").toLowerCase() === String(b ?? "US").toLowerCase();

/**
 * Whether a load job may read a bucket in `bucket` into a dataset in `dataset`. "Loading data from Cloud
 * Storage", location considerations (https://cloud.google.com/bigquery/docs/loading-data-cloud-storage,
 * also https://cloud.google.com/bigquery/docs/batch-loading-data): with the dataset in a multi-region, the
 * bucket must be in that multi-region or a location it contains; with the dataset in a region, the bucket
 * must be in that region; exception: a dataset in the US multi-region may load from a bucket in any
 * location. "Contained in EU" is approximated as europe-* regions and the EUR* dual-regions.
 */
export function bucketCompatible(dataset: string, bucket: string): boolean {
  const d = dataset.toUpperCase();
  const b = bucket.toUpperCase();
  if (d === "US" || d === b) return true;
  if (d === "EU") return b.startsWith("EUROPE-") || /^EUR\d+$/.test(b);
  return false;
}

/**
 * A load's schema against its table's. "Modifying table schemas"
 * (https://cloud.google.com/bigquery/docs/managing-table-schemas) and the `schemaUpdateOptions` field of
 * JobConfigurationLoad (https://cloud.google.com/bigquery/docs/reference/rest/v2/Job#JobConfigurationLoad):
 * appending with a schema is allowed when it matches the table's (types compared modulo the legacy
 * aliases, modes equal); ALLOW_FIELD_ADDITION allows adding NULLABLE (or REPEATED) fields,
 * ALLOW_FIELD_RELAXATION allows REQUIRED -> NULLABLE; anything else fails with "Provided Schema does not
 * match Table <project>:<dataset>.<table>. ...". Returns the table's schema after the load, or an error.
 */
export function loadSchemaCheck(tableName: string, table: TableField[], provided: TableField[], options: string[]): { fields: TableField[]; added: TableField[]; relaxed: string[] } | { error: string } {
  const prefix = `Provided Schema does not match Table ${tableName}.`;
  const addition = options.includes("ALLOW_FIELD_ADDITION");
  const relaxation = options.includes("ALLOW_FIELD_RELAXATION");
  const fields: TableField[] = [];
  const relaxed: string[] = [];
  for (const old of table) {
    const now = provided.find((f) => f.name.toLowerCase() === old.name.toLowerCase());
    if (!now) return { error: `${prefix} Field ${old.name} is missing in new schema` };
    if (!sameType(now.type, old.type)) return { error: `${prefix} Field ${old.name} has changed type from ${legacyTypeName(old.type)} to ${legacyTypeName(now.type)}` };
    const from = old.mode ?? "NULLABLE";
    const to = now.mode ?? "NULLABLE";
    if (from !== to) {
      if (!(relaxation && from === "REQUIRED" && to === "NULLABLE")) return { error: `${prefix} Field ${old.name} has changed mode from ${from} to ${to}` };
      relaxed.push(old.name);
    }
    if (old.fields || now.fields) {
      const inner = loadSchemaCheck(tableName, old.fields ?? [], now.fields ?? [], options);
      if ("error" in inner) return inner;
      fields.push({ ...old, mode: to, fields: inner.fields });
    } else fields.push({ ...old, mode: to });
  }
  const added = provided.filter((f) => !table.some((o) => o.name.toLowerCase() === f.name.toLowerCase()));
  for (const f of added) {
    if (!addition) return { error: `${prefix} Cannot add fields (field: ${f.name})` };
    if (f.mode === "REQUIRED") return { error: `${prefix} Cannot add required fields to an existing schema. (field: ${f.name})` };
  }
  return { fields: [...fields, ...added], added, relaxed };
}

/**
 * A tables.patch/update schema against the table's. "Modifying table schemas"
 * (https://cloud.google.com/bigquery/docs/managing-table-schemas): BigQuery natively supports adding
 * columns (which must be NULLABLE or REPEATED: "Provided Schema does not match Table
 * project_id:dataset.table. Cannot add required columns to an existing schema.") and relaxing a column's
 * mode from REQUIRED to NULLABLE; changing a column's name, type or mode otherwise, or deleting it, is
 * unsupported.
 */
export function patchSchemaCheck(tableName: string, table: TableField[], next: TableField[]): { added: TableField[]; relaxed: string[] } | { error: string } {
  const prefix = `Provided Schema does not match Table ${tableName}.`;
  const relaxed: string[] = [];
  for (const old of table) {
    const now = next.find((f) => f.name.toLowerCase() === old.name.toLowerCase());
    if (!now) return { error: `${prefix} Field ${old.name} is missing in new schema` };
    if (!sameType(now.type, old.type)) return { error: `${prefix} Field ${old.name} has changed type from ${legacyTypeName(old.type)} to ${legacyTypeName(now.type)}` };
    const from = old.mode ?? "NULLABLE";
    const to = now.mode ?? "NULLABLE";
    if (from !== to) {
      if (!(from === "REQUIRED" && to === "NULLABLE")) return { error: `${prefix} Field ${old.name} has changed mode from ${from} to ${to}` };
      relaxed.push(old.name);
    }
    if (old.fields) {
      const inner = patchSchemaCheck(tableName, old.fields, now.fields ?? []);
      if ("error" in inner) return inner;
    }
  }
  const added = next.filter((f) => !table.some((o) => o.name.toLowerCase() === f.name.toLowerCase()));
  const required = added.find((f) => f.mode === "REQUIRED");
  if (required) return { error: `${prefix} Cannot add required columns to an existing schema. (field: ${required.name})` };
  return { added, relaxed };
}

export async function startBigQueryStandIn(options: BigQueryStandInOptions): Promise<BigQueryStandIn> {
  const { definitions } = bigQueryApiSchemas();
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addSchema({ $id: "bigquery-v2", definitions });
  const validator = (name: string): ValidateFunction => {
    const v = ajv.getSchema(`bigquery-v2#/definitions/${name}`);
    if (!v) throw new Error(`no schema ${name}`);
    return v;
  };
  const validators = { IDataset: validator("IDataset"), ITable: validator("ITable"), IJob: validator("IJob"), IQueryRequest: validator("IQueryRequest") };

  const rules: Record<BigQueryRule, boolean> = Object.fromEntries(BIGQUERY_RULES.map((r) => [r, options.rules?.[r] ?? true])) as Record<BigQueryRule, boolean>;
  const requests: RecordedRequest[] = [];
  const datasets = new Map<string, Record<string, unknown>>();
  const tables = new Map<string, StoredTable>();
  const jobs = new Map<string, StoredJob>();
  const queries: { sql: string; dryRun: boolean }[] = [];
  const sessions = new Map<string, StoredSession>();
  /** Mutating commits so far, and per table the sequence number of the last one (rule `transactionConflicts`). */
  let commitSequence = 0;
  const lastMutation = new Map<string, number>();
  /** Load jobs per `dataset.table@YYYY-MM-DD` (UTC), failed ones included. */
  const loadCounts = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  /** Job work under way (past its latency), which close() waits for before closing the engine. */
  const running = new Set<Promise<void>>();
  const latency = options.jobLatencyMs ?? 50;
  const loadQuota = options.loadJobsPerTablePerDay ?? 1500;
  const engine = await startSqlEngine();
  let issuedTokens = 0;
  let fault = options.fault;
  let baseUrl = "";

  const checkBody = (res: ServerResponse, schema: keyof typeof validators, body: unknown): number | undefined => {
    const v = validators[schema];
    if (v(body)) return undefined;
    const detail = (v.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}${e.params && "additionalProperty" in e.params ? ` (${String(e.params.additionalProperty)})` : ""}`).join("; ");
    return apiError(res, 400, "INVALID_ARGUMENT", `Invalid JSON payload received (${schema}): ${detail}`, "invalid");
  };

  // -------------------------------------------------------------------------------------------------
  // Tables as the API shows them.

  const now = () => String(Date.now());
  const schemaOut = (fields: TableField[]) => (rules.legacyTypeNames ? legacyFields(fields) : fields);
  const schemaIn = schemaOut;

  async function tableOut(t: StoredTable): Promise<Record<string, unknown>> {
    const ref = t.resource.tableReference as { datasetId: string; tableId: string };
    let numRows = t.rows.length;
    if (t.resource.type !== "VIEW" && rules.queryExecution) numRows = await engine.count(ref.datasetId, ref.tableId).catch(() => t.rows.length);
    return { ...t.resource, schema: { fields: schemaOut(t.resource.schema.fields) }, ...(t.resource.type === "VIEW" ? {} : { numRows: String(numRows) }) };
  }

  function newTable(projectId: string, datasetId: string, tableId: string, body: Record<string, unknown>, fields: TableField[]): StoredTable {
    const dataset = datasets.get(datasetId);
    const stamp = now();
    return {
      resource: {
        kind: "bigquery#table",
        id: `${projectId}:${datasetId}.${tableId}`,
        type: "TABLE",
        ...body,
        schema: { fields: schemaIn(fields) },
        tableReference: { projectId, datasetId, tableId },
        location: dataset?.location ?? "US",
        creationTime: stamp,
        lastModifiedTime: stamp,
      },
      rows: [],
    };
  }

  // -------------------------------------------------------------------------------------------------
  // Jobs: PENDING -> RUNNING -> DONE. The Job resource's status.state is one of 'PENDING', 'RUNNING',
  // 'DONE', and errorResult, "if present, indicates that the job has completed and was unsuccessful"
  // (https://cloud.google.com/bigquery/docs/reference/rest/v2/Job#JobStatus): so the work of a job runs
  // when it reaches DONE, and its errors are only visible then. With asyncJobs off, the work runs
  // before jobs.insert answers and the job is DONE at once.

  function jobView(job: StoredJob): Record<string, unknown> {
    if (!job.finished) {
      const running = Date.now() >= job.startAt;
      if (running && job.resource.statistics.startTime === undefined) job.resource.statistics.startTime = String(job.startAt);
      job.resource.status = { state: running ? "RUNNING" : "PENDING" };
    }
    return job.resource;
  }

  async function finish(job: StoredJob, work: (job: StoredJob) => Promise<JobStatus>): Promise<void> {
    let status: JobStatus;
    try {
      status = await work(job);
    } catch (error) {
      const e = error instanceof QueryError ? { reason: error.reason, message: error.message } : { reason: "internalError", message: (error as Error).message };
      status = { state: "DONE", errorResult: e, errors: [e] };
    }
    const end = Date.now();
    job.resource.statistics.startTime ??= String(Math.min(job.startAt, end));
    job.resource.statistics.endTime = String(end);
    job.resource.status = status;
    job.finished = true;
  }

  function createJob(projectId: string, jobId: string, location: string, body: Record<string, unknown>, work: (job: StoredJob) => Promise<JobStatus>, extra: Partial<StoredJob> = {}): StoredJob {
    const created = Date.now();
    const asyncJobs = rules.asyncJobs;
    const job: StoredJob = {
      resource: {
        kind: "bigquery#job",
        id: `${projectId}:${location}.${jobId}`,
        selfLink: `${baseUrl}/bigquery/v2/projects/${projectId}/jobs/${jobId}?location=${location}`,
        ...body,
        jobReference: { projectId, jobId, location },
        status: { state: "PENDING" },
        statistics: { creationTime: String(created) },
      },
      startAt: asyncJobs ? created + Math.floor(latency / 3) : created,
      doneAt: asyncJobs ? created + latency : created,
      finished: false,
      settled: Promise.resolve(),
      ...extra,
    };
    jobs.set(jobId, job);
    const run = async () => {
      if (asyncJobs) await sleep(job.doneAt - Date.now(), timers);
      const w = finish(job, work);
      running.add(w);
      await w.finally(() => running.delete(w));
    };
    job.settled = run();
    return job;
  }

  /**
   * jobs.get, getQueryResults and cancel find a job only in its location: "You must specify the location
   * to run the job for the following scenarios: If the location to run a job is not in the us or the eu
   * multi-regional location; If the job's location is in a single region (for example, us-central1)"
   * (the `location` parameter of jobs.get, https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/get).
   * A location that is not the job's finds nothing: 404.
   */
  function findJob(projectId: string, jobId: string, location: string | null): StoredJob | { error: string } {
    const job = jobs.get(jobId);
    const shown = location ?? "US";
    const missing = { error: `Not found: Job ${projectId}:${shown}.${jobId}` };
    if (!job) return missing;
    if (rules.locations) {
      const at = String((job.resource.jobReference as { location: string }).location);
      if (location !== null && !sameLocation(location, at)) return missing;
      if (location === null && !["us", "eu"].includes(at.toLowerCase())) return missing;
    }
    return job;
  }

  // -------------------------------------------------------------------------------------------------
  // Load jobs.

  async function readObject(uri: string): Promise<Buffer> {
    const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
    if (!m) throw new Error(`not a gs:// URI: ${uri}`);
    const response = await fetch(`${options.gcsUrl}/download/storage/v1/b/${m[1]}/o/${encodeURIComponent(m[2] ?? "")}?alt=media`);
    if (!response.ok) throw Object.assign(new Error(`Not found: URI ${uri}`), { reason: "notFound" });
    return Buffer.from(await response.arrayBuffer());
  }

  /** A bucket's location from the Cloud Storage stand-in (`GET /storage/v1/b/{bucket}`); "US" when it gives none. */
  async function bucketLocation(bucket: string): Promise<string> {
    try {
      const response = await fetch(`${options.gcsUrl}/storage/v1/b/${encodeURIComponent(bucket)}`);
      if (!response.ok) return "US";
      const body = (await response.json()) as { location?: unknown };
      return typeof body.location === "string" && body.location !== "" ? body.location : "US";
    } catch {
      return "US";
    }
  }

  const failed = (reason: string, message: string, extra: Partial<JobError> = {}): JobStatus => {
    const e = { reason, message, ...extra };
    return { state: "DONE", errorResult: e, errors: [e] };
  };

  async function runLoad(job: StoredJob): Promise<JobStatus> {
    const load = (job.resource.configuration as { load: Record<string, unknown> }).load;
    const dest = load.destinationTable as { projectId?: string; datasetId: string; tableId: string };
    const projectId = dest.projectId ?? String((job.resource.jobReference as { projectId: string }).projectId);
    const location = String((job.resource.jobReference as { location: string }).location);
    const tableName = `${projectId}:${dest.datasetId}.${dest.tableId}`;
    const dataset = datasets.get(dest.datasetId);
    // A job runs in one location and sees only datasets there (https://cloud.google.com/bigquery/docs/locations).
    if (!dataset || (rules.locations && !sameLocation(dataset.location, location))) {
      return failed("notFound", rules.locations ? `Not found: Dataset ${projectId}:${dest.datasetId} was not found in location ${location}` : `Not found: Dataset ${projectId}:${dest.datasetId}`);
    }
    // "Load jobs per table per day: 1,500 ... including failed load jobs"
    // (https://cloud.google.com/bigquery/quotas#load_jobs); past it "load jobs fail with a quotaExceeded
    // error" (https://cloud.google.com/bigquery/docs/optimize-load-jobs): the job is created and fails.
    if (rules.loadQuota && (job.loadOrdinal ?? 0) > loadQuota) {
      return failed("quotaExceeded", "Quota exceeded: Your table exceeded quota for imports or query appends per table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas");
    }
    const uris = load.sourceUris as string[];
    if (rules.locations) {
      const buckets = [...new Set(uris.map((u) => /^gs:\/\/([^/]+)\//.exec(u)?.[1] ?? ""))];
      for (const bucket of buckets) {
        const at = await bucketLocation(bucket);
        if (!bucketCompatible(String(dataset.location ?? "US"), at)) return failed("invalid", `Cannot read and write in different locations: source: ${at}, destination: ${String(dataset.location ?? "US")}`);
      }
    }
    let table = tables.get(`${dest.datasetId}.${dest.tableId}`);
    const provided = (load.schema as { fields?: TableField[] } | undefined)?.fields;
    if (!table) {
      if (load.createDisposition === "CREATE_NEVER" || !provided) return failed("notFound", `Not found: Table ${tableName}`);
      table = newTable(projectId, dest.datasetId, dest.tableId, {}, provided);
      if (rules.queryExecution) await engine.createTable(dest.datasetId, dest.tableId, provided);
      tables.set(`${dest.datasetId}.${dest.tableId}`, table);
    }
    const disposition = String(load.writeDisposition ?? "WRITE_APPEND");
    let fields = table.resource.schema.fields;
    let added: TableField[] = [];
    let relaxed: string[] = [];
    if (provided && disposition === "WRITE_TRUNCATE") {
      // "For normal tables, WRITE_TRUNCATE will always overwrite the schema" (JobConfigurationLoad.schemaUpdateOptions).
      added = provided.filter((f) => !fields.some((o) => o.name === f.name));
      fields = provided;
    } else if (provided && rules.loadSchemaMatch) {
      const check = loadSchemaCheck(tableName, fields, provided, (load.schemaUpdateOptions as string[] | undefined) ?? []);
      if ("error" in check) return failed("invalid", check.error);
      ({ fields, added, relaxed } = check);
    }
    // A load with no schema uses the table's.
    const errors: JobError[] = [];
    const accepted: Record<string, unknown>[] = [];
    let inputBytes = 0;
    for (const uri of uris) {
      let buffer: Buffer;
      try {
        buffer = await readObject(uri);
      } catch (error) {
        errors.push({ reason: "notFound", location: uri, message: (error as Error).message });
        continue;
      }
      inputBytes += buffer.length;
      const text = uri.endsWith(".gz") ? gunzipSync(buffer).toString("utf8") : buffer.toString("utf8");
      let position = 0;
      for (const line of text.split("\n")) {
        const start = position;
        position += Buffer.byteLength(line) + 1;
        if (line.trim() === "") continue;
        let row: Record<string, unknown>;
        try {
          row = JSON.parse(line) as Record<string, unknown>;
        } catch {
          errors.push({ reason: "invalid", location: uri, message: `Error while reading data, error message: JSON parsing error in row starting at position ${start}: Parser terminated before end of string` });
          continue;
        }
        const known = new Set(fields.map((f) => f.name));
        const unknown = Object.keys(row).find((k) => !known.has(k));
        const problem = unknown && load.ignoreUnknownValues !== true ? `No such field: ${unknown}.` : fields.map((f) => fieldError(f, row[f.name])).find((e) => e !== undefined);
        if (problem) errors.push({ reason: "invalid", location: uri, message: `Error while reading data, error message: JSON parsing error in row starting at position ${start}: ${problem}` });
        else accepted.push(row);
      }
    }
    const maxBad = typeof load.maxBadRecords === "number" ? load.maxBadRecords : 0;
    if (errors.length > maxBad) {
      return {
        state: "DONE",
        errorResult: { reason: "invalid", message: `Error while reading data, error message: JSON table encountered too many errors, giving up. Rows: ${errors.length}; errors: ${errors.length}. Please look into the errors[] collection for more details.` },
        errors,
      };
    }
    if (disposition === "WRITE_EMPTY" && table.rows.length > 0) return failed("duplicate", `Already Exists: Table ${tableName}`);
    if (rules.queryExecution) {
      if (added.length) await engine.addColumns(dest.datasetId, dest.tableId, added);
      if (relaxed.length) await engine.relaxColumns(dest.datasetId, dest.tableId, relaxed);
      if (disposition === "WRITE_TRUNCATE") await engine.truncate(dest.datasetId, dest.tableId);
      await engine.insertRows(dest.datasetId, dest.tableId, fields, accepted);
    }
    table.resource.schema = { fields: schemaIn(fields) };
    if (disposition === "WRITE_TRUNCATE") table.rows.length = 0;
    table.rows.push(...accepted);
    table.resource.lastModifiedTime = now();
    job.resource.statistics = {
      ...job.resource.statistics,
      load: { inputFiles: String(uris.length), inputFileBytes: String(inputBytes), outputRows: String(accepted.length), outputBytes: String(inputBytes), badRecords: String(errors.length) },
    };
    return errors.length ? { state: "DONE", errors } : { state: "DONE" };
  }

  /** Semantics the real API checks when the job is inserted (answered 400), beyond the body schema. */
  function loadConfigError(load: Record<string, unknown>): string | undefined {
    const uris = load.sourceUris;
    if (!Array.isArray(uris) || uris.length === 0) return "Load configuration must specify at least one source URI";
    if (uris.length > 10_000) return "Too many source URIs: a load job accepts at most 10,000";
    if (uris.some((u) => typeof u !== "string" || !u.startsWith("gs://"))) return "Source URIs must be Cloud Storage gs:// URIs";
    const formats = ["CSV", "NEWLINE_DELIMITED_JSON", "AVRO", "PARQUET", "ORC", "DATASTORE_BACKUP"];
    if (load.sourceFormat !== undefined && !formats.includes(String(load.sourceFormat))) return `Invalid source format ${String(load.sourceFormat)}`;
    const dest = load.destinationTable as { datasetId?: string; tableId?: string } | undefined;
    if (!dest?.datasetId || !dest.tableId) return "Load configuration must specify a destination table";
    return undefined;
  }

  // -------------------------------------------------------------------------------------------------
  // Query jobs.

  /** What the byte estimator knows about a named relation. */
  const catalog = (ref: TableRef): RelationInfo | undefined => {
    const t = tables.get(`${ref.dataset}.${ref.table}`);
    if (!t) return undefined;
    const view = t.resource.view as { query?: string } | undefined;
    return { fields: t.resource.schema.fields, partitionField: (t.resource.timePartitioning as { field?: string } | undefined)?.field, ...(t.resource.type === "VIEW" ? { viewQuery: view?.query ?? "" } : {}) };
  };

  /** Datasets a statement names that exist here (the rest are left to the engine's notFound). */
  const namedDatasets = (sql: string, stmt: Statement | undefined): string[] => {
    const refs = tableReferences(sql).map((r) => r.dataset);
    if (stmt?.kind === "createSchema") refs.push(stmt.dataset);
    return [...new Set(refs)].filter((d) => datasets.has(d));
  };

  /** Where a job that names no location runs: "the location of the datasets referenced" (else US). */
  const inferLocation = (datasetIds: string[]): string => String(datasets.get(datasetIds[0] ?? "")?.location ?? "US");

  interface QueryRequest {
    sql: string;
    parameters?: QueryParameter[];
    parameterMode?: string;
    useLegacySql?: boolean;
  }

  /**
   * Dry runs: "If set, don't actually run this job. A valid query will return a mostly empty response
   * with some processing statistics, while an invalid query will return the same error it would if it
   * wasn't a dry run" (JobConfiguration.dryRun, https://cloud.google.com/bigquery/docs/reference/rest/v2/Job#JobConfiguration).
   * Checked here: GoogleSQL only, parameters bound, the statement parsed and translated, datasets in the
   * job's location. Tables are not required to exist (the Dataform CLI dry-runs views whose upstream
   * tables a dry run never built): a known leniency. Nothing runs; the estimate reads column sizes only.
   */
  async function dryRun(q: QueryRequest, location: string, projectId: string): Promise<{ statistics: Record<string, unknown> } | { error: JobError }> {
    if (!rules.queryExecution) {
      return { statistics: { totalBytesProcessed: "0", query: { totalBytesProcessed: "0", statementType: /^\s*create schema/i.test(q.sql) ? "CREATE_SCHEMA" : "SELECT" } } };
    }
    try {
      const { stmt, bound } = prepare(q);
      const problem = locationProblem(q.sql, stmt, location, projectId);
      if (problem) return { error: problem };
      let bytes = 0;
      let referenced: TableRef[] = [];
      if (stmt.kind === "create") {
        // The body must parse (GoogleSQL through the project's translation layer).
        const body = bindParameters(stmt.body, q.parameters, q.parameterMode);
        checkSyntax(body);
        if (stmt.object === "TABLE") ({ bytes, tables: referenced } = await estimateBytes(engine, body, catalog));
      } else if (stmt.kind === "select" || stmt.kind === "dml") {
        checkSyntax(bound);
        ({ bytes, tables: referenced } = await estimateBytes(engine, bound, catalog));
      }
      const total = String(bytes);
      return {
        statistics: {
          totalBytesProcessed: total,
          query: {
            totalBytesProcessed: total,
            totalBytesProcessedAccuracy: "PRECISE",
            statementType: statementType(stmt),
            cacheHit: false,
            referencedTables: referenced.map((r) => ({ projectId: r.project ?? projectId, datasetId: r.dataset, tableId: r.table })),
          },
        },
      };
    } catch (error) {
      return { error: error instanceof QueryError ? { reason: error.reason, message: error.message } : { reason: "invalidQuery", message: (error as Error).message } };
    }
  }

  function prepare(q: QueryRequest): { stmt: Statement; bound: string } {
    if (q.useLegacySql !== false) throw new QueryError("the stand-in runs GoogleSQL only: set useLegacySql to false (the REST API defaults to legacy SQL)", "invalidQuery");
    const bound = bindParameters(q.sql, q.parameters, q.parameterMode);
    const stmt = classifyStatement(q.sql);
    if (stmt.kind === "unsupported") throw new QueryError(stmt.message, "invalidQuery");
    return { stmt, bound };
  }

  function statementType(stmt: Statement): string {
    switch (stmt.kind) {
      case "createSchema":
        return "CREATE_SCHEMA";
      case "create":
        return stmt.object === "VIEW" ? "CREATE_VIEW" : "CREATE_TABLE_AS_SELECT";
      case "drop":
        return stmt.object === "VIEW" ? "DROP_VIEW" : "DROP_TABLE";
      case "dml":
        return stmt.verb;
      case "select":
        return "SELECT";
      case "createColumns":
        return "CREATE_TABLE";
      case "transaction":
        return `${stmt.verb}_TRANSACTION`;
      case "abortSession":
        return "CALL";
    }
  }

  /** A query job touches datasets of its own location only (rule `locations`). */
  function locationProblem(sql: string, stmt: Statement, location: string, projectId: string): JobError | undefined {
    if (!rules.locations) return undefined;
    for (const d of namedDatasets(sql, stmt)) {
      const at = datasets.get(d)?.location;
      if (!sameLocation(at, location)) return { reason: "notFound", message: `Not found: Dataset ${projectId}:${d} was not found in location ${location}` };
    }
    return undefined;
  }

  function registerRelation(stmt: Extract<Statement, { kind: "create" }>, fields: TableField[], projectId: string): void {
    const { dataset, table } = stmt.target;
    const key = `${dataset}.${table}`;
    const previous = tables.get(key);
    const body: Record<string, unknown> = { type: stmt.object };
    if (stmt.object === "VIEW") body.view = { query: stmt.body, useLegacySql: false };
    if (stmt.partitionField) body.timePartitioning = { type: "DAY", field: stmt.partitionField };
    if (stmt.clusterFields) body.clustering = { fields: stmt.clusterFields };
    const created = newTable(stmt.target.project ?? projectId, dataset, table, body, fields);
    if (previous) created.resource.creationTime = previous.resource.creationTime;
    tables.set(key, created);
  }

  /**
   * A query job; in a session's transaction, a statement that fails rolls the whole transaction back
   * ("If an error occurs during a transaction and there is no exception handler, the query fails and
   * BigQuery automatically rolls back the transaction", https://cloud.google.com/bigquery/docs/transactions).
   */
  async function runQuery(job: StoredJob): Promise<JobStatus> {
    const session = job.session === undefined ? undefined : sessions.get(job.session);
    const abandon = async () => {
      if (!session?.transaction || job.session === undefined) return;
      session.transaction = undefined;
      await engine.transaction(job.session, "ROLLBACK").catch(() => undefined);
    };
    try {
      const status = await runStatement(job);
      if (status.errorResult) await abandon();
      return status;
    } catch (error) {
      await abandon();
      throw error;
    }
  }

  const conflict = (projectId: string, key: string) =>
    new QueryError(`Transaction is aborted due to concurrent update against table ${projectId}:${key}. See https://cloud.google.com/bigquery/docs/transactions#transaction_concurrency`, "invalidQuery");

  async function runStatement(job: StoredJob): Promise<JobStatus> {
    const configuration = job.resource.configuration as { query: Record<string, unknown> };
    const cfg = configuration.query;
    const projectId = String((job.resource.jobReference as { projectId: string }).projectId);
    const location = String((job.resource.jobReference as { location: string }).location);
    const sql = String(cfg.query);
    if (!rules.queryExecution) {
      // The stand-in as it was: CREATE SCHEMA only.
      const schema = classifyStatement(sql);
      if (schema.kind !== "createSchema") return failed("notImplemented", "the stand-in executes no SQL except CREATE SCHEMA");
      if (!datasets.has(schema.dataset)) datasets.set(schema.dataset, { kind: "bigquery#dataset", id: `${projectId}:${schema.dataset}`, datasetReference: { projectId, datasetId: schema.dataset }, location });
      job.resource.statistics = { ...job.resource.statistics, totalBytesProcessed: "0", query: { totalBytesProcessed: "0", statementType: "CREATE_SCHEMA" } };
      return { state: "DONE" };
    }
    if (cfg.destinationTable) return failed("notImplemented", "the stand-in does not write query results to a destinationTable");
    const { stmt, bound } = prepare({ sql, parameters: cfg.queryParameters as QueryParameter[] | undefined, parameterMode: cfg.parameterMode as string | undefined, useLegacySql: cfg.useLegacySql as boolean | undefined });
    const problem = locationProblem(sql, stmt, location, projectId);
    if (problem) return failed(problem.reason, problem.message);
    // Tables a statement reads must exist (its own CREATE target aside).
    const target = stmt.kind === "create" || stmt.kind === "drop" || stmt.kind === "createColumns" ? stmt.target : undefined;
    const sessionId = rules.sessions ? job.session : undefined;
    const session = sessionId === undefined ? undefined : sessions.get(sessionId);
    if (sessionId !== undefined && !session) return failed("invalidQuery", `Session ${sessionId} was not found or has been terminated. Start a new session (createSession).`);
    if (session?.transaction && (stmt.kind === "create" || stmt.kind === "drop" || stmt.kind === "createColumns" || stmt.kind === "createSchema")) {
      // "DDL statements that create or delete permanent entities, such as datasets, tables, and functions,
      // are not supported inside a transaction." (https://cloud.google.com/bigquery/docs/transactions#statements_supported_in_transactions)
      return failed("invalidQuery", "DDL statements on permanent entities are not supported inside a transaction");
    }
    for (const ref of tableReferences(sql)) {
      if (target && ref.dataset === target.dataset && ref.table === target.table) continue;
      if (datasets.has(ref.dataset) && !tables.has(`${ref.dataset}.${ref.table}`)) return failed("notFound", `Not found: Table ${ref.project ?? projectId}:${ref.dataset}.${ref.table} was not found in location ${location}`);
    }
    const params = cfg.queryParameters as QueryParameter[] | undefined;
    const mode = cfg.parameterMode as string | undefined;
    const estimate = stmt.kind === "select" || stmt.kind === "dml" ? await estimateBytes(engine, bound, catalog) : stmt.kind === "create" && stmt.object === "TABLE" ? await estimateBytes(engine, bindParameters(stmt.body, params, mode), catalog) : { bytes: 0, tables: [] };
    // On-demand billing has "a minimum 10 MB data processed per table referenced by the query" (https://cloud.google.com/bigquery/pricing#on_demand_pricing).
    const billed = estimate.tables.length ? Math.max(estimate.bytes, 10 * 1024 * 1024 * estimate.tables.length) : 0;
    const query: Record<string, unknown> = { totalBytesProcessed: String(estimate.bytes), totalBytesBilled: String(billed), statementType: statementType(stmt), cacheHit: false };
    switch (stmt.kind) {
      case "transaction": {
        job.result = { statementType: query.statementType as string, rows: [] };
        if (!rules.sessions) break; // the forgiving fake: no transactions, every statement commits at once
        if (!session || sessionId === undefined) return failed("invalidQuery", "Transaction control statements are supported only in scripts or sessions (https://cloud.google.com/bigquery/docs/transactions#transaction_scope)");
        if (stmt.verb === "BEGIN") {
          if (session.transaction) return failed("invalidQuery", "Nested transactions are not supported: a transaction is already open in this session");
          await engine.transaction(sessionId, "BEGIN");
          session.transaction = { snapshot: commitSequence, mutated: new Set() };
          break;
        }
        const open = session.transaction;
        if (!open) return failed("invalidQuery", `There is no active transaction to ${stmt.verb === "COMMIT" ? "commit" : "roll back"} in this session (a failed statement rolls its transaction back)`);
        session.transaction = undefined;
        await engine.transaction(sessionId, stmt.verb);
        if (stmt.verb === "COMMIT" && open.mutated.size) {
          commitSequence += 1;
          for (const key of open.mutated) lastMutation.set(key, commitSequence);
        }
        break;
      }
      case "abortSession": {
        job.result = { statementType: "CALL", rows: [] };
        if (!rules.sessions || sessionId === undefined) break;
        sessions.delete(sessionId);
        await engine.endSession(sessionId);
        break;
      }
      case "createColumns": {
        const { dataset, table } = stmt.target;
        if (!datasets.has(dataset)) return failed("notFound", `Not found: Dataset ${projectId}:${dataset}`);
        if (tables.has(`${dataset}.${table}`)) {
          if (!stmt.ifNotExists) return failed("duplicate", `Already Exists: Table ${projectId}:${dataset}.${table}`);
          query.ddlOperationPerformed = "SKIP";
        } else {
          await engine.createTable(dataset, table, stmt.fields);
          tables.set(`${dataset}.${table}`, newTable(stmt.target.project ?? projectId, dataset, table, {}, stmt.fields));
          query.ddlOperationPerformed = "CREATE";
        }
        query.ddlTargetTable = { projectId: stmt.target.project ?? projectId, datasetId: dataset, tableId: table };
        job.result = { statementType: "CREATE_TABLE", rows: [] };
        break;
      }
      case "createSchema": {
        if (!datasets.has(stmt.dataset)) {
          datasets.set(stmt.dataset, { kind: "bigquery#dataset", id: `${projectId}:${stmt.dataset}`, datasetReference: { projectId: stmt.project ?? projectId, datasetId: stmt.dataset }, location, creationTime: now(), lastModifiedTime: now() });
          query.ddlOperationPerformed = "CREATE";
        } else if (!stmt.ifNotExists) return failed("duplicate", `Already Exists: Dataset ${projectId}:${stmt.dataset}`);
        else query.ddlOperationPerformed = "SKIP";
        await engine.ensureSchema(stmt.dataset);
        job.result = { statementType: "CREATE_SCHEMA", rows: [] };
        break;
      }
      case "create": {
        const { dataset, table } = stmt.target;
        if (!datasets.has(dataset)) return failed("notFound", `Not found: Dataset ${projectId}:${dataset}`);
        const existing = tables.get(`${dataset}.${table}`);
        if (existing && stmt.ifNotExists) {
          query.ddlOperationPerformed = "SKIP";
        } else {
          if (existing && !stmt.orReplace) return failed("duplicate", `Already Exists: Table ${projectId}:${dataset}.${table}`);
          if (existing && existing.resource.type !== stmt.object) await engine.drop(existing.resource.type === "VIEW" ? "VIEW" : "TABLE", dataset, table);
          const fields = await engine.createRelation(stmt.object, dataset, table, bindParameters(stmt.body, params, mode));
          registerRelation(stmt, fields, projectId);
          query.ddlOperationPerformed = existing ? "REPLACE" : "CREATE";
        }
        query.ddlTargetTable = { projectId: stmt.target.project ?? projectId, datasetId: dataset, tableId: table };
        job.result = { statementType: query.statementType as string, rows: [] };
        break;
      }
      case "drop": {
        const { dataset, table } = stmt.target;
        const existing = tables.get(`${dataset}.${table}`);
        if (!existing && !stmt.ifExists) return failed("notFound", `Not found: Table ${projectId}:${dataset}.${table}`);
        if (existing) {
          await engine.drop(existing.resource.type === "VIEW" ? "VIEW" : "TABLE", dataset, table);
          tables.delete(`${dataset}.${table}`);
          query.ddlOperationPerformed = "DROP";
        } else query.ddlOperationPerformed = "SKIP";
        query.ddlTargetTable = { projectId: stmt.target.project ?? projectId, datasetId: dataset, tableId: table };
        job.result = { statementType: query.statementType as string, rows: [] };
        break;
      }
      case "dml":
      case "select": {
        const key = stmt.kind === "dml" && stmt.target ? `${stmt.target.dataset}.${stmt.target.table}` : undefined;
        const mutating = stmt.kind === "dml" && stmt.verb !== "INSERT" && key !== undefined;
        const open = session?.transaction;
        if (mutating && open && rules.transactionConflicts) {
          const held = [...sessions.entries()].some(([id, other]) => id !== sessionId && other.transaction?.mutated.has(key));
          if (held || (lastMutation.get(key) ?? 0) > open.snapshot) throw conflict(projectId, key);
        }
        let outcome;
        try {
          outcome = await engine.query(sql, params, mode, "int64", sessionId);
        } catch (error) {
          // DuckDB's own write-write conflict between two sessions' transactions is BigQuery's abort.
          if (key && /conflict/i.test((error as Error).message)) throw conflict(projectId, key);
          throw error;
        }
        if (mutating) {
          if (open) open.mutated.add(key);
          else {
            commitSequence += 1;
            lastMutation.set(key, commitSequence);
          }
        }
        job.result = { statementType: outcome.statementType, rows: outcome.rows ?? [], ...(outcome.schema ? { schema: outcome.schema } : {}), ...(outcome.numDmlAffectedRows !== undefined ? { numDmlAffectedRows: outcome.numDmlAffectedRows } : {}) };
        if (outcome.schema) query.schema = outcome.schema;
        if (outcome.numDmlAffectedRows !== undefined) query.numDmlAffectedRows = outcome.numDmlAffectedRows;
        const written = stmt.kind === "dml" && stmt.target ? tables.get(`${stmt.target.dataset}.${stmt.target.table}`) : undefined;
        if (written) written.resource.lastModifiedTime = now();
        break;
      }
    }
    query.referencedTables = estimate.tables.map((r) => ({ projectId: r.project ?? projectId, datasetId: r.dataset, tableId: r.table }));
    job.resource.statistics = { ...job.resource.statistics, totalBytesProcessed: String(estimate.bytes), query };
    return { state: "DONE" };
  }

  /** One page of a finished query job, as jobs.query and jobs.getQueryResults answer it. */
  function resultPage(job: StoredJob, params: { maxResults?: unknown; pageToken?: unknown; startIndex?: unknown; ts: ReturnType<typeof timestampFormat> }): Record<string, unknown> {
    const result = job.result ?? { statementType: "SELECT", rows: [] };
    const start = Number(params.pageToken ?? params.startIndex ?? 0) || 0;
    const max = params.maxResults === undefined ? result.rows.length : Number(params.maxResults);
    const end = Math.min(result.rows.length, start + Math.max(0, max));
    const fields = result.schema?.fields ?? [];
    const rows = formatRows(result.rows.slice(start, end), fields, params.ts);
    const stats = job.resource.statistics;
    return {
      jobReference: job.resource.jobReference,
      jobComplete: true,
      ...(result.schema ? { schema: result.schema } : {}),
      totalRows: String(result.rows.length),
      ...(rows.length ? { rows } : {}),
      ...(end < result.rows.length ? { pageToken: String(end) } : {}),
      totalBytesProcessed: String(stats.totalBytesProcessed ?? "0"),
      cacheHit: false,
      ...(result.numDmlAffectedRows !== undefined ? { numDmlAffectedRows: result.numDmlAffectedRows } : {}),
    };
  }

  async function waitFor(job: StoredJob, timeoutMs: number): Promise<void> {
    if (job.finished) return;
    await Promise.race([job.settled, sleep(timeoutMs, timers)]);
  }

  // -------------------------------------------------------------------------------------------------

  const deniedPermissions = new Set<string>();

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL, body: unknown): Promise<number> {
    const path = url.pathname.replace(/^\/bigquery\/v2/, "");
    const method = req.method ?? "GET";
    if (method === "POST" && path === "/v1/token") {
      issuedTokens += 1;
      return json(res, { access_token: TOKEN, issued_token_type: "urn:ietf:params:oauth:token-type:access_token", token_type: "Bearer", expires_in: 3600 });
    }
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return apiError(res, 401, "UNAUTHENTICATED", "Request is missing required authentication credential.", "unauthorized");

    let m: RegExpExecArray | null;
    if ((m = /^\/projects\/([^/]+)\/datasets$/.exec(path)) && method === "POST") {
      const bad = checkBody(res, "IDataset", body);
      if (bad) return bad;
      const ref = (body as { datasetReference?: { datasetId?: string } }).datasetReference;
      if (!ref?.datasetId) return apiError(res, 400, "INVALID_ARGUMENT", "datasetReference.datasetId is required", "invalid");
      if (datasets.has(ref.datasetId)) return apiError(res, 409, "ALREADY_EXISTS", `Already Exists: Dataset ${m[1]}:${ref.datasetId}`, "duplicate");
      // Dataset.location: "The geographic location where the dataset should reside"; a dataset created
      // without one is in the US multi-region (https://cloud.google.com/bigquery/docs/locations).
      const stamp = now();
      const resource = { kind: "bigquery#dataset", id: `${m[1]}:${ref.datasetId}`, location: "US", ...(body as object), datasetReference: { projectId: m[1], datasetId: ref.datasetId }, creationTime: stamp, lastModifiedTime: stamp };
      datasets.set(ref.datasetId, resource);
      if (rules.queryExecution) await engine.ensureSchema(ref.datasetId);
      return json(res, resource);
    }
    if ((m = /^\/projects\/([^/]+)\/datasets$/.exec(path)) && method === "GET") {
      return json(res, { kind: "bigquery#datasetList", datasets: [...datasets.values()].map((d) => ({ kind: "bigquery#dataset", id: d.id, datasetReference: d.datasetReference, location: d.location })) });
    }
    if ((m = /^\/projects\/([^/]+)\/datasets\/([^/]+)\/tables$/.exec(path)) && method === "GET") {
      const prefix = `${m[2]}.`;
      const listed = [...tables.entries()].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => ({ kind: "bigquery#table", id: `${m?.[1]}:${k}`, tableReference: t.resource.tableReference, type: t.resource.type ?? "TABLE", creationTime: t.resource.creationTime }));
      return json(res, { kind: "bigquery#tableList", tables: listed, totalItems: listed.length });
    }
    if ((m = /^\/projects\/([^/]+)\/datasets\/([^/]+)$/.exec(path)) && method === "GET") {
      const d = datasets.get(m[2] ?? "");
      return d ? json(res, d) : apiError(res, 404, "NOT_FOUND", `Not found: Dataset ${m[1]}:${m[2]}`, "notFound");
    }
    if ((m = /^\/projects\/([^/]+)\/datasets\/([^/]+)\/tables$/.exec(path)) && method === "POST") {
      const bad = checkBody(res, "ITable", body);
      if (bad) return bad;
      if (!datasets.has(m[2] ?? "")) return apiError(res, 404, "NOT_FOUND", `Not found: Dataset ${m[1]}:${m[2]}`, "notFound");
      const t = body as { tableReference?: { tableId?: string }; schema?: { fields?: TableField[] }; view?: { query?: string } };
      if (!t.tableReference?.tableId) return apiError(res, 400, "INVALID_ARGUMENT", "tableReference.tableId is required", "invalid");
      const key = `${m[2]}.${t.tableReference.tableId}`;
      if (tables.has(key)) return apiError(res, 409, "ALREADY_EXISTS", `Already Exists: Table ${m[1]}:${key}`, "duplicate");
      let fields = t.schema?.fields ?? [];
      if (rules.queryExecution) {
        try {
          if (t.view?.query) fields = await engine.createRelation("VIEW", m[2] ?? "", t.tableReference.tableId, t.view.query);
          else await engine.createTable(m[2] ?? "", t.tableReference.tableId, fields);
        } catch (error) {
          return apiError(res, error instanceof QueryError ? 400 : 501, error instanceof QueryError ? "INVALID_ARGUMENT" : "UNIMPLEMENTED", (error as Error).message, error instanceof QueryError ? "invalid" : "notImplemented");
        }
      }
      const stored = newTable(m[1] ?? "", m[2] ?? "", t.tableReference.tableId, { ...(body as object), ...(t.view ? { type: "VIEW" } : {}) }, fields);
      tables.set(key, stored);
      return json(res, await tableOut(stored));
    }
    if ((m = /^\/projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/:]+):testIamPermissions$/.exec(path)) && method === "POST") {
      // tables.testIamPermissions: the subset of the asked permissions the caller has on the table.
      const key = `${m[2]}.${m[3]}`;
      if (!tables.has(key)) return apiError(res, 404, "NOT_FOUND", `Not found: Table ${m[1]}:${key}`, "notFound");
      const asked = (body as { permissions?: unknown }).permissions;
      if (!Array.isArray(asked) || asked.some((p) => typeof p !== "string")) return apiError(res, 400, "INVALID_ARGUMENT", "permissions must be a list of strings", "invalid");
      const granted = (asked as string[]).filter((p) => !deniedPermissions.has(p));
      return json(res, granted.length ? { permissions: granted } : {});
    }
    if ((m = /^\/projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/]+)$/.exec(path))) {
      const key = `${m[2]}.${m[3]}`;
      const t = tables.get(key);
      if (!t) return apiError(res, 404, "NOT_FOUND", `Not found: Table ${m[1]}:${key}`, "notFound");
      if (method === "GET") return json(res, await tableOut(t));
      if (method === "DELETE") {
        if (rules.queryExecution) await engine.drop(t.resource.type === "VIEW" ? "VIEW" : "TABLE", m[2] ?? "", m[3] ?? "");
        tables.delete(key);
        res.writeHead(204);
        res.end();
        return 204;
      }
      if (method === "PATCH" || method === "PUT") {
        const bad = checkBody(res, "ITable", body);
        if (bad) return bad;
        const next = (body as { schema?: { fields?: TableField[] } }).schema?.fields;
        // The rest of the resource is patched as sent (description, labels, ...); the reference never changes.
        const rest: Record<string, unknown> = { ...(body as Record<string, unknown>) };
        delete rest.schema;
        delete rest.tableReference;
        let added: TableField[] = [];
        let relaxed: string[] = [];
        if (next) {
          if (rules.schemaUpdates) {
            const check = patchSchemaCheck(`${m[1]}:${key}`, t.resource.schema.fields, next);
            if ("error" in check) return apiError(res, 400, "INVALID_ARGUMENT", check.error, "invalid");
            ({ added, relaxed } = check);
          } else added = next.filter((f) => !t.resource.schema.fields.some((o) => o.name === f.name));
        }
        if (rules.queryExecution && t.resource.type !== "VIEW") {
          if (added.length) await engine.addColumns(m[2] ?? "", m[3] ?? "", added);
          if (relaxed.length) await engine.relaxColumns(m[2] ?? "", m[3] ?? "", relaxed);
        }
        Object.assign(t.resource, rest);
        if (next) t.resource.schema = { fields: schemaIn(next) };
        t.resource.lastModifiedTime = now();
        return json(res, await tableOut(t));
      }
    }
    if ((m = /^\/projects\/([^/]+)\/jobs$/.exec(path)) && method === "POST") {
      if (deniedPermissions.has("bigquery.jobs.create")) {
        return apiError(res, 403, "PERMISSION_DENIED", `Access Denied: Project ${m[1]}: User does not have bigquery.jobs.create permission in project ${m[1]}.`, "accessDenied");
      }
      // @google-cloud/bigquery's createQueryJob (used by the Dataform CLI) copies its own options
      // `maxResults` and `reservation` into configuration.query, where the discovery schema has neither and
      // BigQuery ignores them. Tolerate exactly those two, there only; every other unknown field fails.
      const q = (body as { configuration?: { query?: Record<string, unknown> } }).configuration?.query;
      if (q) {
        delete q.maxResults;
        delete q.reservation;
      }
      const bad = checkBody(res, "IJob", body);
      if (bad) return bad;
      const projectId = m[1] ?? "";
      const job = body as { jobReference?: { jobId?: string; location?: string }; configuration?: { load?: Record<string, unknown>; query?: Record<string, unknown>; dryRun?: boolean } };
      const jobId = job.jobReference?.jobId ?? "";
      // "The ID must contain only letters (a-z, A-Z), numbers (0-9), underscores (_), or dashes (-). The
      // maximum length is 1,024 characters." (JobReference.jobId, https://cloud.google.com/bigquery/docs/reference/rest/v2/JobReference)
      if (!jobId || (rules.jobIds && !/^[A-Za-z0-9_-]{1,1024}$/.test(jobId))) return apiError(res, 400, "INVALID_ARGUMENT", `Invalid job ID "${jobId}". Job IDs must be alphanumeric (plus underscores and dashes) and must be at most 1024 characters long.`, "invalid");
      const configuration = job.configuration ?? {};
      if (configuration.query) {
        const cfg = configuration.query;
        const sql = String(cfg.query ?? "");
        const request: QueryRequest = { sql, parameters: cfg.queryParameters as QueryParameter[] | undefined, parameterMode: cfg.parameterMode as string | undefined, useLegacySql: cfg.useLegacySql as boolean | undefined };
        const stmt = classifyStatement(sql);
        const location = job.jobReference?.location ?? inferLocation(namedDatasets(sql, stmt.kind === "unsupported" ? undefined : stmt));
        if (configuration.dryRun) {
          // A dry run creates no job: it answers at once, and jobs.get / getQueryResults find nothing.
          queries.push({ sql, dryRun: true });
          const outcome = await dryRun(request, location, projectId);
          if ("error" in outcome) return jobErrorResponse(res, outcome.error);
          return json(res, { kind: "bigquery#job", ...(body as object), jobReference: { projectId, jobId, location }, status: { state: "DONE" }, statistics: { creationTime: now(), startTime: now(), endTime: now(), ...outcome.statistics } });
        }
        if (jobs.has(jobId)) return apiError(res, 409, "ALREADY_EXISTS", `Already Exists: Job ${projectId}:${location}.${jobId}`, "duplicate");
        // Sessions (rule `sessions`, https://cloud.google.com/bigquery/docs/sessions-write-queries).
        let session: string | undefined;
        if (rules.sessions) {
          const props = (cfg.connectionProperties as { key?: string; value?: string }[] | undefined) ?? [];
          const joined = props.find((p) => p.key === "session_id")?.value;
          if (cfg.createSession === true && joined !== undefined) return apiError(res, 400, "INVALID_ARGUMENT", "createSession cannot be set together with a session_id connection property", "invalid");
          if (joined !== undefined) {
            const known = sessions.get(joined);
            // A session lives in one location: a job of another location does not find it.
            if (!known || !sameLocation(known.location, location)) return apiError(res, 400, "INVALID_ARGUMENT", `Session ${joined} was not found in location ${location}, or has been terminated`, "invalid");
            session = joined;
          } else if (cfg.createSession === true) {
            session = randomUUID().replaceAll("-", "");
            sessions.set(session, { projectId, location });
          }
        }
        queries.push({ sql, dryRun: false });
        const created = createJob(projectId, jobId, location, body as Record<string, unknown>, runQuery, session === undefined ? {} : { session });
        if (session !== undefined) created.resource.statistics.sessionInfo = { sessionId: session };
        if (!rules.asyncJobs) await created.settled;
        return json(res, jobView(created));
      }
      const load = configuration.load;
      if (!load) return apiError(res, 501, "UNIMPLEMENTED", "the stand-in runs load and query jobs only", "notImplemented");
      const problem = loadConfigError(load);
      if (problem) return apiError(res, 400, "INVALID_ARGUMENT", problem, "invalid");
      const dest = load.destinationTable as { datasetId: string; tableId: string };
      const location = job.jobReference?.location ?? String(datasets.get(dest.datasetId)?.location ?? "US");
      if (jobs.has(jobId)) return apiError(res, 409, "ALREADY_EXISTS", `Already Exists: Job ${projectId}:${location}.${jobId}`, "duplicate");
      const day = `${dest.datasetId}.${dest.tableId}@${new Date().toISOString().slice(0, 10)}`;
      const ordinal = (loadCounts.get(day) ?? 0) + 1;
      loadCounts.set(day, ordinal);
      const created = createJob(projectId, jobId, location, body as Record<string, unknown>, runLoad, { loadOrdinal: ordinal });
      if (!rules.asyncJobs) await created.settled;
      return json(res, jobView(created));
    }
    if ((m = /^\/projects\/([^/]+)\/jobs\/([^/]+)(\/cancel)?$/.exec(path)) && (method === "GET" || (method === "POST" && m[3]))) {
      const found = findJob(m[1] ?? "", m[2] ?? "", url.searchParams.get("location"));
      if ("error" in found) return apiError(res, 404, "NOT_FOUND", found.error, "notFound");
      if (!found.finished && Date.now() >= found.doneAt) await found.settled;
      if (m[3]) return json(res, { kind: "bigquery#jobCancelResponse", job: jobView(found) });
      return json(res, jobView(found));
    }
    if ((m = /^\/projects\/([^/]+)\/queries$/.exec(path)) && method === "POST") {
      // jobs.query: runs a query and waits for it up to timeoutMs ("By default, this limit is 10 seconds"),
      // answering its first page, or jobComplete: false (https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/query).
      const bad = checkBody(res, "IQueryRequest", body);
      if (bad) return bad;
      const projectId = m[1] ?? "";
      const q = body as Record<string, unknown> & { query?: string; formatOptions?: { useInt64Timestamp?: boolean; timestampOutputFormat?: string } };
      const sql = String(q.query ?? "");
      const stmt = classifyStatement(sql);
      const location = typeof q.location === "string" ? q.location : inferLocation(namedDatasets(sql, stmt.kind === "unsupported" ? undefined : stmt));
      const request: QueryRequest = { sql, parameters: q.queryParameters as QueryParameter[] | undefined, parameterMode: q.parameterMode as string | undefined, useLegacySql: q.useLegacySql as boolean | undefined };
      if (rules.sessions && (q.createSession === true || q.connectionProperties !== undefined)) {
        return apiError(res, 501, "UNIMPLEMENTED", "the stand-in runs sessions through jobs.insert only (createQueryJob), not jobs.query", "notImplemented");
      }
      if (q.dryRun === true) {
        queries.push({ sql, dryRun: true });
        const outcome = await dryRun(request, location, projectId);
        if ("error" in outcome) return jobErrorResponse(res, outcome.error);
        return json(res, { kind: "bigquery#queryResponse", jobComplete: true, totalBytesProcessed: (outcome.statistics as { totalBytesProcessed: string }).totalBytesProcessed });
      }
      queries.push({ sql, dryRun: false });
      const jobId = `job_${randomUUID().replaceAll("-", "_")}`;
      const configuration = {
        query: {
          query: sql,
          useLegacySql: q.useLegacySql,
          ...(q.queryParameters ? { queryParameters: q.queryParameters } : {}),
          ...(q.parameterMode ? { parameterMode: q.parameterMode } : {}),
          ...(q.defaultDataset ? { defaultDataset: q.defaultDataset } : {}),
        },
        ...(q.labels ? { labels: q.labels } : {}),
      };
      const created = createJob(projectId, jobId, location, { configuration }, runQuery);
      await waitFor(created, typeof q.timeoutMs === "number" ? q.timeoutMs : 10_000);
      if (!created.finished) return json(res, { kind: "bigquery#queryResponse", jobReference: created.resource.jobReference, jobComplete: false });
      if (created.resource.status.errorResult) return jobErrorResponse(res, created.resource.status.errorResult);
      return json(res, { kind: "bigquery#queryResponse", ...resultPage(created, { maxResults: q.maxResults, ts: timestampFormat(q.formatOptions?.useInt64Timestamp, q.formatOptions?.timestampOutputFormat) }) });
    }
    if ((m = /^\/projects\/([^/]+)\/queries\/([^/]+)$/.exec(path)) && method === "GET") {
      // jobs.getQueryResults: waits up to timeoutMs (10 s by default) for the job, then pages its rows with
      // maxResults / pageToken / startIndex (https://cloud.google.com/bigquery/docs/reference/rest/v2/jobs/getQueryResults).
      const found = findJob(m[1] ?? "", m[2] ?? "", url.searchParams.get("location"));
      if ("error" in found) return apiError(res, 404, "NOT_FOUND", found.error, "notFound");
      if (!(found.resource.configuration as { query?: unknown } | undefined)?.query) return apiError(res, 400, "INVALID_ARGUMENT", `Job ${m[1]}:${m[2]} is not a query job`, "invalid");
      const s = url.searchParams;
      await waitFor(found, s.has("timeoutMs") ? Number(s.get("timeoutMs")) : 10_000);
      if (!found.finished) return json(res, { kind: "bigquery#getQueryResultsResponse", jobReference: found.resource.jobReference, jobComplete: false });
      if (found.resource.status.errorResult) return jobErrorResponse(res, found.resource.status.errorResult);
      const page = resultPage(found, {
        maxResults: s.get("maxResults") ?? undefined,
        pageToken: s.get("pageToken") ?? undefined,
        startIndex: s.get("startIndex") ?? undefined,
        ts: timestampFormat(s.get("formatOptions.useInt64Timestamp") ?? undefined, s.get("formatOptions.timestampOutputFormat") ?? undefined),
      });
      return json(res, { kind: "bigquery#getQueryResultsResponse", ...page });
    }
    return apiError(res, 501, "UNIMPLEMENTED", `the BigQuery stand-in does not implement ${method} ${path}`, "notImplemented");
  }

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      const raw = await readBody(req);
      let body: unknown = undefined;
      const isJson = (req.headers["content-type"] ?? "").includes("json");
      if (raw && isJson) body = JSON.parse(raw);
      else if (raw) body = Object.fromEntries(new URLSearchParams(raw));
      const record: RecordedRequest = { method: req.method ?? "GET", path: url.pathname, query: Object.fromEntries(url.searchParams), body, status: 0 };
      requests.push(record);
      const injected = fault?.({ method: record.method, path: url.pathname.replace(/^\/bigquery\/v2/, ""), body });
      try {
        if (injected && !injected.afterHandling) {
          // 403 accessDenied is final for the client; 5xx backendError is retried by it.
          record.status = injected.status === 403 ? apiError(res, 403, "PERMISSION_DENIED", "injected fault: access denied", "accessDenied") : apiError(res, injected.status, "UNAVAILABLE", "injected fault", "backendError");
          return;
        }
        if (injected) {
          // The request takes effect but its answer is lost: what a client sees when a response times out.
          const sink = { writeHead: () => sink, end: () => sink } as unknown as ServerResponse;
          await handle(req, sink, url, body);
          record.status = apiError(res, injected.status, "UNAVAILABLE", "injected fault after the request took effect", "backendError");
          return;
        }
        record.status = await handle(req, res, url, body);
      } catch (error) {
        record.status = apiError(res, 500, "INTERNAL", (error as Error).message, "internalError");
      }
    })();
  });
  // As in the Cloud Storage stand-in: no 5-second idle close for a client to race against (EPIPE).
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://127.0.0.1:${port}`;

  return {
    url: baseUrl,
    apiRoot: `${baseUrl}/bigquery/v2`,
    tokenUrl: `${baseUrl}/v1/token`,
    requests,
    get issuedTokens() {
      return issuedTokens;
    },
    tables,
    datasets,
    jobs,
    queries,
    sessions,
    get rules() {
      return { ...rules };
    },
    setRules: (next) => {
      for (const r of BIGQUERY_RULES) if (next[r] !== undefined) rules[r] = next[r] as boolean;
    },
    sql: engine,
    loadJobs: () => [...jobs.values()].map((j) => j.resource).filter((r) => (r.configuration as { load?: unknown } | undefined)?.load),
    rows: (dataset, table) => tables.get(`${dataset}.${table}`)?.rows ?? [],
    setFault: (next) => {
      fault = next;
    },
    deniedPermissions,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      // Jobs whose timers were cleared never run; wait for work already under way, then close the engine.
      await Promise.allSettled([...running]);
      engine.close();
    },
  };
}
