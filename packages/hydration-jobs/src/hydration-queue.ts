import { Queue, type ConnectionOptions, type JobsOptions } from './bullmq.js';
import { HYDRATION_JOB_NAME, HYDRATION_QUEUE, hydrationJobSchema, type HydrationJobInput } from './hydration-job.js';
import { hydrationJobId } from './job-id.js';
import { currentTraceparent } from '@pullthrough/telemetry';

export interface HydrationQueueOptions {
  connection: ConnectionOptions;
  prefix?: string;
  attempts?: number;
  backoffMs?: number;
}

export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000, jitter: 0.5 },
  removeOnComplete: { age: 24 * 3600, count: 10000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export function createHydrationQueue(options: HydrationQueueOptions): Queue {
  return new Queue(HYDRATION_QUEUE, {
    connection: options.connection,
    ...(options.prefix ? { prefix: options.prefix } : {}),
    defaultJobOptions: {
      ...DEFAULT_JOB_OPTIONS,
      ...(options.attempts ? { attempts: options.attempts } : {}),
      ...(options.backoffMs ? { backoff: { type: 'exponential', delay: options.backoffMs, jitter: 0.5 } } : {}),
    },
  });
}

export interface EnqueueOptions {
  /** Start no earlier than this (lets the pulling client fetch its blobs first). */
  delayMs?: number;
  /** A job of this id already waiting out an enqueue delay starts now (prefetch). */
  promote?: boolean;
}

/**
 * Validate and add a hydration job; a duplicate (same repository + digest) collapses into the
 * existing job. `delayMs` lets the pulling client fetch its blobs first (the job then finds them
 * local instead of fetching them a second time). A job of the same id that failed for good is
 * retried from scratch (fresh attempts): a new pull or prefetch is a new reason to try. Kept
 * completed jobs absorb the enqueue (the content is local).
 */
export async function enqueueHydration(queue: Queue, input: HydrationJobInput, delayOrOptions: number | EnqueueOptions = 0): Promise<string> {
  const options = typeof delayOrOptions === 'number' ? { delayMs: delayOrOptions } : delayOrOptions;
  const delayMs = options.delayMs ?? 0;
  // The active span's trace context goes along (unless the caller captured it earlier, as a deferred enqueue does).
  const job = hydrationJobSchema.parse({ ...input, traceparent: input.traceparent ?? currentTraceparent() });
  const jobId = hydrationJobId(job.downstreamRepository, job.digest);
  const added = await queue.add(HYDRATION_JOB_NAME, job, { jobId, ...(delayMs > 0 ? { delay: delayMs } : {}) });
  const state = await queue.getJobState(jobId);
  if (state === 'failed') {
    // Fresh data (this enqueue's request, no deferral count), then fresh attempts. retry() refuses
    // (and we ignore) a job another enqueue moved out of `failed` meanwhile.
    await added.updateData(job).catch(() => undefined);
    await added.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true }).catch(() => undefined);
  } else if (state === 'delayed' && options.promote) {
    await added.promote().catch(() => undefined);
  }
  return jobId;
}
