import { UnrecoverableError, type Job } from '@pullthrough/hydration-jobs';
import type { Logger } from '@pullthrough/pull-through';
import { trace } from '@pullthrough/telemetry';
import { inJobSpan } from './job-span.js';
import { deliveryJobSchema, sendWebhook, type DeliveryLog, type WebhookEvent, type WebhookSenderOptions, type WebhookStore } from '@pullthrough/webhooks';

export interface WebhookProcessorDeps {
  webhooks: WebhookStore;
  log: DeliveryLog;
  /** The egress agent deliveries go through (the receiver's address is checked when dialled). */
  dispatcher: WebhookSenderOptions['dispatcher'];
  timeoutMs: number;
  logger: Logger;
}

/**
 * The `webhooks` queue's processor: reads the webhook's current definition (a webhook deleted or
 * disabled since the event skips it; ping is sent regardless of status), POSTs the signed event,
 * records the attempt, and throws on failure so BullMQ retries with the webhook backoff.
 */
export function webhookProcessor(deps: WebhookProcessorDeps) {
  const attempt = processDelivery(deps);
  return (job: Job): Promise<{ statusCode?: number; skipped?: string }> =>
    inJobSpan('webhook delivery', job, { 'pullthrough.webhook': String(job.data?.webhook ?? '').slice(0, 100), 'pullthrough.webhook.action': String(job.data?.event?.action ?? '').slice(0, 50) }, async (span) => {
      const result = await attempt(job);
      span.setAttributes(result.skipped ? { 'pullthrough.webhook.outcome': 'skipped' } : { 'pullthrough.webhook.outcome': 'delivered', 'http.response.status_code': result.statusCode ?? 0 });
      return result;
    });
}

function processDelivery(deps: WebhookProcessorDeps) {
  return async (job: Job): Promise<{ statusCode?: number; skipped?: string }> => {
    const parsed = deliveryJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError('invalid webhook delivery job');
    const name = parsed.data.webhook;
    const event = parsed.data.event as unknown as WebhookEvent;
    const webhook = await deps.webhooks.get(name);
    if (!webhook) return { skipped: 'webhook deleted' };
    if (webhook.status !== 'enabled' && event.action !== 'ping') return { skipped: 'webhook disabled' };
    const attempt = job.attemptsMade + 1;
    const res = await sendWebhook(webhook, event, { dispatcher: deps.dispatcher, timeoutMs: deps.timeoutMs });
    await deps.log.record(name, {
      eventId: event.id,
      action: event.action,
      attempt,
      at: new Date().toISOString(),
      ok: res.ok,
      latencyMs: res.latencyMs,
      ...(res.statusCode !== undefined ? { statusCode: res.statusCode } : {}),
      ...(res.error ? { error: res.error } : {}),
    });
    // Never the secret, the headers or the body: names, ids and outcome only.
    const fields = { webhook: name, eventId: event.id, action: event.action, attempt, statusCode: res.statusCode, latencyMs: res.latencyMs };
    if (!res.ok) {
      trace.getActiveSpan()?.setAttributes({ 'pullthrough.webhook.outcome': 'failed', ...(res.statusCode !== undefined ? { 'http.response.status_code': res.statusCode } : {}) });
      deps.logger.warn({ ...fields, err: res.error }, 'webhook delivery failed');
      throw new Error(res.error ?? 'delivery failed');
    }
    deps.logger.debug(fields, 'webhook delivered');
    return { statusCode: res.statusCode! };
  };
}
