/**
 * `actions-warehouse serve`: signed GitHub webhooks and the bearer-token CI-events API land in the
 * warehouse's raw tables within seconds (DuckDB). Deliveries are acknowledged only once durable in the
 * spool (serve/spool.ts); the flusher (serve/flusher.ts) loads the spool every `--flush-seconds` through
 * the extractor's own row builders and batch writer (serve/events.ts) and runs the incremental transform
 * at most every `--transform-seconds`. `serve` holds the warehouse lock for its whole life.
 */
import { timingSafeEqual, createHash } from "node:crypto";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { verify } from "@octokit/webhooks-methods";
import { z } from "zod";
import { acquireWarehouseLock, type WarehouseLock } from "../load/warehouse-lock.js";
import type { Logger } from "../log/logger.js";
import type { ServeConfig } from "./config.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { Spool, ciEventKey, spoolDirOf, webhookKey, type SpoolEntry } from "./spool.js";
import { Flusher, loadedDeliveryKeys, type FlushResult } from "./flusher.js";
import { githubObjectEvent, WEBHOOK_EVENTS } from "./events.js";
import { Poller } from "./poll.js";
import { BigQuerySink, type BigQuerySinkOptions } from "./bigquery-sink.js";
import { RedeliverTimer } from "./redeliver-timer.js";
import { PACKAGE_VERSION, registerApi } from "./api.js";
import { registerWall } from "./wall/index.js";
import { AlertsTimer } from "./alerts-timer.js";
import { registerAlertsApi } from "./alerts-api.js";

/** GitHub caps webhook payloads at 25 MB. */
export const MAX_BODY_BYTES = 25 * 1024 * 1024;

const STORED_EVENTS: ReadonlySet<string> = new Set(WEBHOOK_EVENTS);
/** Events named in metrics labels; anything else is `other` (labels stay bounded). */
const LABEL_EVENTS: ReadonlySet<string> = new Set([...WEBHOOK_EVENTS, "ping"]);
const eventLabel = (event: string | undefined): string => (event && LABEL_EVENTS.has(event) ? event : "other");

export interface ServeServer {
  app: FastifyInstance;
  url: string;
  port: number;
  spool: Spool;
  flusher: Flusher;
  metrics: Metrics;
  /** The scheduled extract (`--poll-every`), when configured: `poller.poll()` runs one now. */
  poller: Poller | undefined;
  /** `--warehouse bigquery`: ships the deliveries to BigQuery every --flush-seconds; `bigquery.ship()` ships now. */
  bigquery: BigQuerySink | undefined;
  /** The redelivery check (`--redeliver-every`), when configured: `redeliverer.run()` runs one now. */
  redeliverer: RedeliverTimer | undefined;
  /** The alert evaluation (alerts.yml present, not --no-alerts): `alerts.evaluate()` runs one now. */
  alerts: AlertsTimer | undefined;
  /** Loads the spool now (and transforms: "due" by default, "force", or "never"). */
  flush(opts?: { transform?: "due" | "force" | "never" }): Promise<FlushResult>;
  /** Stops accepting, finishes in-flight requests, flushes, releases the lock. */
  close(): Promise<void>;
}

export interface ServeOptions {
  log: Logger;
  /** Set false in tests that drive flushes themselves. Default true. */
  timers?: boolean;
  /** `--warehouse bigquery` clients and step observer (tests simulate a crash between steps with it). */
  bigquery?: Pick<BigQuerySinkOptions, "onStep" | "bigquery" | "staging" | "pollMs">;
  /** The clock of the alert evaluation and the ack endpoint (tests move it past a repeat interval). */
  alertsClock?: () => Date;
}

function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== "string") return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match?.[1];
}

const header = (request: FastifyRequest, name: string): string | undefined => {
  const v = request.headers[name];
  return typeof v === "string" && v.length > 0 ? v : undefined;
};

/** Checks `sha256=...` over the raw bytes against every secret in turn (rotation); constant time per check. */
export async function verifySignature(secrets: string[], raw: string, signature: string | undefined): Promise<boolean> {
  if (!signature || raw.length === 0) return false;
  let ok = false;
  // Every secret is tried, so the answer time does not tell which one matched.
  for (const secret of secrets) {
    try {
      if (await verify(secret, raw, signature)) ok = true;
    } catch {
      // malformed input: not a match
    }
  }
  return ok;
}

/**
 * The JSON of a delivery, with the text it was parsed from: GitHub sends `application/json`, or a form
 * with a `payload` field.
 */
function parseBody(raw: string, contentType: string | undefined): { body: Record<string, unknown>; json: string } | undefined {
  let text = raw;
  if (contentType?.startsWith("application/x-www-form-urlencoded")) text = new URLSearchParams(raw).get("payload") ?? "";
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? { body: parsed as Record<string, unknown>, json: text } : undefined;
  } catch {
    return undefined;
  }
}

const ciEventSchema = z.looseObject({
  event_id: z.string().min(1).max(200),
  event_name: z.string().min(1).max(100),
  repository: z.union([z.string().min(1), z.looseObject({ full_name: z.string().min(1) })]),
});

export async function startServe(config: ServeConfig, options: ServeOptions): Promise<ServeServer> {
  const { log } = options;
  const lock: WarehouseLock = acquireWarehouseLock(config.duckdbPath, "serve", {
    onTakeover: (previous, reason) => log.warn("stale warehouse lock taken over", { pid: previous.pid, reason }),
  });
  let spool: Spool;
  try {
    spool = await Spool.open(spoolDirOf(config.duckdbPath), await loadedDeliveryKeys(config.duckdbPath));
  } catch (error) {
    lock.release();
    throw error;
  }
  const metrics = createMetrics({ prefix: config.metricsPrefix });
  let sink: BigQuerySink | undefined;
  try {
    sink = config.bigquery ? await BigQuerySink.open({ config: config.bigquery, duckdbPath: config.duckdbPath, log, onError: () => metrics.processingError(), ...options.bigquery }) : undefined;
  } catch (error) {
    await spool.close();
    lock.release();
    throw error;
  }
  sink?.registerMetrics(metrics.registry, config.metricsPrefix);
  const flusher = new Flusher({ duckdbPath: config.duckdbPath, stagingDir: config.stagingDir, spool, transformSeconds: config.transformSeconds, log, ...(sink ? { retainSegment: sink.retain } : {}) });
  const { everyMs, ...scope } = config.poll ?? { everyMs: 0 };
  // The reconciliation: the scheduled extract, run here under the lock this process holds.
  const poller = config.poll ? new Poller({ everyMs, duckdbPath: config.duckdbPath, stagingDir: config.stagingDir, extract: scope, flusher, log, onError: () => metrics.processingError() }) : undefined;
  // Missed deliveries: serve asks GitHub to deliver them again, to its own POST /webhook.
  const redeliverer = config.redeliver
    ? new RedeliverTimer({
        everyMs: config.redeliver.everyMs,
        hooks: config.redeliver.hooks,
        log,
        onResult: (r) => {
          metrics.redeliveries("redelivered", r.redelivered);
          metrics.redeliveries("failed", r.failedToRedeliver);
        },
        onError: () => metrics.processingError(),
      })
    : undefined;
  // The alert rules, every --alerts-every (default 1m), through the flusher (serve/alerts-timer.ts).
  const alerts = config.alerts
    ? new AlertsTimer({ everyMs: config.alerts.everyMs, rules: config.alerts.rules, channels: config.alertChannels ?? new Map(), duckdbPath: config.duckdbPath, flusher, log, ...(options.alertsClock ? { now: options.alertsClock } : {}) })
    : undefined;
  alerts?.registerMetrics(metrics.registry, config.metricsPrefix);
  if (config.alertsSkipped) log.warn(config.alertsSkipped);
  const started = Date.now();
  let accepting = true;

  const app = Fastify({ logger: false, bodyLimit: MAX_BODY_BYTES, forceCloseConnections: false });
  // Raw bytes for every content type: the signature is over the exact body.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: MAX_BODY_BYTES }, (_request, body, done) => done(null, body));

  const rawOf = (request: FastifyRequest): string => (Buffer.isBuffer(request.body) ? request.body.toString("utf8") : "");

  /** `bodyJson`: the JSON text `entry.body` was parsed from, written to the spool as it came. */
  async function store(entry: SpoolEntry, bodyJson: string, reply: FastifyReply, event: string): Promise<FastifyReply> {
    let duplicate: boolean;
    try {
      ({ duplicate } = await spool.append(entry, bodyJson));
    } catch (error) {
      metrics.processingError();
      log.error("spool append failed", { error: error instanceof Error ? error.message : String(error) });
      return reply.code(503).send({ ok: false, error: "the delivery could not be stored durably; retry" });
    }
    metrics.delivery(eventLabel(event), duplicate ? "duplicate" : "accepted");
    if (!duplicate && (event === "workflow_run" || event === "workflow_job")) {
      try {
        metrics.observe(event, entry.body);
      } catch (error) {
        metrics.processingError();
        log.warn("metrics observation failed", { error: error instanceof Error ? error.message : String(error) });
      }
    }
    return reply.code(duplicate ? 200 : 202).send({ ok: true, duplicate, delivery: entry.delivery });
  }

  app.addHook("onRequest", async (request, reply) => {
    if (!accepting && request.method === "POST") await reply.code(503).header("connection", "close").send({ ok: false, error: "shutting down" });
  });

  // Bodies over 25 MB are refused by fastify before the handler: counted here.
  app.addHook("onResponse", async (request, reply) => {
    if (reply.statusCode === 413 && request.url.startsWith("/webhook")) metrics.delivery(eventLabel(header(request, "x-github-event")), "malformed");
  });

  app.post("/webhook", async (request, reply) => {
    const event = header(request, "x-github-event");
    const raw = rawOf(request);
    if (!(await verifySignature(config.webhookSecrets, raw, header(request, "x-hub-signature-256")))) {
      metrics.delivery(eventLabel(event), "bad_signature");
      return reply.code(401).send({ ok: false, error: "missing or wrong X-Hub-Signature-256" });
    }
    const delivery = header(request, "x-github-delivery");
    const parsed = parseBody(raw, header(request, "content-type"));
    if (!event || !delivery || !parsed) {
      metrics.delivery(eventLabel(event), "malformed");
      return reply.code(400).send({ ok: false, error: !event ? "missing X-GitHub-Event" : !delivery ? "missing X-GitHub-Delivery" : "the body is not a JSON object" });
    }
    if (event === "ping") {
      metrics.delivery("ping", "accepted");
      return reply.code(200).send({ ok: true, pong: true });
    }
    if (!STORED_EVENTS.has(event)) {
      metrics.delivery("other", "ignored");
      return reply.code(202).send({ ok: true, ignored: true, event });
    }
    const hookId = header(request, "x-github-hook-id") ?? null;
    return store({ received_at: new Date().toISOString(), source: "webhook", event, delivery, hook_id: hookId, key: webhookKey(hookId, delivery), body: parsed.body }, parsed.json, reply, event);
  });

  app.post("/api/ci-events", async (request, reply) => {
    if (!config.ingestToken) return reply.code(404).send({ ok: false, error: "the CI-events API is off: set INGEST_TOKEN" });
    const token = bearer(request);
    if (!token || !constantTimeEqual(token, config.ingestToken)) {
      metrics.delivery("ci_event", "bad_signature");
      return reply.code(401).send({ ok: false, error: "missing or wrong bearer token" });
    }
    const json = parseBody(rawOf(request), "application/json");
    const body = json?.body;
    const parsed = body ? ciEventSchema.safeParse(body) : undefined;
    if (!body || !parsed?.success) {
      metrics.delivery("ci_event", "malformed");
      const detail = parsed && !parsed.success ? parsed.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ") : "the body is not a JSON object";
      return reply.code(400).send({ ok: false, error: detail });
    }
    const event = githubObjectEvent(body) ?? parsed.data.event_name;
    const eventId = parsed.data.event_id;
    return store({ received_at: new Date().toISOString(), source: "ci-events", event, delivery: eventId, hook_id: null, key: ciEventKey(eventId), body }, json.json, reply, event);
  });

  const health = async (_request: FastifyRequest, reply: FastifyReply) => {
    const writable = accepting && spool.writable();
    return reply.code(writable ? 200 : 503).send({
      status: writable ? "ok" : "unavailable",
      uptime_seconds: Math.round((Date.now() - started) / 1000),
      timestamp: new Date().toISOString(),
      spool_backlog: spool.backlog,
      last_load_at: flusher.lastLoadAt?.toISOString() ?? null,
      last_transform_at: flusher.lastTransformAt?.toISOString() ?? null,
      ...(sink?.health() ?? {}),
    });
  };
  app.get("/health", health);
  app.get("/healthz", health);

  // The read side: /api/metrics, /api/runs, /api/status, /api/filters, /api/config and the status wall (GET /).
  registerApi(app, { config, flusher });
  registerWall(app, { config, version: PACKAGE_VERSION });
  // GET /api/alerts, POST /api/alerts/{fingerprint}/ack and /api/alerts/test (ALERTS_TOKEN).
  registerAlertsApi(app, { config, flusher, timer: alerts, log, ...(options.alertsClock ? { now: options.alertsClock } : {}) });

  app.get("/metrics", async (request, reply) => {
    if (config.metricsToken) {
      const token = bearer(request);
      if (!token || !constantTimeEqual(token, config.metricsToken)) return reply.code(401).send({ ok: false, error: "missing or wrong bearer token" });
    }
    return reply.code(200).header("content-type", metrics.contentType).send(await metrics.text());
  });

  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    flusher.flush().catch((error: unknown) => {
      metrics.processingError();
      log.error("flush failed", { error: error instanceof Error ? error.message : String(error) });
    });
  };

  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    await spool.close();
    lock.release();
    throw error;
  }
  if (options.timers !== false) {
    timer = setInterval(tick, config.flushSeconds * 1000);
    timer.unref();
    poller?.start();
    sink?.start();
    sink?.startLivePruning(flusher);
    redeliverer?.start();
    alerts?.start();
  }
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const shownHost = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  const url = `http://${shownHost}:${port}`;
  log.info("serve listening", { url, duckdb: config.duckdbPath, spool: spool.dir, backlog: spool.backlog, flush_seconds: config.flushSeconds, transform_seconds: config.transformSeconds, ...(config.alerts ? { alerts: config.alerts.rulesPath, alerts_every_seconds: Math.round(config.alerts.everyMs / 1000) } : {}) });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      accepting = false;
      if (timer) clearInterval(timer);
      try {
        await poller?.stop();
        await redeliverer?.stop();
        await alerts?.stop();
        await app.close();
        await spool.rotate();
        await flusher.flush({ transform: "never" });
        // On BigQuery the last window ships too; a failure keeps the segments and fails the stop.
        await sink?.shutdown();
      } finally {
        await spool.close();
        lock.release();
      }
    })());

  return { app, url, port, spool, flusher, metrics, poller, bigquery: sink, redeliverer, alerts, flush: (opts) => flusher.flush(opts), close };
}
