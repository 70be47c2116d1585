/**
 * Generic JSON webhook (`ALERT_WEBHOOK_URL`, `ALERT_WEBHOOK_SECRET`): the notification as JSON, signed the
 * way GitHub signs its webhooks, so a receiver can reuse a GitHub webhook verifier:
 * `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the secret>`
 * (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries), computed with
 * @octokit/webhooks-methods `sign`.
 *
 * `Idempotency-Key` carries the notification's deterministic id (fingerprint:episode:kind:sequence): a
 * notification sent again after a crash between the receiver's 2xx and the outbox update arrives with the
 * same key, so the receiver can drop the duplicate.
 */
import { sign } from "@octokit/webhooks-methods";
import type { AlertNotification } from "../state.js";
import { describeFetchError, retryAfterSeconds, type Channel, type Fetch, type SendResult } from "./channel.js";

export interface WebhookChannelOptions {
  url: string;
  secret: string;
  fetch?: Fetch;
  timeoutMs?: number;
}

/** The JSON body: the notification itself, with a schema version so receivers can evolve. */
export const webhookBody = (n: AlertNotification): string => JSON.stringify({ version: 1, notification: n });

export function createWebhookChannel(options: WebhookChannelOptions): Channel {
  const doFetch = options.fetch ?? fetch;
  return {
    name: "webhook",
    async send(notification): Promise<SendResult> {
      const body = webhookBody(notification);
      let response: Response;
      try {
        response = await doFetch(options.url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "user-agent": "actions-warehouse-alerts",
            "x-hub-signature-256": await sign(options.secret, body),
            "idempotency-key": notification.id,
            "x-alert-kind": notification.kind,
          },
          body,
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
      } catch (error) {
        return { ok: false, retryable: true, unavailable: true, error: `webhook: ${describeFetchError(error)}` };
      }
      const text = (await response.text().catch(() => "")).slice(0, 200);
      if (response.status >= 200 && response.status < 300) return { ok: true };
      if (response.status === 429 || response.status === 408 || response.status >= 500) {
        const wait = response.status === 429 ? retryAfterSeconds(response.headers.get("retry-after")) : undefined;
        return { ok: false, retryable: true, unavailable: true, error: `webhook: HTTP ${response.status}${wait !== undefined ? ` (Retry-After ${wait} s: retried at the next evaluation)` : ""} ${text}`.trim() };
      }
      return { ok: false, retryable: false, unavailable: false, error: `webhook rejected the notification: HTTP ${response.status} ${text}`.trim() };
    },
  };
}
