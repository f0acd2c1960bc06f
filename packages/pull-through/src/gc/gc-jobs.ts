import type { Queue } from 'bullmq';
import { enqueueGc, GC_JOB_ID } from '@pullthrough/hydration-jobs';
import type { GcReport } from './garbage-collector.js';

/** One collection asked for through the admin API, as the queue knows it. */
export interface GcJobView {
  id: string;
  /** queued (waiting for the runner), running, completed, failed. */
  state: 'queued' | 'running' | 'completed' | 'failed';
  dryRun: boolean;
  requestedAt: string;
  /** The collection's report, once completed. */
  report?: GcReport;
  /** Why it failed (another collection was running, storage or Redis errors). */
  error?: string;
}

const STATE: Record<string, GcJobView['state']> = { waiting: 'queued', delayed: 'queued', prioritized: 'queued', 'waiting-children': 'queued', active: 'running', completed: 'completed', failed: 'failed' };

/**
 * On-demand collections through the `gc` queue: the frontend enqueues and reads back; a hydrator
 * runs them one at a time (never in the frontend, which keeps serving).
 */
export class GcJobs {
  constructor(private readonly queue: Queue) {}

  request(input: { dryRun: boolean; requestedBy: string }): Promise<string> {
    return enqueueGc(this.queue, input);
  }

  /** The job of `id`, or undefined when there is none (or `id` is not an on-demand collection's id). */
  async get(id: string): Promise<GcJobView | undefined> {
    if (!GC_JOB_ID.test(id)) return undefined;
    // State first, then the job: a job read while running and found completed after would have no report.
    const raw = await this.queue.getJobState(id);
    const job = await this.queue.getJob(id);
    if (!job || raw === 'unknown') return undefined;
    const state = STATE[raw] ?? 'queued';
    const data = job.data as { dryRun?: boolean; requestedAt?: string };
    return {
      id,
      state,
      dryRun: data.dryRun === true,
      requestedAt: data.requestedAt ?? new Date(job.timestamp).toISOString(),
      ...(state === 'completed' ? { report: job.returnvalue as GcReport } : {}),
      ...(state === 'failed' ? { error: job.failedReason } : {}),
    };
  }
}
