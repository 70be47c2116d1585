/**
 * The alert endpoints of `serve` (issue 13), over the alert state in the warehouse (alerts/state.ts):
 *
 * - `GET /api/alerts?state=open|firing|pending|resolved|all` (default open): the alert episodes, newest
 *   first, and what the last evaluation of serve did. Open like the other read endpoints.
 * - `POST /api/alerts/{fingerprint}/ack` with `{"until"?: "2h" | ISO instant, "by"?: name}`: no repeat
 *   notifications until then (default 24 h, as `alerts ack`); 404 when no open alert has the fingerprint.
 * - `POST /api/alerts/test` with `{"channel": "slack" | "webhook"}`: sends a test message now, not through
 *   the outbox (as `alerts test`).
 *
 * The two POSTs change what people are told, so they need `Authorization: Bearer <ALERTS_TOKEN>`, a token
 * of their own (INGEST_TOKEN is held by CI systems that post events, which must not be able to silence
 * alerts). Without ALERTS_TOKEN they are off (404 saying so). Bodies are checked with zod; a bad field is
 * a 400 naming it.
 *
 * Reads go through `Flusher.read` (between flushes); an ack writes alert_events, so it runs alone on the
 * file (`Flusher.exclusive`, not counted as new raw data).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { parseUntil, testNotification } from "../alerts/cli.js";
import { ConfigError } from "../extract/config.js";
import { acknowledge, duckDbRunner, readEpisodes, type Episode } from "../alerts/state.js";
import { datasets } from "../load/datasets.js";
import { openDuckDb } from "../load/duckdb-connection.js";
import type { Logger } from "../log/logger.js";
import type { AlertsTimer } from "./alerts-timer.js";
import type { ServeConfig } from "./config.js";
import { SERVE_DUCKDB, type Flusher } from "./flusher.js";

export interface AlertsApiOptions {
  config: ServeConfig;
  flusher: Flusher;
  /** The evaluation serve runs, when alerts are on. */
  timer: AlertsTimer | undefined;
  log: Logger;
  /** The clock (tests). */
  now?: () => Date;
}

const listQuery = z.strictObject({ state: z.enum(["open", "firing", "pending", "resolved", "all"]).default("open") });

const ackBody = z.strictObject({
  until: z.string().trim().min(1, "must be a duration (2h, 30m, 1d) or an ISO-8601 instant").optional(),
  by: z.string().trim().min(1, "must not be empty").max(100, "must be at most 100 characters").optional(),
});

const testBody = z.strictObject({ channel: z.enum(["slack", "webhook"], { error: 'must be "slack" or "webhook"' }) });

const fingerprintParam = z.string().regex(/^[0-9a-f]{16}$/, "must be an alert fingerprint: 16 hexadecimal characters (GET /api/alerts lists them)");

const CHANNEL_VARIABLES = { slack: "SLACK_WEBHOOK_URL", webhook: "ALERT_WEBHOOK_URL and ALERT_WEBHOOK_SECRET" } as const;

function constantTimeEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

/** `{ok:false, error, field}` from a zod failure: the first issue, its field named. */
function badRequest(reply: FastifyReply, error: z.ZodError): FastifyReply {
  const issue = error.issues[0];
  const field = issue?.path.join(".") || (issue?.code === "unrecognized_keys" ? issue.keys.join(", ") : "(body)");
  const message = issue?.code === "unrecognized_keys" ? "is not a field of this request" : (issue?.message ?? "is invalid");
  return reply.code(400).send({ ok: false, error: `${field}: ${message}`, field });
}

/** The JSON body: fastify hands serve's routes raw bytes (serve/server.ts). An empty body is `{}`. */
function jsonBody(request: FastifyRequest): unknown {
  const raw = Buffer.isBuffer(request.body) ? request.body.toString("utf8") : "";
  if (raw.trim() === "") return {};
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

/** An episode as the API shows it: snake_case like the other /api answers. */
function episodeJson(e: Episode) {
  return {
    fingerprint: e.fingerprint,
    episode: e.episode,
    rule: e.rule,
    kind: e.kind,
    severity: e.severity,
    state: e.state,
    scope: e.scope,
    channels: e.channels,
    value: e.value,
    threshold: e.threshold,
    unit: e.unit,
    summary: e.summary,
    first_seen_at: e.firstSeenAt,
    last_seen_at: e.lastSeenAt,
    fired_at: e.firedAt,
    resolved_at: e.resolvedAt,
    last_notified_at: e.lastNotifiedAt,
    notifications: e.notifications,
    acknowledged_by: e.acknowledgedBy,
    acknowledged_until: e.acknowledgedUntil,
  };
}

async function alertTableExists(connection: DuckDBConnection): Promise<boolean> {
  const reader = await connection.runAndReadAll(`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $schema AND table_name = 'alert_events'`, { schema: datasets.raw });
  return Number(reader.getRowObjectsJS()[0]?.n) > 0;
}

export function registerAlertsApi(app: FastifyInstance, options: AlertsApiOptions): void {
  const { config, flusher, timer, log } = options;
  const now = options.now ?? (() => new Date());
  const channels = config.alertChannels ?? new Map();

  /** Undefined when the request may go on; else the reply sent. */
  function refuse(request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
    if (!config.alertsToken) return reply.code(404).send({ ok: false, error: "the alert write endpoints are off: set ALERTS_TOKEN and send it as Authorization: Bearer <token>" });
    const match = /^Bearer\s+(.+)$/i.exec(typeof request.headers.authorization === "string" ? request.headers.authorization.trim() : "");
    if (!match?.[1] || !constantTimeEqual(match[1], config.alertsToken)) return reply.code(401).send({ ok: false, error: "missing or wrong bearer token (ALERTS_TOKEN)" });
    return undefined;
  }

  app.get("/api/alerts", async (request, reply) => {
    const q = listQuery.safeParse(request.query ?? {});
    if (!q.success) {
      const issue = q.error.issues[0];
      const param = issue?.code === "unrecognized_keys" ? issue.keys.join(", ") : String(issue?.path[0] ?? "state");
      return reply.code(400).send({ ok: false, error: issue?.code === "unrecognized_keys" ? `${param}: is not a parameter of /api/alerts (state is)` : `state: must be one of open, firing, pending, resolved, all`, param });
    }
    try {
      const episodes = await flusher.read(async (connection) => ((await alertTableExists(connection)) ? readEpisodes(duckDbRunner(connection), q.data.state) : []));
      return reply
        .code(200)
        .header("cache-control", "no-store")
        .send({
          state: q.data.state,
          alerts: episodes.map(episodeJson),
          evaluation: {
            enabled: config.alerts !== undefined,
            ...(config.alerts ? { rules_file: config.alerts.rulesPath, rules: config.alerts.rules.length, every_seconds: Math.round(config.alerts.everyMs / 1000) } : {}),
            ...(config.alertsSkipped ? { skipped: config.alertsSkipped } : {}),
            last: timer?.last ?? null,
          },
          channels: [...channels.keys()],
        });
    } catch (error) {
      log.error("GET /api/alerts: cannot read the alert state", { error: error instanceof Error ? error.message.split("\n")[0] : String(error) });
      return reply.code(500).send({ ok: false, error: `cannot read the alert state: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}` });
    }
  });

  app.post<{ Params: { fingerprint: string } }>("/api/alerts/:fingerprint/ack", async (request, reply) => {
    const refused = refuse(request, reply);
    if (refused) return refused;
    const fingerprint = fingerprintParam.safeParse(request.params.fingerprint);
    if (!fingerprint.success) return reply.code(400).send({ ok: false, error: `fingerprint: ${fingerprint.error.issues[0]?.message ?? "is invalid"}`, field: "fingerprint" });
    const json = jsonBody(request);
    if (json === undefined) return reply.code(400).send({ ok: false, error: "(body): is not JSON: send {\"until\": \"2h\", \"by\": \"alice\"} or an empty body", field: "(body)" });
    const body = ackBody.safeParse(json);
    if (!body.success) return badRequest(reply, body.error);
    const at = now();
    let until: Date;
    try {
      until = parseUntil("until", body.data.until ?? "24h", at);
    } catch (error) {
      if (error instanceof ConfigError) return reply.code(400).send({ ok: false, error: error.issues.map((i) => `${i.field}: ${i.message}`).join("; "), field: "until" });
      throw error;
    }
    const by = body.data.by ?? "api";
    try {
      const episode = await flusher.exclusive(
        async () => {
          const warehouse = await openDuckDb(config.duckdbPath, SERVE_DUCKDB);
          try {
            return await acknowledge(duckDbRunner(warehouse.connection), fingerprint.data, until, by);
          } finally {
            await warehouse.closeAsync();
          }
        },
        { rawChanged: false },
      );
      if (!episode) return reply.code(404).send({ ok: false, error: `no open (pending or firing) alert has fingerprint ${fingerprint.data}: GET /api/alerts lists the open ones` });
      log.info("alert acknowledged", { fingerprint: episode.fingerprint, rule: episode.rule, by, until: until.toISOString() });
      return reply.code(200).send({ ok: true, alert: episodeJson(episode) });
    } catch (error) {
      log.error("POST /api/alerts/{fingerprint}/ack: cannot write the alert state", { error: error instanceof Error ? error.message.split("\n")[0] : String(error) });
      return reply.code(500).send({ ok: false, error: `cannot write the alert state: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}` });
    }
  });

  app.post("/api/alerts/test", async (request, reply) => {
    const refused = refuse(request, reply);
    if (refused) return refused;
    const body = testBody.safeParse(jsonBody(request) ?? null);
    if (!body.success) return badRequest(reply, body.error);
    const channel = channels.get(body.data.channel);
    if (!channel) return reply.code(409).send({ ok: false, error: `channel ${body.data.channel} is not configured on this server: set ${CHANNEL_VARIABLES[body.data.channel]} in serve's environment and restart it`, field: "channel" });
    const result = await channel.send(testNotification(now()));
    if (!result.ok) {
      log.warn("alert test message not delivered", { channel: body.data.channel, error: result.error });
      return reply.code(502).send({ ok: false, error: `the ${body.data.channel} test message was not delivered: ${result.error}` });
    }
    log.info("alert test message delivered", { channel: body.data.channel });
    return reply.code(200).send({ ok: true, channel: body.data.channel });
  });
}
