/** What every notification channel is to the outbox: something that sends one notification and says how it went. */
import type { AlertNotification } from "../state.js";
import type { ChannelName } from "../types.js";

export type SendResult =
  | { ok: true; detail?: string }
  | {
      ok: false;
      /** A later attempt may succeed (5xx, 429, refused connection, timeout); false: the receiver rejected this message (4xx). */
      retryable: boolean;
      /** The receiver is unavailable: do not try its other messages in this run. */
      unavailable: boolean;
      /** What went wrong, without the URL (it holds a token). */
      error: string;
    };

export interface Channel {
  readonly name: ChannelName;
  send(notification: AlertNotification): Promise<SendResult>;
  /** Called once after a run's deliveries (the GitHub channel writes its step summary here). */
  finish?(): void;
}

export type Fetch = typeof fetch;
export type Sleep = (ms: number) => Promise<void>;
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A fetch error's cause in a few words (ECONNREFUSED, a timeout), never the URL. */
export function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return `connection failed (${cause.code})`;
  if (error instanceof Error && error.name === "TimeoutError") return "no answer within the timeout";
  if (cause?.message) return `request failed (${cause.message})`;
  return `request failed (${error instanceof Error ? error.message : String(error)})`;
}

/** Retry-After in seconds (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterSeconds(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null || header.trim() === "") return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** Short human text of a value in its unit: 42%, 15m 3s, 7, $12.50. */
export function formatValue(value: number, unit: AlertNotification["unit"]): string {
  if (unit === "ratio") return `${(value * 100).toFixed(value * 100 >= 10 ? 0 : 1)}%`;
  if (unit === "usd") return `$${value.toFixed(2)}`;
  if (unit === "seconds") {
    const s = Math.round(value);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  }
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

export function formatScope(scope: Record<string, string>): string {
  const entries = Object.entries(scope);
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(", ") : "(everything)";
}
