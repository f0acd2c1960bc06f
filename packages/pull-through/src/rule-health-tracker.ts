import type { FailureCategory } from '@pullthrough/oci';
import type { PullObserver } from './pull-observer.js';
import type { CacheStatus } from './content/repository-content.js';
import { sanitizeHealthMessage } from './rule-health-message.js';
import {
  addCounts,
  healthSnapshot,
  windowBucketStarts,
  zeroCounts,
  type RuleCounts,
  type RuleHealthFacts,
  type RuleHealthReading,
  type RuleHealthSnapshot,
  type RuleHealthState,
  type RuleHealthSeries,
  type RuleHealthView,
} from './rule-health-snapshot.js';

export interface RuleHealthTrackerOptions {
  /** The recent window counts cover this long. Default 15 minutes. */
  windowMs?: number;
  /** Counts are kept in this many buckets across the window. Default 15. */
  buckets?: number;
  now?: () => number;
}

interface RuleRecord extends RuleHealthFacts {
  /** Counts per bucket start (epoch-aligned), oldest first. */
  buckets: Map<number, RuleCounts>;
}

/** The width of one count bucket for a window: `windowMs / buckets`, at least 1 ms. */
export const bucketWidth = (windowMs: number, buckets = 15): number => Math.max(1, Math.floor(windowMs / buckets));

/** The count an outcome adds to (`served` cache statuses and failures). */
export function countOf(cache: CacheStatus | 'error'): keyof RuleCounts {
  return cache === 'miss' ? 'misses' : cache === 'stale' ? 'stale' : cache === 'error' ? 'errors' : 'hits';
}

/**
 * Rule health from the pull path's outcome feed (a PullObserver): last success, last failure with
 * its category, and bucketed counts over a recent window. In memory: this process's own pulls
 * (RedisRuleHealth shares them between processes and falls back to this view).
 */
export class RuleHealthTracker implements PullObserver, RuleHealthView {
  private readonly rules = new Map<string, RuleRecord>();
  readonly windowMs: number;
  readonly bucketMs: number;
  private readonly now: () => number;

  constructor(options: RuleHealthTrackerOptions = {}) {
    this.windowMs = options.windowMs ?? 15 * 60_000;
    this.bucketMs = bucketWidth(this.windowMs, options.buckets);
    this.now = options.now ?? Date.now;
  }

  served(rule: string, cache: CacheStatus): void {
    const now = this.now();
    const record = this.record(rule);
    record.lastSuccess = now;
    this.bucket(record, now)[countOf(cache)]++;
  }

  upstreamAnswered(rule: string, upstream: string, fallback: boolean): void {
    this.record(rule).lastServedBy = { upstream, fallback, time: this.now() };
  }

  failed(rule: string, category: FailureCategory, message: string): void {
    const now = this.now();
    const record = this.record(rule);
    record.lastFailure = { category, message: sanitizeHealthMessage(message), time: now };
    this.bucket(record, now).errors++;
  }

  health(rule: string): RuleHealthSnapshot {
    const now = this.now();
    const record = this.rules.get(rule);
    return healthSnapshot(record ?? {}, this.countsOf(record, now), now, this.windowMs);
  }

  /** This process's own facts about a rule (no counts). */
  facts(rule: string): RuleHealthFacts {
    const record = this.rules.get(rule);
    if (!record) return {};
    const { lastSuccess, lastFailure, lastServedBy } = record;
    return { ...(lastSuccess !== undefined ? { lastSuccess } : {}), ...(lastFailure ? { lastFailure } : {}), ...(lastServedBy ? { lastServedBy } : {}) };
  }

  /** This process's view only: `scope: "local"`. */
  read(): Promise<RuleHealthReading> {
    return Promise.resolve({ scope: 'local', health: (rule) => this.health(rule) });
  }

  /** This process's own counts for one rule, bucket by bucket across the window: `scope: "local"`. */
  series(rule: string): Promise<RuleHealthSeries> {
    const record = this.rules.get(rule);
    const buckets = windowBucketStarts(this.now(), this.windowMs, this.bucketMs).map((start) => ({ start: new Date(start).toISOString(), ...addCounts(zeroCounts(), record?.buckets.get(start) ?? zeroCounts()) }));
    return Promise.resolve({ scope: 'local', windowSeconds: this.windowMs / 1000, bucketSeconds: this.bucketMs / 1000, buckets });
  }

  /** Drop what is known about a rule (it was deleted). */
  forget(rule: string): void {
    this.rules.delete(rule);
  }

  private countsOf(record: RuleRecord | undefined, now: number): RuleCounts {
    const counts = zeroCounts();
    if (!record) return counts;
    for (const start of windowBucketStarts(now, this.windowMs, this.bucketMs)) {
      const bucket = record.buckets.get(start);
      if (bucket) addCounts(counts, bucket);
    }
    return counts;
  }

  private record(rule: string): RuleRecord {
    let record = this.rules.get(rule);
    if (!record) {
      record = { buckets: new Map() };
      this.rules.set(rule, record);
    }
    return record;
  }

  private bucket(record: RuleRecord, now: number): RuleCounts {
    const start = now - (now % this.bucketMs);
    let bucket = record.buckets.get(start);
    if (!bucket) {
      bucket = zeroCounts();
      record.buckets.set(start, bucket);
      // Buckets are added in time order: drop the ones that left the window.
      const oldest = now - this.windowMs - this.bucketMs;
      for (const key of record.buckets.keys()) {
        if (key >= oldest) break;
        record.buckets.delete(key);
      }
    }
    return bucket;
  }
}

/** A breaker that is not closed makes a healthy rule degraded (misses fail fast while it is open). */
export function withBreakerState(state: RuleHealthState, breaker: 'closed' | 'open' | 'half-open'): RuleHealthState {
  return breaker !== 'closed' && (state === 'healthy' || state === 'unknown') ? 'degraded' : state;
}
