import type { Queue } from 'bullmq';
import { enqueueHydration, hydrationJobId, type HydrationJobInput } from '@pullthrough/hydration-jobs';
import type { Logger } from './logger.js';
import { currentTraceparent } from '@pullthrough/telemetry';

/** Enqueues hydration without ever failing or delaying a pull. */
export interface HydrationEnqueuer {
  enqueue(job: HydrationJobInput): void;
}

export interface EnqueueStats {
  enqueued: number;
  /**
   * Enqueues of a job (same repository and digest) whose add was still in flight in this process: left to
   * that add, as Redis would have (one job per id). A herd's requests for one manifest miss all ask at once.
   */
  joined: number;
  /** Enqueues skipped because Redis was down or slow (the pull was unaffected). */
  failed: number;
  /** Skipped jobs kept in memory for `retryDeferred` (bounded; duplicates collapse). */
  deferred: number;
}

/** At most this many skipped jobs are kept for a retry after Redis returns. */
export const MAX_DEFERRED_ENQUEUES = 1000;

/**
 * BullMQ-backed enqueuer. Fire-and-forget: the add runs in the background with a time limit, and a
 * failure (Redis down, slow) is logged and counted, never surfaced to the pull.
 */
export class QueueHydrationEnqueuer implements HydrationEnqueuer {
  readonly stats: EnqueueStats = { enqueued: 0, joined: 0, failed: 0, deferred: 0 };
  /** Adds in flight, by job id. */
  private readonly pending = new Map<string, Promise<void>>();
  private readonly deferred = new Map<string, HydrationJobInput>();

  constructor(
    private readonly queue: Queue,
    private readonly logger: Logger,
    private readonly delayMs = 0,
    private readonly timeoutMs = 2000,
  ) {}

  enqueue(job: HydrationJobInput): void {
    // Captured now, inside the pull's span: a deferred job keeps the trace of the pull that asked for it.
    const traceparent = job.traceparent ?? currentTraceparent();
    this.add(traceparent ? { ...job, traceparent } : job);
  }

  /**
   * Enqueue again what was skipped while Redis was down (call when the connection is ready again).
   * Jobs that fail again stay deferred. Resolves with how many were enqueued.
   */
  async retryDeferred(): Promise<number> {
    const jobs = [...this.deferred.values()];
    this.deferred.clear();
    this.stats.deferred = 0;
    const before = this.stats.enqueued;
    jobs.forEach((job) => this.add(job));
    await this.settle();
    return this.stats.enqueued - before;
  }

  private defer(job: HydrationJobInput): void {
    const id = hydrationJobId(job.downstreamRepository, job.digest);
    if (this.deferred.size < MAX_DEFERRED_ENQUEUES || this.deferred.has(id)) this.deferred.set(id, job);
    this.stats.deferred = this.deferred.size;
  }

  private add(job: HydrationJobInput): void {
    const id = hydrationJobId(job.downstreamRepository, job.digest);
    if (this.pending.has(id)) {
      this.stats.joined++;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`enqueue timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    const enqueued = enqueueHydration(this.queue, job, this.delayMs);
    // When the timeout answers first, the enqueue may still fail later (the connection closes): handled here.
    enqueued.catch(() => undefined);
    const p = Promise.race([enqueued, timeout])
      .then(
        (jobId) => {
          this.stats.enqueued++;
          this.logger.debug({ jobId, repository: job.downstreamRepository, digest: job.digest }, 'hydration enqueued');
        },
        (err: unknown) => {
          this.stats.failed++;
          this.defer(job);
          this.logger.warn(
            { repository: job.downstreamRepository, digest: job.digest, err: (err as Error).message },
            'hydration enqueue failed; the pull is unaffected and hydration is deferred',
          );
        },
      )
      .finally(() => {
        clearTimeout(timer);
        this.pending.delete(id);
      });
    this.pending.set(id, p);
  }

  /** Wait for enqueues in flight (shutdown, tests). */
  async settle(): Promise<void> {
    await Promise.all([...this.pending.values()]);
  }
}
