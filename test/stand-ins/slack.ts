/**
 * A Slack incoming-webhook stand-in on 127.0.0.1 that answers the way Slack documents, rejections
 * included, and records what it accepted. Each rule names its page:
 *
 * - 200 with body `ok` on success; 400 `invalid_payload` when the body is not a JSON object
 *   (https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks,
 *   https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks#handling_errors);
 * - 400 `no_text` when the message has neither `text` nor `blocks`
 *   (https://docs.slack.dev/reference/methods/chat.postMessage: `text` is required unless `blocks` are given);
 * - 400 `invalid_blocks` for more than 50 blocks (https://docs.slack.dev/reference/block-kit/blocks), a
 *   header text over 150 characters or not plain_text (https://docs.slack.dev/reference/block-kit/blocks/header-block),
 *   a section text over 3,000 characters, more than 10 fields or a field over 2,000
 *   (https://docs.slack.dev/reference/block-kit/blocks/section-block), a context with more than 10
 *   elements (https://docs.slack.dev/reference/block-kit/blocks/context-block), or an unknown block type;
 * - a top-level `text` over 40,000 characters is truncated, not refused (chat.postMessage);
 * - 429 with `Retry-After` when rate limited (https://docs.slack.dev/apis/web-api/rate-limits), here on
 *   demand: `rateLimitNext(n, seconds)`;
 * - 500 `rollup_error` (the changelog above) or a refused connection while `down(...)`.
 * Lengths are counted in characters (code points).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface SlackPost {
  path: string;
  headers: IncomingMessage["headers"];
  body: SlackBody;
  raw: string;
}

export interface SlackBody {
  text?: string;
  blocks?: { type: string; text?: { type: string; text: string }; fields?: { type: string; text: string }[]; elements?: { type: string; text: string }[] }[];
}

export interface SlackRejection {
  status: number;
  error: string;
  raw: string;
}

export interface SlackStandIn {
  readonly url: string;
  /** The webhook URL of the path `/hook` (what SLACK_WEBHOOK_URL holds in tests). */
  readonly hookUrl: string;
  readonly port: number;
  /** Messages accepted (200 ok), in order. */
  readonly accepted: SlackPost[];
  readonly rejected: SlackRejection[];
  /** Every request that reached the server, accepted or not. */
  readonly requests: number;
  rateLimitNext(posts: number, retryAfterSeconds: number): void;
  /** `5xx`: answer 500 rollup_error; `refused`: stop listening (connection refused) until `up()`. */
  down(mode: "5xx" | "refused"): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export const SLACK_DOCUMENTED_LIMITS = { blocks: 50, headerText: 150, sectionText: 3000, fields: 10, fieldText: 2000, contextElements: 10, textTruncatedAt: 40_000 } as const;

const chars = (s: string) => Array.from(s).length;

/** Why Slack would refuse this body (the error string it answers), or undefined when it accepts it. */
export function slackRejection(raw: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return "invalid_payload";
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) return "invalid_payload";
  const b = body as Record<string, unknown>;
  const hasText = typeof b.text === "string" && b.text.trim() !== "";
  if (b.blocks !== undefined && !Array.isArray(b.blocks)) return "invalid_blocks";
  const blocks = (b.blocks ?? []) as unknown[];
  if (!hasText && blocks.length === 0) return "no_text";
  if (blocks.length > SLACK_DOCUMENTED_LIMITS.blocks) return "invalid_blocks";
  const textObject = (t: unknown, max: number, types: string[]) => {
    if (typeof t !== "object" || t === null) return false;
    const o = t as Record<string, unknown>;
    return typeof o.type === "string" && types.includes(o.type) && typeof o.text === "string" && o.text.length > 0 && chars(o.text) <= max;
  };
  for (const block of blocks) {
    if (typeof block !== "object" || block === null) return "invalid_blocks";
    const k = block as Record<string, unknown>;
    switch (k.type) {
      case "header":
        if (!textObject(k.text, SLACK_DOCUMENTED_LIMITS.headerText, ["plain_text"])) return "invalid_blocks";
        break;
      case "section": {
        if (k.text === undefined && k.fields === undefined) return "invalid_blocks";
        if (k.text !== undefined && !textObject(k.text, SLACK_DOCUMENTED_LIMITS.sectionText, ["plain_text", "mrkdwn"])) return "invalid_blocks";
        if (k.fields !== undefined) {
          if (!Array.isArray(k.fields) || k.fields.length > SLACK_DOCUMENTED_LIMITS.fields) return "invalid_blocks";
          if (!k.fields.every((f) => textObject(f, SLACK_DOCUMENTED_LIMITS.fieldText, ["plain_text", "mrkdwn"]))) return "invalid_blocks";
        }
        break;
      }
      case "context":
        if (!Array.isArray(k.elements) || k.elements.length === 0 || k.elements.length > SLACK_DOCUMENTED_LIMITS.contextElements) return "invalid_blocks";
        if (!k.elements.every((e) => textObject(e, SLACK_DOCUMENTED_LIMITS.sectionText, ["plain_text", "mrkdwn"]))) return "invalid_blocks";
        break;
      case "divider":
        break;
      default:
        return "invalid_blocks";
    }
  }
  return undefined;
}

export async function startSlackStandIn(options: { paths?: string[] } = {}): Promise<SlackStandIn> {
  const paths = new Set(options.paths ?? ["/hook"]);
  const accepted: SlackPost[] = [];
  const rejected: SlackRejection[] = [];
  let requests = 0;
  let limited = 0;
  let retryAfter = 1;
  let mode: "up" | "5xx" | "refused" = "up";
  const sockets = new Set<import("node:net").Socket>();

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    let raw = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (raw += chunk));
    req.on("end", () => {
      requests++;
      const answer = (status: number, body: string, headers: Record<string, string> = {}) => {
        if (status !== 200) rejected.push({ status, error: body, raw });
        res.writeHead(status, { "content-type": "text/plain", ...headers }).end(body);
      };
      if (req.method !== "POST") return answer(405, "invalid_method");
      if (!paths.has(req.url ?? "")) return answer(404, "no_service");
      if (mode === "5xx") return answer(500, "rollup_error");
      if (limited > 0) {
        limited--;
        return answer(429, "rate_limited", { "retry-after": String(retryAfter) });
      }
      const error = slackRejection(raw);
      if (error) return answer(400, error);
      const body = JSON.parse(raw) as SlackBody;
      if (typeof body.text === "string" && chars(body.text) > SLACK_DOCUMENTED_LIMITS.textTruncatedAt) body.text = Array.from(body.text).slice(0, SLACK_DOCUMENTED_LIMITS.textTruncatedAt).join("");
      accepted.push({ path: req.url ?? "", headers: req.headers, body, raw });
      answer(200, "ok");
    });
  };

  let server: Server = createServer(handler);
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server = createServer(handler);
      server.on("connection", (s) => {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
      });
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  const port = await listen(0);
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    hookUrl: `${url}/hook`,
    port,
    accepted,
    rejected,
    get requests() {
      return requests;
    },
    rateLimitNext(posts, seconds) {
      limited = posts;
      retryAfter = seconds;
    },
    async down(next) {
      if (next === "refused" && mode !== "refused") await stop();
      mode = next;
    },
    async up() {
      if (mode === "refused") await listen(port);
      mode = "up";
    },
    async close() {
      if (mode !== "refused") await stop();
    },
  };
}
