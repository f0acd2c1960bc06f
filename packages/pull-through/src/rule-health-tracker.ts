import type { FailureCategory } from '@pullthrough/oci';
import type { PullObserver } from './pull-observer.js';
import type { CacheStatus } from './content/repository-content.js';

export type RuleHealthState = 'healthy' | 'degraded' | 'failing' | 'unknown';

export interface RuleFailure {
  category: FailureCategory;
  /** Holds no secret (the pull path's errors never do). */
  message: string;
  time: string;
}

export interface RuleHealthSnapshot {
  state: RuleHealthState;
  lastSuccess?: string;
  lastFailure?: RuleFailure;
  /** The upstream registry that answered last, and whether it was a fallback standing in for the source registry. */
  lastServedBy?: { upstream: string; fallback: boolean; time: string };
  /** Outcomes in the last `windowSeconds`: hits (hit, revalidated, stale), misses (fetched upstream), errors. */
  recent: { windowSeconds: number; hits: number; misses: number; stale: number; errors: number };
}

export interface RuleHealthTrackerOptions {
  /** The recent window counts cover this long. Default 15 minutes. */
  windowMs?: number;
  /** Counts are kept in this many buckets across the window. Default 15. */
  buckets?: number;
  now?: () => number;
}

interface Bucket {
  start: number;
  hits: number;
  misses: number;
  stale: number;
  errors: number;
}

interface RuleRecord {
  lastSuccess?: number;
  lastFailure?: { category: FailureCategory; message: string; time: number };
  lastServedBy?: { upstream: string; fallback: boolean; time: number };
  buckets: Bucket[];
}

const MAX_MESSAGE = 500;

/**
 * Rule health from the pull path's outcome feed (a PullObserver): last success, last failure with
 * its category, and bucketed counts over a recent window. In memory, per process. State:
 * `unknown` nothing recorded yet; `failing` the latest outcome is a failure inside the window;
 * `degraded` errors inside the window, but the latest outcome is a success; else `healthy`.
 */
export class RuleHealthTracker implements PullObserver {
  private readonly rules = new Map<string, RuleRecord>();
  private readonly windowMs: number;
  private readonly bucketMs: number;
  private readonly now: () => number;

  constructor(options: RuleHealthTrackerOptions = {}) {
    this.windowMs = options.windowMs ?? 15 * 60_000;
    this.bucketMs = Math.max(1, Math.floor(this.windowMs / (options.buckets ?? 15)));
    this.now = options.now ?? Date.now;
  }

  served(rule: string, cache: CacheStatus): void {
    const now = this.now();
    const record = this.record(rule);
    record.lastSuccess = now;
    const bucket = this.bucket(record, now);
    if (cache === 'miss') bucket.misses++;
    else if (cache === 'stale') bucket.stale++;
    else bucket.hits++;
  }

  upstreamAnswered(rule: string, upstream: string, fallback: boolean): void {
    this.record(rule).lastServedBy = { upstream, fallback, time: this.now() };
  }

  failed(rule: string, category: FailureCategory, message: string): void {
    const now = this.now();
    const record = this.record(rule);
    record.lastFailure = { category, message: message.slice(0, MAX_MESSAGE), time: now };
    this.bucket(record, now).errors++;
  }

  health(rule: string): RuleHealthSnapshot {
    const now = this.now();
    const record = this.rules.get(rule);
    const recent = { windowSeconds: Math.round(this.windowMs / 1000), hits: 0, misses: 0, stale: 0, errors: 0 };
    if (!record) return { state: 'unknown', recent };
    for (const b of record.buckets) {
      if (b.start + this.bucketMs <= now - this.windowMs) continue;
      recent.hits += b.hits;
      recent.misses += b.misses;
      recent.stale += b.stale;
      recent.errors += b.errors;
    }
    const { lastSuccess, lastFailure, lastServedBy } = record;
    const failureIsLatest = lastFailure !== undefined && (lastSuccess === undefined || lastFailure.time >= lastSuccess);
    let state: RuleHealthState;
    if (lastSuccess === undefined && lastFailure === undefined) state = 'unknown';
    else if (failureIsLatest && now - lastFailure.time <= this.windowMs) state = 'failing';
    else if (recent.errors > 0 || recent.stale > 0) state = 'degraded';
    else state = 'healthy';
    return {
      state,
      ...(lastSuccess !== undefined ? { lastSuccess: new Date(lastSuccess).toISOString() } : {}),
      ...(lastFailure ? { lastFailure: { category: lastFailure.category, message: lastFailure.message, time: new Date(lastFailure.time).toISOString() } } : {}),
      ...(lastServedBy ? { lastServedBy: { ...lastServedBy, time: new Date(lastServedBy.time).toISOString() } } : {}),
      recent,
    };
  }

  /** Drop what is known about a rule (it was deleted). */
  forget(rule: string): void {
    this.rules.delete(rule);
  }

  private record(rule: string): RuleRecord {
    let record = this.rules.get(rule);
    if (!record) {
      record = { buckets: [] };
      this.rules.set(rule, record);
    }
    return record;
  }

  private bucket(record: RuleRecord, now: number): Bucket {
    const start = now - (now % this.bucketMs);
    let last = record.buckets.at(-1);
    if (!last || last.start !== start) {
      last = { start, hits: 0, misses: 0, stale: 0, errors: 0 };
      record.buckets.push(last);
      const oldest = now - this.windowMs - this.bucketMs;
      while (record.buckets.length > 0 && record.buckets[0]!.start < oldest) record.buckets.shift();
    }
    return last;
  }
}

/** A breaker that is not closed makes a healthy rule degraded (misses fail fast while it is open). */
export function withBreakerState(state: RuleHealthState, breaker: 'closed' | 'open' | 'half-open'): RuleHealthState {
  return breaker !== 'closed' && (state === 'healthy' || state === 'unknown') ? 'degraded' : state;
}
