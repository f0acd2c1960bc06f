import type { Dispatcher } from 'undici';
import { request } from '@pullthrough/egress';
import { parseServiceUri } from './service-uri.js';
import type { Webhook } from './webhook.js';
import { toCloudEvent, type WebhookEvent } from './webhook-event.js';
import { SIGNATURE_HEADER, signPayload } from './webhook-signature.js';

export interface SendResult {
  ok: boolean;
  statusCode?: number;
  latencyMs: number;
  error?: string;
}

export interface WebhookSenderOptions {
  /** An egress agent (createEgressAgent): the receiver's address is checked when it is dialled. */
  dispatcher: Dispatcher;
  /** A receiver slower than this (headers and body) has failed. */
  timeoutMs: number;
  now?: () => number;
}

/** The exact bytes and headers a webhook receives for an event (signature over the body). */
export function renderDelivery(webhook: Webhook, event: WebhookEvent, nowMs: number): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(webhook.cloudEvents ? toCloudEvent(event) : event);
  return {
    body,
    headers: {
      ...webhook.customHeaders,
      'content-type': webhook.cloudEvents ? 'application/cloudevents+json; charset=utf-8' : 'application/json; charset=utf-8',
      'user-agent': 'pullthrough-webhooks/1',
      'x-pullthrough-event': event.action,
      'x-pullthrough-event-id': event.id,
      [SIGNATURE_HEADER.toLowerCase()]: signPayload(webhook.secret, body, Math.floor(nowMs / 1000)),
    },
  };
}

/**
 * POST one event to a webhook's serviceUri through the egress agent (a name that resolved to a
 * public address when the webhook was saved and to 127.0.0.1 now is refused when dialled).
 * 2xx is success; anything else, a redirect (not followed), a refused target or a timeout is a
 * failure the caller retries. Never throws.
 */
export async function sendWebhook(webhook: Webhook, event: WebhookEvent, options: WebhookSenderOptions): Promise<SendResult> {
  const now = options.now ?? Date.now;
  const started = now();
  try {
    const url = parseServiceUri(webhook.serviceUri);
    const { body, headers } = renderDelivery(webhook, event, started);
    const res = await request(url, { method: 'POST', body, headers, dispatcher: options.dispatcher, signal: AbortSignal.timeout(options.timeoutMs) });
    await res.body.dump().catch(() => undefined);
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    return { ok, statusCode: res.statusCode, latencyMs: now() - started, ...(ok ? {} : { error: `receiver answered ${res.statusCode}` }) };
  } catch (err) {
    const e = err as Error;
    const reason = e.name === 'TimeoutError' ? `no answer within ${options.timeoutMs} ms` : e.message;
    return { ok: false, latencyMs: now() - started, error: reason.slice(0, 300) };
  }
}
