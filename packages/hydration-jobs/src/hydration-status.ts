import type { Job, Queue } from 'bullmq';
import type { HydrationProgress, HydrationResult } from './hydration-job.js';
import { parseHydrationFailure, type HydrationFailure } from './hydration-failure.js';
import { hydrationJobId } from './job-id.js';

export type HydrationState = 'queued' | 'running' | 'hydrated' | 'failed' | 'unknown';

export interface HydrationStatus {
  repository: string;
  /** The manifest digest the job is for (absent when a tag is not known locally). */
  digest?: string;
  state: HydrationState;
  progress?: HydrationProgress;
  result?: HydrationResult;
  failure?: HydrationFailure;
  /** Attempts that ended (failed or completed); deferrals for Retry-After do not count. */
  attempts?: number;
  timings?: { enqueuedAt: string; startedAt?: string; finishedAt?: string };
}

const TERMINAL = new Set<HydrationState>(['hydrated', 'failed', 'unknown']);
export const isTerminal = (state: HydrationState): boolean => TERMINAL.has(state);

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : undefined);

function isProgress(p: unknown): p is HydrationProgress {
  return typeof p === 'object' && p !== null && typeof (p as HydrationProgress).blobsTotal === 'number';
}

export interface HydrationStatusReaderOptions {
  /** How often a long-poll looks again (default 200 ms). */
  pollIntervalMs?: number;
}

/**
 * Reads hydration state from the queue by (repository, digest): the admin API's view of jobs.
 * A job that is no longer kept (retention) or never existed is `unknown`, not an error.
 */
export class HydrationStatusReader {
  private readonly pollIntervalMs: number;

  constructor(
    private readonly queue: Queue,
    options: HydrationStatusReaderOptions = {},
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 200;
  }

  async get(repository: string, digest: string): Promise<HydrationStatus> {
    const id = hydrationJobId(repository, digest);
    // State first, then the job: a job read after its state is at least as recent (result, failure).
    const state = await this.queue.getJobState(id);
    const job = state === 'unknown' ? undefined : await this.queue.getJob(id);
    if (!job) return { repository, digest, state: 'unknown' };
    return describe(repository, digest, job, state);
  }

  /** Poll until a terminal state or `timeoutMs`; `signal` ends the wait early (client gone). */
  async wait(repository: string, digest: string, timeoutMs: number, signal?: AbortSignal): Promise<HydrationStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.get(repository, digest);
      if (isTerminal(status.state) || Date.now() >= deadline || signal?.aborted) return status;
      await new Promise((r) => setTimeout(r, Math.min(this.pollIntervalMs, Math.max(0, deadline - Date.now()))));
    }
  }
}

function describe(repository: string, digest: string, job: Job, bullState: string): HydrationStatus {
  const state: HydrationState =
    bullState === 'completed' ? 'hydrated' : bullState === 'failed' ? 'failed' : bullState === 'active' ? 'running' : bullState === 'unknown' ? 'unknown' : 'queued';
  const status: HydrationStatus = { repository, digest, state, attempts: job.attemptsMade };
  if (isProgress(job.progress)) status.progress = job.progress;
  if (state === 'hydrated' && job.returnvalue) status.result = job.returnvalue as HydrationResult;
  if (state === 'failed') status.failure = parseHydrationFailure(job.failedReason);
  const timings: NonNullable<HydrationStatus['timings']> = { enqueuedAt: iso(job.timestamp)! };
  const startedAt = iso(job.processedOn);
  const finishedAt = state === 'hydrated' || state === 'failed' ? iso(job.finishedOn) : undefined;
  if (startedAt) timings.startedAt = startedAt;
  if (finishedAt) timings.finishedAt = finishedAt;
  status.timings = timings;
  return status;
}
