/**
 * Cloud Storage stand-in: the Firebase Storage emulator's server (npm firebase-tools), started in-process,
 * behind a small node:http proxy that makes it answer like the real service where the emulator is lenient.
 *
 * The emulator's CLI launcher needs Java for the security-rules runtime, but the Cloud Storage JSON API it
 * serves (`/b/...`, `/upload/storage/v1`, `/download/storage/v1`) is plain JS on express and goes through
 * the admin storage layer, which skips rules. It computes md5Hash and crc32c like GCS, so the client's
 * upload validation is exercised for real. Point `@google-cloud/storage` at the stand-in's `url` with
 * STORAGE_EMULATOR_HOST or `apiEndpoint`; with a custom endpoint the client sends no auth, so nothing
 * leaves 127.0.0.1.
 *
 * What the proxy adds (each rule switchable through `rules`, all on by default; see GcsRule):
 * - `objectMutationRate`: one mutation per second per object name, 429 `rateLimitExceeded` otherwise;
 * - `preconditions`: ifGenerationMatch / ifGenerationNotMatch / ifMetagenerationMatch /
 *   ifMetagenerationNotMatch (and the ifSource* ones on copy/rewrite), which the emulator ignores everywhere
 *   (firebase-tools 15.34, lib/emulator/storage/apis/gcloud.js reads none of them);
 * - `bucketLocation`: `GET /b/{bucket}` (and `/storage/v1/b/{bucket}`) answers a bucket resource with
 *   `location` and `locationType`; the emulator has no bucket GET route at all (it answers 404).
 * Always on: `/storage/v1/b/...` paths are accepted like `/b/...` (the emulator serves some routes only in
 * one spelling), and every request is recorded in `requests` for benchmarks (see `counts()`).
 */
import { request as httpRequest, createServer, Agent, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const base = "firebase-tools/lib/emulator";

interface StoredMetadataLike {
  generation: number | string;
  metageneration: number | string;
}

interface StorageLayerLike {
  getMetadata(bucket: string, object: string): StoredMetadataLike | undefined;
  createBucket(id: string): void;
}

interface EmulatorLike {
  args: { port: number };
  adminStorageLayer: StorageLayerLike;
  reset(): void;
}

/** Documented Cloud Storage behaviours the stand-in enforces on top of the emulator. */
export type GcsRule = "objectMutationRate" | "preconditions" | "bucketLocation";

export interface GcsStandInOptions {
  /** Bucket name -> location, e.g. `{ "aw-staging": "EU" }`; answered uppercase, as GCS does. */
  bucketLocations?: Record<string, string>;
  /** Location of every bucket not in `bucketLocations`. Default "US" (GCS's default for new buckets). */
  defaultLocation?: string;
  /** Switch rules off (all on by default). */
  rules?: Partial<Record<GcsRule, boolean>>;
}

/**
 * What a request did, for accounting:
 * - `media`: object data download; `metadata`: object metadata get; together they are `objectReads`;
 * - `list`: object listing (one per page);
 * - `write`: anything that creates or changes an object or opens an upload session (simple/multipart
 *   upload, resumable start and finalize, copy, rewrite, compose, metadata patch/update);
 * - `delete`: object delete; `bucket`: bucket get/list; `other`: anything else.
 */
export type GcsRequestKind = "media" | "metadata" | "list" | "write" | "delete" | "bucket" | "other";

export type GcsOperation =
  | "objects.get"
  | "objects.download"
  | "objects.list"
  | "objects.insert"
  | "objects.resumableStart"
  | "objects.resumableFinalize"
  | "objects.copy"
  | "objects.rewrite"
  | "objects.compose"
  | "objects.patch"
  | "objects.delete"
  | "buckets.get"
  | "buckets.list"
  | "other";

export interface GcsRequestRecord {
  method: string;
  /** Path as sent (URL-encoded), without the query string. */
  path: string;
  query: Record<string, string>;
  status: number;
  kind: GcsRequestKind;
  operation: GcsOperation;
  bucket?: string;
  /** Object name, decoded (the destination for copy/rewrite/compose). */
  object?: string;
  /** Which rule answered the request instead of the emulator, if any. */
  rejectedBy?: GcsRule;
  /** "client-library" when the request carries a Google client library's x-goog-api-client header, else "other" (e.g. the BigQuery stand-in's own reads). */
  via: "client-library" | "other";
  at: number;
}

export interface GcsRequestCounts {
  /** media + metadata. */
  objectReads: number;
  media: number;
  metadata: number;
  list: number;
  write: number;
  delete: number;
  bucket: number;
  other: number;
  total: number;
  /** Requests answered 429 by the mutation-rate rule. */
  rateLimited: number;
  /** Requests answered 412 or 304 by the precondition rule. */
  preconditionFailed: number;
}

export interface GcsStandIn {
  url: string;
  /** Current rule switches; mutable, e.g. `gcs.rules.objectMutationRate = false`. */
  rules: Record<GcsRule, boolean>;
  /** Every request, in order of completion. */
  requests: GcsRequestRecord[];
  /** Request counts by kind, optionally over a subset (e.g. `(r) => r.via === "client-library"`). */
  counts(filter?: (r: GcsRequestRecord) => boolean): GcsRequestCounts;
  clearRequests(): void;
  /** Location answered for a bucket. */
  bucketLocation(bucket: string): string;
  /**
   * IAM permissions the caller lacks (empty: it has them all): `GET /b/{bucket}/iam/testPermissions`
   * (buckets.testIamPermissions, which the emulator lacks) leaves them out of its answer. Mutable.
   */
  deniedPermissions: Set<string>;
  close(): Promise<void>;
  /** Drops every object, upload session, rate-limit clock and request record. */
  reset(): void;
}

// https://cloud.google.com/storage/docs/locations: multi-regions and predefined dual-regions; every other
// location is a region. The bucket resource's `locationType` is "multi-region", "dual-region" or "region"
// (https://cloud.google.com/storage/docs/json_api/v1/buckets#resource).
const MULTI_REGIONS = new Set(["US", "EU", "ASIA"]);
const DUAL_REGIONS = new Set(["ASIA1", "EUR4", "EUR5", "EUR7", "EUR8", "NAM4"]);

export function locationType(location: string): "multi-region" | "dual-region" | "region" {
  const l = location.toUpperCase();
  if (MULTI_REGIONS.has(l)) return "multi-region";
  if (DUAL_REGIONS.has(l)) return "dual-region";
  return "region";
}

/**
 * One object mutation per second per object name. https://cloud.google.com/storage/quotas ("Objects":
 * maximum rate of writes to the same object name, one write per second; maximum rate of object metadata
 * updates to the same object, one update per second) and https://cloud.google.com/storage/docs/objects
 * (an object can only be updated or overwritten up to once per second; faster updates get 429). GCS's
 * answer names the operations: "create, update, and delete" — uploads, copy/rewrite/compose onto the
 * name, metadata patch/update and delete all count, against one clock per object name.
 * Error shape: https://cloud.google.com/storage/docs/json_api/v1/status-codes (429 Too Many Requests,
 * reason rateLimitExceeded).
 */
const MUTATION_INTERVAL_MS = 1000;

/** Generation and metageneration preconditions: https://cloud.google.com/storage/docs/request-preconditions. */
const PRECONDITION_PARAMS = ["ifGenerationMatch", "ifGenerationNotMatch", "ifMetagenerationMatch", "ifMetagenerationNotMatch"] as const;
const SOURCE_PRECONDITION_PARAMS = ["ifSourceGenerationMatch", "ifSourceGenerationNotMatch", "ifSourceMetagenerationMatch", "ifSourceMetagenerationNotMatch"] as const;
type PreconditionParam = (typeof PRECONDITION_PARAMS)[number];

interface Route {
  operation: GcsOperation;
  kind: GcsRequestKind;
  bucket?: string;
  object?: string;
  source?: { bucket: string; object: string };
  /** Path to forward to the emulator (its own spelling). */
  forwardPath: string;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Classifies a JSON API request; the object names come from the path's encoded segments. */
function route(method: string, rawPath: string, query: URLSearchParams, uploadProtocol: string | undefined): Route {
  let prefix: "" | "upload" | "download" = "";
  let rest = rawPath;
  if (rest.startsWith("/upload/storage/v1/")) {
    prefix = "upload";
    rest = rest.slice("/upload/storage/v1".length);
  } else if (rest.startsWith("/download/storage/v1/")) {
    prefix = "download";
    rest = rest.slice("/download/storage/v1".length);
  } else if (rest.startsWith("/storage/v1/") || rest === "/storage/v1/b") {
    rest = rest.slice("/storage/v1".length);
  }
  // The emulator serves uploads and downloads under their prefix, the rest of the JSON API under /b.
  const forwardPath = prefix ? rawPath : rest;
  const parts = rest.split("/").slice(1);
  const other: Route = { operation: "other", kind: "other", forwardPath: rawPath };
  if (parts[0] !== "b") return other;
  if (parts.length === 1) return method === "GET" && !prefix ? { operation: "buckets.list", kind: "bucket", forwardPath } : other;
  const bucket = decode(parts[1] ?? "");
  if (parts.length === 2) return method === "GET" && !prefix ? { operation: "buckets.get", kind: "bucket", bucket, forwardPath } : other;
  if (parts[2] !== "o") return { ...other, bucket };
  if (parts.length === 3) {
    if (prefix === "upload" && method === "POST") {
      // The upload type is a query parameter, or the X-Goog-Upload-Protocol header (which the emulator also reads).
      const resumable = (query.get("uploadType") ?? uploadProtocol) === "resumable";
      return { operation: resumable ? "objects.resumableStart" : "objects.insert", kind: "write", bucket, forwardPath };
    }
    if (prefix === "upload" && method === "PUT") return { operation: "objects.resumableFinalize", kind: "write", bucket, forwardPath };
    if (method === "GET" && !prefix) return { operation: "objects.list", kind: "list", bucket, forwardPath };
    return { ...other, bucket };
  }
  const object = decode(parts[3] ?? "");
  if (parts.length === 4) {
    if (method === "GET") {
      const media = prefix === "download" || query.get("alt") === "media";
      return media ? { operation: "objects.download", kind: "media", bucket, object, forwardPath } : { operation: "objects.get", kind: "metadata", bucket, object, forwardPath };
    }
    if ((method === "PATCH" || method === "PUT") && !prefix) return { operation: "objects.patch", kind: "write", bucket, object, forwardPath };
    if (method === "DELETE" && !prefix) return { operation: "objects.delete", kind: "delete", bucket, object, forwardPath };
    return { ...other, bucket, object };
  }
  if (method === "POST" && parts.length === 5 && parts[4] === "compose") return { operation: "objects.compose", kind: "write", bucket, object, forwardPath };
  // b/{bucket}/o/{object}/copyTo|rewriteTo/b/{destBucket}/o/{destObject}
  if (method === "POST" && parts.length === 9 && (parts[4] === "copyTo" || parts[4] === "rewriteTo") && parts[5] === "b" && parts[7] === "o") {
    return {
      operation: parts[4] === "copyTo" ? "objects.copy" : "objects.rewrite",
      kind: "write",
      bucket: decode(parts[6] ?? ""),
      object: decode(parts[8] ?? ""),
      source: { bucket, object },
      forwardPath,
    };
  }
  return { ...other, bucket, object };
}

function errorBody(code: number, message: string, reason: string, domain = "global", extra: Record<string, string> = {}): string {
  return JSON.stringify({ error: { code, message, errors: [{ message, domain, reason, ...extra }] } });
}

type PreconditionOutcome = { ok: true } | { ok: false; status: 304 | 412 | 400; body: string };

const PRECONDITION_FAILED = "At least one of the pre-conditions you specified did not hold.";

/**
 * Evaluates generation/metageneration preconditions against the live object (undefined: none exists).
 * https://cloud.google.com/storage/docs/request-preconditions: ifGenerationMatch and ifMetagenerationMatch
 * fail with 412 Precondition Failed; ifGenerationNotMatch and ifMetagenerationNotMatch fail with
 * 304 Not Modified. ifGenerationMatch=0 means "only if no live object exists"; ifGenerationNotMatch fails
 * when no live object exists (JSON API objects.insert reference: "If no live object exists, the
 * precondition fails"; 0 means "only if a live version exists").
 */
function checkPreconditions(values: Partial<Record<PreconditionParam, string>>, live: StoredMetadataLike | undefined): PreconditionOutcome {
  const parsed: Partial<Record<PreconditionParam, bigint>> = {};
  for (const key of PRECONDITION_PARAMS) {
    const v = values[key];
    if (v === undefined) continue;
    if (!/^-?\d+$/.test(v)) return { ok: false, status: 400, body: errorBody(400, `Invalid argument for ${key}: ${v}`, "invalid") };
    parsed[key] = BigInt(v);
  }
  const failed412: PreconditionOutcome = { ok: false, status: 412, body: errorBody(412, PRECONDITION_FAILED, "conditionNotMet", "global", { locationType: "header", location: "If-Match" }) };
  const notModified: PreconditionOutcome = { ok: false, status: 304, body: "" };
  const generation = live === undefined ? 0n : BigInt(live.generation);
  const metageneration = live === undefined ? undefined : BigInt(live.metageneration);
  if (parsed.ifGenerationMatch !== undefined && parsed.ifGenerationMatch !== generation) return failed412;
  if (parsed.ifMetagenerationMatch !== undefined && parsed.ifMetagenerationMatch !== metageneration) return failed412;
  if (parsed.ifGenerationNotMatch !== undefined) {
    if (live === undefined) return failed412;
    if (parsed.ifGenerationNotMatch === generation) return notModified;
  }
  if (parsed.ifMetagenerationNotMatch !== undefined && metageneration !== undefined && parsed.ifMetagenerationNotMatch === metageneration) return notModified;
  return { ok: true };
}

function pick(query: URLSearchParams, keys: readonly string[], rename: (k: string) => PreconditionParam = (k) => k as PreconditionParam): Partial<Record<PreconditionParam, string>> {
  const out: Partial<Record<PreconditionParam, string>> = {};
  for (const key of keys) {
    const v = query.get(key);
    if (v !== null) out[rename(key)] = v;
  }
  return out;
}

const sourceToPlain = (k: string): PreconditionParam => (k.replace("ifSource", "if") as PreconditionParam);

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Object name of a multipart upload that has no `name` query parameter: the JSON metadata part's `name`. */
function multipartName(contentType: string | undefined, body: Buffer): string | undefined {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType ?? "")?.[1];
  if (!boundary) return undefined;
  const text = body.toString("latin1");
  const start = text.indexOf(`--${boundary}`);
  const headersEnd = text.indexOf("\r\n\r\n", start);
  const next = text.indexOf(`--${boundary}`, headersEnd);
  if (start < 0 || headersEnd < 0 || next < 0) return undefined;
  try {
    const meta = JSON.parse(Buffer.from(text.slice(headersEnd + 4, next).trim(), "latin1").toString("utf8")) as { name?: unknown };
    return typeof meta.name === "string" ? meta.name : undefined;
  } catch {
    return undefined;
  }
}

export async function startGcsStandIn(projectId = "stand-in-project", options: GcsStandInOptions = {}): Promise<GcsStandIn> {
  const { StorageEmulator } = require(`${base}/storage/index.js`) as { StorageEmulator: new (args: Record<string, unknown>) => EmulatorLike };
  const { createApp } = require(`${base}/storage/server.js`) as { createApp: (p: string, e: EmulatorLike) => Promise<{ listen: (port: number, host: string) => Server }> };
  const { EmulatorRegistry } = require(`${base}/registry.js`) as { EmulatorRegistry: { set(name: string, e: EmulatorLike): void; clear(name: string): void } };

  const emulator = new StorageEmulator({ projectId, host: "127.0.0.1", port: 0, rules: [], auto_download: false });
  const app = await createApp(projectId, emulator);
  const upstream = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => upstream.once("listening", () => resolve()));
  const upstreamPort = (upstream.address() as AddressInfo).port;
  const agent = new Agent({ keepAlive: true });
  const storage = emulator.adminStorageLayer;

  const rules: Record<GcsRule, boolean> = { objectMutationRate: true, preconditions: true, bucketLocation: true, ...options.rules };
  const locations = new Map(Object.entries(options.bucketLocations ?? {}).map(([b, l]) => [b, l.toUpperCase()]));
  const defaultLocation = (options.defaultLocation ?? "US").toUpperCase();
  const bucketLocation = (bucket: string) => locations.get(bucket) ?? defaultLocation;

  const requests: GcsRequestRecord[] = [];
  /** Completion time of the last successful mutation per "bucket/object". */
  const lastMutation = new Map<string, number>();
  /** Preconditions given when a resumable upload was started, by upload_id: GCS applies them when it completes. */
  const sessions = new Map<string, { bucket: string; object: string; preconditions: Partial<Record<PreconditionParam, string>> }>();
  /** Per-object queue, so a check and the write it guards are atomic as in GCS. */
  const locks = new Map<string, Promise<void>>();
  let url = "";

  async function lock(key: string): Promise<() => void> {
    const previous = locks.get(key) ?? Promise.resolve();
    let release = () => {};
    const current = new Promise<void>((resolve) => (release = resolve));
    const chained = previous.then(() => current);
    locks.set(key, chained);
    await previous;
    return () => {
      release();
      if (locks.get(key) === chained) locks.delete(key);
    };
  }

  /** Sends the request on to the emulator and streams its answer back; resolves with its status and headers. */
  function forward(req: IncomingMessage, res: ServerResponse, path: string, search: string, body: Buffer | undefined): Promise<{ status: number; headers: IncomingMessage["headers"] }> {
    return new Promise((resolve, reject) => {
      const headers = { ...req.headers };
      const upstreamReq = httpRequest({ host: "127.0.0.1", port: upstreamPort, method: req.method, path: `${path}${search}`, headers, agent }, (upstreamRes) => {
        const status = upstreamRes.statusCode ?? 502;
        res.writeHead(status, upstreamRes.statusMessage, upstreamRes.headers);
        upstreamRes.pipe(res);
        upstreamRes.on("end", () => resolve({ status, headers: upstreamRes.headers }));
        upstreamRes.on("error", reject);
      });
      upstreamReq.on("error", reject);
      if (body) upstreamReq.end(body);
      else req.pipe(upstreamReq);
    });
  }

  function answer(res: ServerResponse, status: number, body: string): number {
    if (status === 304) res.writeHead(304).end();
    else res.writeHead(status, { "content-type": "application/json; charset=UTF-8" }).end(body);
    return status;
  }

  /**
   * A bucket resource as objects of kind storage#bucket look in the JSON API
   * (https://cloud.google.com/storage/docs/json_api/v1/buckets#resource): `location` in uppercase, as the
   * location names are listed in https://cloud.google.com/storage/docs/locations, and `locationType`.
   */
  function bucketResource(bucket: string): Record<string, unknown> {
    const location = bucketLocation(bucket);
    const created = "2026-01-01T00:00:00.000Z";
    return {
      kind: "storage#bucket",
      selfLink: `${url}/storage/v1/b/${encodeURIComponent(bucket)}`,
      id: bucket,
      name: bucket,
      projectNumber: "000000000000",
      metageneration: "1",
      location,
      locationType: locationType(location),
      storageClass: "STANDARD",
      etag: "CAE=",
      timeCreated: created,
      updated: created,
      iamConfiguration: { bucketPolicyOnly: { enabled: true }, uniformBucketLevelAccess: { enabled: true }, publicAccessPrevention: "inherited" },
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = new URL(req.url ?? "/", "http://stand-in");
    const method = (req.method ?? "GET").toUpperCase();
    const protocol = req.headers["x-goog-upload-protocol"];
    const r = route(method, parsed.pathname, parsed.searchParams, typeof protocol === "string" ? protocol : undefined);
    const apiClient = req.headers["x-goog-api-client"];
    const record: GcsRequestRecord = {
      method,
      path: parsed.pathname,
      query: Object.fromEntries(parsed.searchParams),
      status: 0,
      kind: r.kind,
      operation: r.operation,
      via: typeof apiClient === "string" && apiClient.includes("gccl/") ? "client-library" : "other",
      at: Date.now(),
    };
    if (r.bucket !== undefined) record.bucket = r.bucket;
    if (r.object !== undefined) record.object = r.object;
    try {
      record.status = await dispatch(req, res, r, parsed, record);
    } catch (error) {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" }).end(errorBody(500, (error as Error).message, "backendError"));
      else res.destroy();
      record.status = 500;
    }
    requests.push(record);
  }

  const deniedPermissions = new Set<string>();

  async function dispatch(req: IncomingMessage, res: ServerResponse, r: Route, parsed: URL, record: GcsRequestRecord): Promise<number> {
    const query = parsed.searchParams;
    const search = parsed.search;

    const iam = /^(?:\/storage\/v1)?\/b\/([^/]+)\/iam\/testPermissions$/.exec(parsed.pathname);
    if (iam && req.method === "GET") {
      // buckets.testIamPermissions (https://cloud.google.com/storage/docs/json_api/v1/buckets/testIamPermissions):
      // the subset of the `permissions` asked that the caller has.
      await readBody(req);
      const granted = query.getAll("permissions").filter((p) => !deniedPermissions.has(p));
      return answer(res, 200, JSON.stringify({ kind: "storage#testIamPermissionsResponse", permissions: granted }));
    }

    if (r.operation === "buckets.get" && rules.bucketLocation && r.bucket !== undefined) {
      // The emulator creates buckets on first use, so every bucket name exists here; GCS would answer 404
      // for one never created. Registering it keeps the emulator's bucket list consistent.
      storage.createBucket(r.bucket);
      await readBody(req);
      res.writeHead(200, { "content-type": "application/json; charset=UTF-8" }).end(JSON.stringify(bucketResource(r.bucket)));
      return 200;
    }

    const isMutation = (r.kind === "write" && r.operation !== "objects.resumableStart") || r.kind === "delete";
    const guarded = isMutation || r.operation === "objects.get" || r.operation === "objects.download";
    if (!guarded) {
      if (r.operation === "objects.resumableStart" && r.bucket !== undefined) {
        const body = await readBody(req);
        let name = query.get("name") ?? undefined;
        if (name === undefined) {
          try {
            const meta = JSON.parse(body.toString("utf8") || "{}") as { name?: unknown };
            if (typeof meta.name === "string") name = meta.name;
          } catch {
            // the emulator answers 400
          }
        }
        const { status, headers } = await forward(req, res, r.forwardPath, search, body);
        const location = headers.location;
        const uploadId = typeof location === "string" ? new URL(location).searchParams.get("upload_id") : null;
        if (status === 200 && uploadId && name !== undefined) {
          record.object = name.replace(/^\//, "");
          sessions.set(uploadId, { bucket: r.bucket, object: record.object, preconditions: pick(query, PRECONDITION_PARAMS) });
        }
        return status;
      }
      return (await forward(req, res, r.forwardPath, search, undefined)).status;
    }

    // Guarded: buffer the body first so the per-object lock is held only while the emulator works.
    const body = await readBody(req);
    let bucket = r.bucket;
    let object = r.object;
    let preconditions = pick(query, PRECONDITION_PARAMS);
    if (r.operation === "objects.insert") {
      object = query.get("name") ?? multipartName(req.headers["content-type"], body);
      if (object !== undefined) object = object.replace(/^\//, "");
    } else if (r.operation === "objects.resumableFinalize") {
      const session = sessions.get(query.get("upload_id") ?? "");
      if (session) {
        bucket = session.bucket;
        object = session.object;
        preconditions = session.preconditions;
      }
    }
    if (object !== undefined) record.object = object;
    if (bucket === undefined || object === undefined) return (await forward(req, res, r.forwardPath, search, body)).status;

    const key = `${bucket}/${object}`;
    const release = await lock(key);
    try {
      if (rules.preconditions) {
        if (r.source) {
          // Source preconditions of copy/rewrite: https://cloud.google.com/storage/docs/request-preconditions.
          const source = storage.getMetadata(r.source.bucket, r.source.object);
          if (source) {
            const outcome = checkPreconditions(pick(query, SOURCE_PRECONDITION_PARAMS, sourceToPlain), source);
            if (!outcome.ok) {
              record.rejectedBy = "preconditions";
              return answer(res, outcome.status, outcome.body);
            }
          }
        }
        const live = storage.getMetadata(bucket, object);
        // Reads, patches and deletes of a missing object are the emulator's 404; writes are checked against "no object".
        const creates = r.operation === "objects.insert" || r.operation === "objects.resumableFinalize" || r.operation === "objects.copy" || r.operation === "objects.rewrite" || r.operation === "objects.compose";
        if (live || creates) {
          const outcome = checkPreconditions(preconditions, live);
          if (!outcome.ok) {
            record.rejectedBy = "preconditions";
            return answer(res, outcome.status, outcome.body);
          }
        }
      }
      if (isMutation && rules.objectMutationRate) {
        const last = lastMutation.get(key);
        if (last !== undefined && Date.now() - last < MUTATION_INTERVAL_MS) {
          record.rejectedBy = "objectMutationRate";
          const message = `The object ${key} exceeded the rate limit for object mutation operations (create, update, and delete). Please reduce your request rate. See https://cloud.google.com/storage/docs/gcs429.`;
          return answer(res, 429, errorBody(429, message, "rateLimitExceeded", "usageLimits"));
        }
      }
      const { status } = await forward(req, res, r.forwardPath, search, body);
      if (isMutation && status >= 200 && status < 300) {
        lastMutation.set(key, Date.now());
        if (r.operation === "objects.resumableFinalize") sessions.delete(query.get("upload_id") ?? "");
      }
      return status;
    } finally {
      release();
    }
  }

  const proxy = createServer((req, res) => {
    void handle(req, res);
  });
  // Node closes an idle keep-alive connection after 5 s by default; a client that reuses the socket at
  // that moment writes into a closed pipe (EPIPE). Google's front ends keep idle connections far longer,
  // so the stand-in does too: a loaded test machine must not turn the race into a failed upload.
  proxy.keepAliveTimeout = 120_000;
  proxy.headersTimeout = 121_000;
  proxy.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => proxy.once("listening", () => resolve()));
  // Bucket and object metadata build self links from the registry's host and port: make them the proxy's.
  emulator.args.port = (proxy.address() as AddressInfo).port;
  EmulatorRegistry.set("storage", emulator);
  url = `http://127.0.0.1:${emulator.args.port}`;

  const emptyCounts = (): GcsRequestCounts => ({ objectReads: 0, media: 0, metadata: 0, list: 0, write: 0, delete: 0, bucket: 0, other: 0, total: 0, rateLimited: 0, preconditionFailed: 0 });
  return {
    url,
    rules,
    requests,
    counts(filter) {
      const c = emptyCounts();
      for (const r of filter ? requests.filter(filter) : requests) {
        c[r.kind] += 1;
        c.total += 1;
        if (r.rejectedBy === "objectMutationRate") c.rateLimited += 1;
        if (r.rejectedBy === "preconditions") c.preconditionFailed += 1;
      }
      c.objectReads = c.media + c.metadata;
      return c;
    },
    clearRequests: () => {
      requests.length = 0;
    },
    bucketLocation,
    deniedPermissions,
    reset: () => {
      emulator.reset();
      lastMutation.clear();
      sessions.clear();
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        EmulatorRegistry.clear("storage");
        agent.destroy();
        proxy.closeAllConnections();
        upstream.closeAllConnections();
        proxy.close(() => upstream.close(() => resolve()));
      }),
  };
}
