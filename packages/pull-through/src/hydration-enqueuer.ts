import type { Queue } from 'bullmq';
import { enqueueHydration, type HydrationJobInput } from '@pullthrough/hydration-jobs';
import type { Logger } from './logger.js';

/** Enqueues hydration without ever failing or delaying a pull. */
export interface HydrationEnqueuer {
  enqueue(job: HydrationJobInput): void;
}

export interface EnqueueStats {
  enqueued: number;
  failed: number;
}

/**
 * BullMQ-backed enqueuer. Fire-and-forget: the add runs in the background with a time limit, and a
 * failure (Redis down, slow) is logged and counted, never surfaced to the pull.
 */
export class QueueHydrationEnqueuer implements HydrationEnqueuer {
  readonly stats: EnqueueStats = { enqueued: 0, failed: 0 };
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly queue: Queue,
    private readonly logger: Logger,
    private readonly delayMs = 0,
    private readonly timeoutMs = 2000,
  ) {}

  enqueue(job: HydrationJobInput): void {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`enqueue timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    const p = Promise.race([enqueueHydration(this.queue, job, this.delayMs), timeout])
      .then(
        (jobId) => {
          this.stats.enqueued++;
          this.logger.debug({ jobId, repository: job.downstreamRepository, digest: job.digest }, 'hydration enqueued');
        },
        (err: unknown) => {
          this.stats.failed++;
          this.logger.warn(
            { repository: job.downstreamRepository, digest: job.digest, err: (err as Error).message },
            'hydration enqueue failed; the pull is unaffected and hydration is deferred',
          );
        },
      )
      .finally(() => {
        clearTimeout(timer);
        this.pending.delete(p);
      });
    this.pending.add(p);
  }

  /** Wait for enqueues in flight (shutdown, tests). */
  async settle(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}
