/**
 * A BigQuery stand-in on 127.0.0.1 for the REST endpoints the project uses: datasets insert/get, tables
 * insert/get/patch, jobs insert/get (load jobs), plus the Security Token Service exchange that Workload
 * Identity Federation credentials (`external_account`, what google-github-actions/auth writes) perform.
 *
 * No emulator for BigQuery is on npm, so this is hand-written, but strict: every request body is checked
 * against the official resource schemas (bigquery-api-schema.ts, generated from the discovery document),
 * every request must carry the bearer token the STS endpoint issued (so the real Application Default
 * Credentials path of the client is exercised and no auth call can leave 127.0.0.1), load jobs read the
 * `gs://` objects from the Cloud Storage stand-in, gunzip them and type-check every row against the
 * destination table's schema, reporting errors with their location the way BigQuery does.
 * Every request is recorded so tests can assert the exact configuration sent.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import { Ajv, type ValidateFunction } from "ajv";
import { bigQueryApiSchemas } from "./bigquery-api-schema.js";

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  status: number;
}

export interface TableField {
  name: string;
  type: string;
  mode?: string;
  description?: string;
  fields?: TableField[];
}

interface StoredTable {
  resource: Record<string, unknown> & { schema: { fields: TableField[] } };
  rows: Record<string, unknown>[];
}

interface StoredJob {
  resource: Record<string, unknown> & { status: Record<string, unknown>; statistics: Record<string, unknown> };
  doneAt: number;
  finished: boolean;
}

export interface BigQueryStandInOptions {
  /** Base URL of the Cloud Storage stand-in that `gs://` URIs are read from. */
  gcsUrl: string;
  /** How long a job stays RUNNING, so clients must poll. */
  jobLatencyMs?: number;
  /** Called before each request is handled; return a status to fail it (e.g. 503 after the job was created). */
  fault?: (req: { method: string; path: string; body: unknown }) => { status: number; afterHandling: boolean } | undefined;
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
  /** SQL of every query job, in order, with whether it was a dry run. */
  queries: { sql: string; dryRun: boolean }[];
  /** Load jobs that were inserted (created, not answered with 409). */
  loadJobs(): Record<string, unknown>[];
  rows(dataset: string, table: string): Record<string, unknown>[];
  setFault(fault: BigQueryStandInOptions["fault"]): void;
  close(): Promise<void>;
}

const TOKEN = "stand-in-access-token";

function apiError(res: ServerResponse, code: number, status: string, message: string, reason: string): number {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { code, message, status, errors: [{ message, domain: "global", reason }] } }));
  return code;
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
  switch (field.type) {
    case "STRING":
      return typeof value === "string" ? undefined : bad;
    case "INT64":
    case "INTEGER":
      return (typeof value === "number" && Number.isInteger(value)) || (typeof value === "string" && /^-?\d+$/.test(value)) ? undefined : bad;
    case "FLOAT64":
    case "FLOAT":
      return typeof value === "number" ? undefined : bad;
    case "BOOL":
    case "BOOLEAN":
      return typeof value === "boolean" ? undefined : bad;
    case "TIMESTAMP":
      return typeof value === "string" && TIMESTAMP.test(value) && !Number.isNaN(Date.parse(value)) ? undefined : bad;
    case "JSON":
      return undefined;
    default:
      return `Unsupported field type ${field.type} for ${field.name}`;
  }
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
  const validators = { IDataset: validator("IDataset"), ITable: validator("ITable"), IJob: validator("IJob") };

  const requests: RecordedRequest[] = [];
  const datasets = new Map<string, Record<string, unknown>>();
  const tables = new Map<string, StoredTable>();
  const jobs = new Map<string, StoredJob>();
  const latency = options.jobLatencyMs ?? 50;
  let issuedTokens = 0;
  let fault = options.fault;
  let baseUrl = "";

  const checkBody = (res: ServerResponse, schema: keyof typeof validators, body: unknown): number | undefined => {
    const v = validators[schema];
    if (v(body)) return undefined;
    const detail = (v.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}${e.params && "additionalProperty" in e.params ? ` (${String(e.params.additionalProperty)})` : ""}`).join("; ");
    return apiError(res, 400, "INVALID_ARGUMENT", `Invalid JSON payload received (${schema}): ${detail}`, "invalid");
  };

  async function readObject(uri: string): Promise<Buffer> {
    const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
    if (!m) throw new Error(`not a gs:// URI: ${uri}`);
    const response = await fetch(`${options.gcsUrl}/download/storage/v1/b/${m[1]}/o/${encodeURIComponent(m[2] ?? "")}?alt=media`);
    if (!response.ok) throw Object.assign(new Error(`Not found: URI ${uri}`), { reason: "notFound" });
    return Buffer.from(await response.arrayBuffer());
  }

  async function runLoad(job: StoredJob): Promise<void> {
    const load = (job.resource.configuration as { load: Record<string, unknown> }).load;
    const dest = load.destinationTable as { projectId: string; datasetId: string; tableId: string };
    const table = tables.get(`${dest.datasetId}.${dest.tableId}`);
    const errors: { reason: string; location: string; message: string }[] = [];
    const accepted: Record<string, unknown>[] = [];
    let inputBytes = 0;
    if (!table) {
      job.resource.status = { state: "DONE", errorResult: { reason: "notFound", message: `Not found: Table ${dest.projectId}:${dest.datasetId}.${dest.tableId}` } };
      return;
    }
    const fields = table.resource.schema.fields;
    for (const uri of load.sourceUris as string[]) {
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
      job.resource.status = {
        state: "DONE",
        errorResult: { reason: "invalid", message: `Error while reading data, error message: JSON table encountered too many errors, giving up. Rows: ${errors.length}; errors: ${errors.length}. Please look into the errors[] collection for more details.` },
        errors,
      };
      return;
    }
    table.rows.push(...accepted);
    job.resource.statistics = {
      ...job.resource.statistics,
      endTime: String(Date.now()),
      load: { inputFiles: String((load.sourceUris as string[]).length), inputFileBytes: String(inputBytes), outputRows: String(accepted.length), badRecords: String(errors.length) },
    };
    job.resource.status = errors.length ? { state: "DONE", errors } : { state: "DONE" };
  }

  /**
   * Query jobs: dry runs are answered as valid (SQL is type-checked offline by `check`, not here) and
   * recorded; of real queries only the DDL the Dataform CLI issues first (CREATE SCHEMA IF NOT EXISTS) runs.
   */
  const queries: { sql: string; dryRun: boolean }[] = [];
  function queryJob(projectId: string, jobId: string, location: string, body: Record<string, unknown>): Record<string, unknown> {
    const configuration = body.configuration as { query: { query: string }; dryRun?: boolean };
    const sql = configuration.query.query;
    queries.push({ sql, dryRun: configuration.dryRun === true });
    const schema = /^\s*create schema if not exists `([^`.]+)\.([^`]+)`\s*$/i.exec(sql);
    if (schema && !configuration.dryRun && !datasets.has(schema[2] ?? "")) {
      datasets.set(schema[2] ?? "", { kind: "bigquery#dataset", id: `${schema[1]}:${schema[2]}`, datasetReference: { projectId: schema[1], datasetId: schema[2] }, location });
    } else if (!configuration.dryRun && !schema) {
      const resource = { kind: "bigquery#job", ...body, jobReference: { projectId, jobId, location }, status: { state: "DONE", errorResult: { reason: "notImplemented", message: "the stand-in executes no SQL except CREATE SCHEMA" } } };
      return resource;
    }
    const now = Date.now();
    const resource = {
      kind: "bigquery#job",
      ...body,
      jobReference: { projectId, jobId, location },
      status: { state: "DONE" },
      statistics: { creationTime: String(now), startTime: String(now), endTime: String(now), totalBytesProcessed: "0", query: { totalBytesProcessed: "0", statementType: schema ? "CREATE_SCHEMA" : "SELECT" } },
    };
    jobs.set(jobId, { resource: resource as StoredJob["resource"], doneAt: now, finished: true });
    return resource;
  }

  /** Semantics the real API enforces beyond the body schema. */
  function loadConfigError(load: Record<string, unknown>): string | undefined {
    const uris = load.sourceUris;
    if (!Array.isArray(uris) || uris.length === 0) return "Load configuration must specify at least one source URI";
    if (uris.length > 10_000) return "Too many source URIs: a load job accepts at most 10,000";
    if (uris.some((u) => typeof u !== "string" || !u.startsWith("gs://"))) return "Source URIs must be Cloud Storage gs:// URIs";
    const formats = ["CSV", "NEWLINE_DELIMITED_JSON", "AVRO", "PARQUET", "ORC", "DATASTORE_BACKUP"];
    if (load.sourceFormat !== undefined && !formats.includes(String(load.sourceFormat))) return `Invalid source format ${String(load.sourceFormat)}`;
    const dest = load.destinationTable as { datasetId?: string; tableId?: string } | undefined;
    if (!dest?.datasetId || !dest.tableId) return "Load configuration must specify a destination table";
    if (load.createDisposition === "CREATE_NEVER" && !tables.has(`${dest.datasetId}.${dest.tableId}`)) return `Not found: Table ${dest.datasetId}.${dest.tableId}`;
    return undefined;
  }

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
      const resource = { kind: "bigquery#dataset", id: `${m[1]}:${ref.datasetId}`, ...(body as object), datasetReference: { projectId: m[1], datasetId: ref.datasetId } };
      datasets.set(ref.datasetId, resource);
      return json(res, resource);
    }
    if ((m = /^\/projects\/([^/]+)\/datasets$/.exec(path)) && method === "GET") {
      return json(res, { kind: "bigquery#datasetList", datasets: [...datasets.values()].map((d) => ({ kind: "bigquery#dataset", id: d.id, datasetReference: d.datasetReference, location: d.location })) });
    }
    if ((m = /^\/projects\/([^/]+)\/datasets\/([^/]+)\/tables$/.exec(path)) && method === "GET") {
      const prefix = `${m[2]}.`;
      const listed = [...tables.entries()].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => ({ kind: "bigquery#table", id: `${m?.[1]}:${k}`, tableReference: t.resource.tableReference, type: t.resource.type ?? "TABLE" }));
      return json(res, { kind: "bigquery#tableList", tables: listed, totalItems: listed.length });
    }
    if ((m = /^\/projects\/([^/]+)\/queries\/([^/]+)$/.exec(path)) && method === "GET") {
      const job = jobs.get(m[2] ?? "");
      if (!job) return apiError(res, 404, "NOT_FOUND", `Not found: Job ${m[1]}:${m[2]}`, "notFound");
      return json(res, { kind: "bigquery#getQueryResultsResponse", jobReference: job.resource.jobReference, jobComplete: true, totalRows: "0", rows: [], schema: { fields: [] } });
    }
    if ((m = /^\/projects\/([^/]+)\/datasets\/([^/]+)$/.exec(path)) && method === "GET") {
      const d = datasets.get(m[2] ?? "");
      return d ? json(res, d) : apiError(res, 404, "NOT_FOUND", `Not found: Dataset ${m[1]}:${m[2]}`, "notFound");
    }
    if ((m = /^\/projects\/([^/]+)\/datasets\/([^/]+)\/tables$/.exec(path)) && method === "POST") {
      const bad = checkBody(res, "ITable", body);
      if (bad) return bad;
      if (!datasets.has(m[2] ?? "")) return apiError(res, 404, "NOT_FOUND", `Not found: Dataset ${m[1]}:${m[2]}`, "notFound");
      const t = body as { tableReference?: { tableId?: string }; schema?: { fields?: TableField[] } };
      if (!t.tableReference?.tableId) return apiError(res, 400, "INVALID_ARGUMENT", "tableReference.tableId is required", "invalid");
      const key = `${m[2]}.${t.tableReference.tableId}`;
      if (tables.has(key)) return apiError(res, 409, "ALREADY_EXISTS", `Already Exists: Table ${m[1]}:${key}`, "duplicate");
      const resource = { kind: "bigquery#table", ...(body as object), schema: { fields: t.schema?.fields ?? [] }, tableReference: { projectId: m[1], datasetId: m[2], tableId: t.tableReference.tableId } } as StoredTable["resource"];
      tables.set(key, { resource, rows: [] });
      return json(res, resource);
    }
    if ((m = /^\/projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/]+)$/.exec(path))) {
      const key = `${m[2]}.${m[3]}`;
      const t = tables.get(key);
      if (!t) return apiError(res, 404, "NOT_FOUND", `Not found: Table ${m[1]}:${key}`, "notFound");
      if (method === "GET") return json(res, { ...t.resource, numRows: String(t.rows.length) });
      if (method === "PATCH") {
        const bad = checkBody(res, "ITable", body);
        if (bad) return bad;
        const next = (body as { schema?: { fields?: TableField[] } }).schema?.fields;
        if (next) {
          // BigQuery allows adding NULLABLE columns and relaxing REQUIRED; never removing or retyping one.
          for (const old of t.resource.schema.fields) {
            const now = next.find((f) => f.name === old.name);
            if (!now) return apiError(res, 400, "INVALID_ARGUMENT", `Provided Schema does not match Table ${key}. Cannot remove field ${old.name}`, "invalid");
            if (now.type !== old.type) return apiError(res, 400, "INVALID_ARGUMENT", `Provided Schema does not match Table ${key}. Field ${old.name} has changed type from ${old.type} to ${now.type}`, "invalid");
          }
          for (const added of next.filter((f) => !t.resource.schema.fields.some((o) => o.name === f.name))) {
            if (added.mode === "REQUIRED") return apiError(res, 400, "INVALID_ARGUMENT", `Provided Schema does not match Table ${key}. Cannot add required field ${added.name}`, "invalid");
          }
          t.resource.schema = { fields: next };
        }
        return json(res, t.resource);
      }
    }
    if ((m = /^\/projects\/([^/]+)\/jobs$/.exec(path)) && method === "POST") {
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
      const job = body as { jobReference?: { jobId?: string; location?: string }; configuration?: { load?: Record<string, unknown> } };
      const jobId = job.jobReference?.jobId;
      if (!jobId || !/^[A-Za-z0-9_-]{1,1024}$/.test(jobId)) return apiError(res, 400, "INVALID_ARGUMENT", `Invalid job ID "${jobId ?? ""}": letters, numbers, dashes and underscores only, at most 1,024 characters`, "invalid");
      if (jobs.has(jobId)) return apiError(res, 409, "ALREADY_EXISTS", `Already Exists: Job ${m[1]}:${job.jobReference?.location ?? "US"}.${jobId}`, "duplicate");
      const query = (job.configuration as { query?: { query?: string }; dryRun?: boolean } | undefined);
      if (query?.query) return json(res, queryJob(m[1] ?? "", jobId, job.jobReference?.location ?? "US", body as Record<string, unknown>));
      const load = job.configuration?.load;
      if (!load) return apiError(res, 501, "UNIMPLEMENTED", "the stand-in runs load and query jobs only", "notImplemented");
      const problem = loadConfigError(load);
      if (problem) return apiError(res, 400, "INVALID_ARGUMENT", problem, "invalid");
      const now = Date.now();
      const stored: StoredJob = {
        resource: {
          kind: "bigquery#job",
          id: `${m[1]}:${job.jobReference?.location ?? "US"}.${jobId}`,
          selfLink: `${baseUrl}/bigquery/v2/projects/${m[1]}/jobs/${jobId}`,
          ...(body as object),
          jobReference: { projectId: m[1], jobId, location: job.jobReference?.location ?? "US" },
          status: { state: "RUNNING" },
          statistics: { creationTime: String(now), startTime: String(now) },
        },
        doneAt: now + latency,
        finished: false,
      };
      jobs.set(jobId, stored);
      return json(res, stored.resource);
    }
    if ((m = /^\/projects\/([^/]+)\/jobs\/([^/]+)$/.exec(path)) && method === "GET") {
      const job = jobs.get(m[2] ?? "");
      if (!job) return apiError(res, 404, "NOT_FOUND", `Not found: Job ${m[1]}:${m[2]}`, "notFound");
      if (!job.finished && Date.now() >= job.doneAt) {
        job.finished = true;
        await runLoad(job);
      }
      return json(res, job.resource);
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
    loadJobs: () => [...jobs.values()].map((j) => j.resource).filter((r) => (r.configuration as { load?: unknown } | undefined)?.load),
    rows: (dataset, table) => tables.get(`${dataset}.${table}`)?.rows ?? [],
    setFault: (next) => {
      fault = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
