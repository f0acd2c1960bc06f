import type { Job } from 'bullmq';
import { hydrationJobSchema, parseHydrationFailure } from '@pullthrough/hydration-jobs';
import type { Logger } from '@pullthrough/pull-through';
import { hydrationFailedEvent, type WebhookEvent } from '@pullthrough/webhooks';

/**
 * A worker `failed` listener for failures the processor never saw: BullMQ fails a job that stalled
 * more than allowed (its hydrators keep dying) without calling the processor. Those get their
 * `cache.hydration_failed` here; failures the processor recorded (formatted reasons) already have one.
 */
export function onAbandonedHydration(publish: (events: WebhookEvent[]) => Promise<unknown>, eventHost: string, logger: Logger) {
  return (job: Job | undefined, err: Error): void => {
    if (!job || parseHydrationFailure(err.message).code !== 'UNKNOWN') return;
    const parsed = hydrationJobSchema.safeParse(job.data);
    if (!parsed.success) return;
    const data = parsed.data;
    const failure = { code: 'HYDRATION_ABANDONED', category: 'hydration', message: err.message };
    logger.warn({ jobId: job.id, repository: data.downstreamRepository, digest: data.digest, err: err.message }, 'hydration abandoned');
    const event = hydrationFailedEvent(
      { repository: data.downstreamRepository, digest: data.digest, ...(data.tag ? { tag: data.tag } : {}), failure },
      { host: eventHost, ...(data.requestId ? { requestId: data.requestId } : {}) },
    );
    publish([event]).catch((e: unknown) => logger.warn({ err: (e as Error).message }, 'could not publish cache.hydration_failed'));
  };
}
