import { Queue, type ConnectionOptions, type JobsOptions } from '@pullthrough/hydration-jobs';
import { z } from 'zod';
import { currentTraceparent } from '@pullthrough/telemetry';
import type { WebhookEvent } from './webhook-event.js';

export const WEBHOOK_QUEUE = 'webhooks';
export const WEBHOOK_JOB_NAME = 'deliver';
/** Backoff type the webhook worker implements (exponential with jitter, base from its config). */
export const WEBHOOK_BACKOFF = 'webhook';

/** A delivery job: which webhook (by name: the worker reads its current definition) and the event. */
export const deliveryJobSchema = z.object({
  webhook: z.string().min(1),
  event: z.object({ id: z.string().min(1), action: z.string().min(1) }).passthrough(),
  /** W3C trace context of what published the event (a pull, a hydration job, an admin ping); optional, never a reason to fail. */
  traceparent: z.string().optional().catch(undefined),
});
export interface DeliveryJob {
  webhook: string;
  event: WebhookEvent;
  traceparent?: string;
}

export const DELIVERY_JOB_OPTIONS: JobsOptions = {
  attempts: 6,
  backoff: { type: WEBHOOK_BACKOFF },
  removeOnComplete: { age: 24 * 3600, count: 10000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 10000 },
};

export function createWebhookQueue(connection: ConnectionOptions, prefix?: string): Queue {
  return new Queue(WEBHOOK_QUEUE, { connection, ...(prefix ? { prefix } : {}), defaultJobOptions: DELIVERY_JOB_OPTIONS });
}

/** One job per (webhook, event id): the same event published twice is delivered once. No `:` (BullMQ ids). */
export function deliveryJobId(webhook: string, eventId: string): string {
  return `${webhook}@${eventId}`.replace(/:/g, '-');
}

export async function enqueueDelivery(queue: Queue, job: DeliveryJob): Promise<string> {
  const jobId = deliveryJobId(job.webhook, job.event.id);
  const traceparent = job.traceparent ?? currentTraceparent();
  await queue.add(WEBHOOK_JOB_NAME, traceparent ? { ...job, traceparent } : job, { jobId });
  return jobId;
}

/** Exponential backoff with full jitter in [base*2^(n-1)/2, base*2^(n-1)], capped. */
export function webhookBackoffMs(attemptsMade: number, baseMs: number, capMs = 10 * 60_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}
