/**
 * Slack incoming webhook (`SLACK_WEBHOOK_URL`): one Block Kit message per notification.
 *
 * Slack's documented limits, kept by construction (oversize content is cut and says "… and N more"):
 * - at most 50 blocks in a message: https://docs.slack.dev/reference/block-kit/blocks
 * - header block: plain_text, at most 150 characters: https://docs.slack.dev/reference/block-kit/blocks/header-block
 * - section block: text at most 3,000 characters; `fields` at most 10 items of at most 2,000 characters:
 *   https://docs.slack.dev/reference/block-kit/blocks/section-block
 * - context block: at most 10 elements: https://docs.slack.dev/reference/block-kit/blocks/context-block
 * - the top-level `text` is the notification fallback when blocks are given; Slack advises at most 4,000
 *   characters and truncates beyond 40,000: https://docs.slack.dev/reference/methods/chat.postMessage
 * - mrkdwn needs `&`, `<` and `>` escaped: https://docs.slack.dev/messaging/formatting-message-text
 * - incoming webhooks answer 200 `ok`, 400 `invalid_payload` (and the other errors of
 *   https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks#handling_errors and
 *   https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks), and 429 with
 *   `Retry-After` when rate limited (about one message per second per webhook):
 *   https://docs.slack.dev/apis/web-api/rate-limits
 * Lengths are counted in characters (code points), as Slack counts them.
 */
import type { AlertNotification } from "../state.js";
import { describeFetchError, formatScope, formatValue, realSleep, retryAfterSeconds, type Channel, type Fetch, type SendResult, type Sleep } from "./channel.js";

export const SLACK_LIMITS = {
  blocks: 50,
  headerText: 150,
  sectionText: 3000,
  fields: 10,
  fieldText: 2000,
  contextElements: 10,
  fallbackText: 4000,
} as const;

/** Offender lines shown at most; the rest are counted ("… and N more"). */
export const MAX_OFFENDERS_SHOWN = 25;

export interface SlackText {
  type: "plain_text" | "mrkdwn";
  text: string;
  emoji?: boolean;
}
export type SlackBlock =
  | { type: "header"; text: SlackText }
  | { type: "section"; text?: SlackText; fields?: SlackText[] }
  | { type: "context"; elements: SlackText[] }
  | { type: "divider" };
export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

export const charLength = (text: string): number => Array.from(text).length;

/** `text` cut to at most `max` characters, ending with "… and N more characters" when cut. */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  // The marker's own length depends on N; two passes settle it.
  let keep = max - 1;
  for (let i = 0; i < 2; i++) keep = max - charLength(`… and ${chars.length - keep} more characters`);
  if (keep < 1) return chars.slice(0, max).join("");
  return `${chars.slice(0, keep).join("")}… and ${chars.length - keep} more characters`;
}

/** mrkdwn escaping of untrusted text (repository names, summaries). */
export const escapeMrkdwn = (text: string): string => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/** A link `<url|label>`; the label may not hold `|` or `>` (they end it), the URL not `|` or `>` either. */
function link(url: string | undefined, label: string): string {
  const text = escapeMrkdwn(label.replace(/\s+/g, " ")).replaceAll("|", "¦");
  if (!url || !/^https?:\/\//.test(url) || /[|<> ]/.test(url)) return text;
  return `<${url}|${text}>`;
}

const HEADLINE: Record<AlertNotification["kind"], string> = {
  firing: "🔴 FIRING",
  repeat: "🔁 STILL FIRING",
  resolved: "✅ RESOLVED",
  test: "🧪 TEST",
};

const mrkdwn = (text: string, max: number = SLACK_LIMITS.sectionText): SlackText => ({ type: "mrkdwn", text: truncate(text, max) });

/** Lines packed into sections of at most 3,000 characters each, using at most `maxBlocks` sections. */
function packSections(lines: string[], maxBlocks: number): SlackBlock[] {
  const blocks: SlackBlock[] = [];
  let current = "";
  for (const line of lines) {
    const piece = truncate(line, SLACK_LIMITS.sectionText);
    const joined = current ? `${current}\n${piece}` : piece;
    if (charLength(joined) <= SLACK_LIMITS.sectionText) {
      current = joined;
      continue;
    }
    blocks.push({ type: "section", text: { type: "mrkdwn", text: current } });
    current = piece;
  }
  if (current) blocks.push({ type: "section", text: { type: "mrkdwn", text: current } });
  return blocks.slice(0, maxBlocks);
}

/** The Block Kit message of a notification, within Slack's limits whatever its size. */
export function slackMessage(n: AlertNotification): SlackMessage {
  const headline = `${HEADLINE[n.kind]}: ${n.rule}`;
  const valueLine = `${formatValue(n.value, n.unit)} (threshold ${formatValue(n.threshold, n.unit)})`;
  const blocks: SlackBlock[] = [
    { type: "header", text: { type: "plain_text", text: truncate(headline, SLACK_LIMITS.headerText), emoji: true } },
    { type: "section", text: mrkdwn(escapeMrkdwn(n.kind === "resolved" ? `Resolved. Last seen: ${n.summary}` : n.summary)) },
    {
      type: "section",
      fields: [
        mrkdwn(`*Rule*\n${escapeMrkdwn(n.rule)} (${n.ruleKind})`, SLACK_LIMITS.fieldText),
        mrkdwn(`*Severity*\n${n.severity}`, SLACK_LIMITS.fieldText),
        mrkdwn(`*Value vs threshold*\n${valueLine}`, SLACK_LIMITS.fieldText),
        mrkdwn(`*Scope*\n${escapeMrkdwn(formatScope(n.scope))}`, SLACK_LIMITS.fieldText),
      ],
    },
  ];
  const context: SlackBlock = {
    type: "context",
    elements: [
      mrkdwn(
        [
          `notification \`${n.id}\``,
          `first seen ${n.firstSeenAt}`,
          ...(n.firedAt ? [`fired ${n.firedAt}`] : []),
          ...(n.resolvedAt ? [`resolved ${n.resolvedAt}`] : []),
          ...(n.acknowledgedBy && n.acknowledgedUntil ? [`acknowledged by ${escapeMrkdwn(n.acknowledgedBy)} until ${n.acknowledgedUntil}`] : []),
          `ack: \`actions-warehouse alerts ack ${n.fingerprint} --until 2h\``,
        ].join(" · "),
      ),
    ],
  };
  if (n.offenders.length > 0 && n.kind !== "resolved") {
    const shown = n.offenders.slice(0, MAX_OFFENDERS_SHOWN);
    // The label says what the offender is and its measure; `value` (for ordering, and in the JSON
    // webhook's payload) has no unit of its own, so it is not printed here.
    const lines = shown.map((o) => `• ${link(o.url, o.label)}`);
    const hidden = n.offenders.length - shown.length;
    // Room: 50 blocks minus the header, summary, fields, the offenders' title, the context and one
    // section for the "… and N more" line.
    const room = SLACK_LIMITS.blocks - blocks.length - 3;
    const sections = packSections(lines, room);
    const linesShown = sections.reduce((sum, b) => sum + (b.type === "section" && b.text ? b.text.text.split("\n").length : 0), 0);
    const more = hidden + (lines.length - linesShown);
    blocks.push({ type: "section", text: { type: "mrkdwn", text: `*Worst offenders* (${n.offenders.length})` } }, ...sections);
    if (more > 0) blocks.push({ type: "section", text: { type: "mrkdwn", text: `… and ${more} more` } });
  }
  blocks.push(context);
  // The fallback is read as mrkdwn too (notifications, screen readers): escaped like the blocks.
  const text = truncate(escapeMrkdwn(`${HEADLINE[n.kind]}: ${n.rule} (${n.severity}) ${formatScope(n.scope)}: ${n.summary}`), SLACK_LIMITS.fallbackText);
  return { text, blocks: blocks.slice(0, SLACK_LIMITS.blocks) };
}

export interface SlackChannelOptions {
  url: string;
  fetch?: Fetch;
  sleep?: Sleep;
  /** The longest Retry-After waited for in-process; a longer one leaves the message in the outbox. */
  maxRetryAfterSeconds?: number;
  /** Posts per message at most (the first and the retries after 429s). */
  maxAttempts?: number;
  timeoutMs?: number;
}

export function createSlackChannel(options: SlackChannelOptions): Channel {
  const doFetch = options.fetch ?? fetch;
  const sleep = options.sleep ?? realSleep;
  const maxWait = options.maxRetryAfterSeconds ?? 30;
  const maxAttempts = options.maxAttempts ?? 3;
  return {
    name: "slack",
    async send(notification): Promise<SendResult> {
      const body = JSON.stringify(slackMessage(notification));
      for (let attempt = 1; ; attempt++) {
        let response: Response;
        try {
          response = await doFetch(options.url, { method: "POST", headers: { "content-type": "application/json" }, body, signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });
        } catch (error) {
          return { ok: false, retryable: true, unavailable: true, error: `Slack: ${describeFetchError(error)}` };
        }
        const text = (await response.text().catch(() => "")).slice(0, 200);
        if (response.status === 200) return { ok: true };
        if (response.status === 429) {
          const wait = retryAfterSeconds(response.headers.get("retry-after")) ?? 1;
          if (wait > maxWait || attempt >= maxAttempts) {
            return { ok: false, retryable: true, unavailable: true, error: `Slack: rate limited (429, Retry-After ${wait} s${wait > maxWait ? `, beyond the ${maxWait} s this run waits` : `, ${attempt} attempts`})` };
          }
          await sleep(wait * 1000);
          continue;
        }
        if (response.status >= 500) return { ok: false, retryable: true, unavailable: true, error: `Slack: HTTP ${response.status} ${text}`.trim() };
        return { ok: false, retryable: false, unavailable: false, error: `Slack rejected the message: HTTP ${response.status} ${text}`.trim() };
      }
    },
  };
}
