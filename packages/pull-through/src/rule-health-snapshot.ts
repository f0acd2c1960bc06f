import type { FailureCategory } from '@pullthrough/oci';

export type RuleHealthState = 'healthy' | 'degraded' | 'failing' | 'unknown';

export interface RuleFailure {
  category: FailureCategory;
  /** Holds no secret (the pull path's errors never do, and `sanitizeHealthMessage` makes sure). */
  message: string;
  time: string;
}

/** `shared`: every frontend's pulls (read from Redis); `local`: this process's own pulls only (Redis down or slow). */
export type RuleHealthScope = 'shared' | 'local';

export interface RuleHealthSnapshot {
  state: RuleHealthState;
  lastSuccess?: string;
  lastFailure?: RuleFailure;
  /** The upstream registry that answered last, and whether it was a fallback standing in for the source registry. */
  lastServedBy?: { upstream: string; fallback: boolean; time: string };
  /** Outcomes in the last `windowSeconds`: hits (hit, revalidated, stale), misses (fetched upstream), errors. */
  recent: RuleCounts & { windowSeconds: number };
}

export interface RuleCounts {
  hits: number;
  misses: number;
  stale: number;
  errors: number;
}

/** What is known about a rule besides its counts; times are epoch ms. */
export interface RuleHealthFacts {
  lastSuccess?: number;
  lastFailure?: { category: FailureCategory; message: string; time: number };
  lastServedBy?: { upstream: string; fallback: boolean; time: number };
}

/** Health read for a set of rules at one moment, from one scope. */
export interface RuleHealthReading {
  scope: RuleHealthScope;
  health(rule: string): RuleHealthSnapshot;
}

/** One rule's counts per bucket across the window, oldest first: what a chart over time draws. */
export interface RuleHealthSeries {
  scope: RuleHealthScope;
  windowSeconds: number;
  bucketSeconds: number;
  /** Every bucket the window covers (zeros included; the oldest in part, the last still filling), `start` ISO. */
  buckets: (RuleCounts & { start: string })[];
}

/** Where the admin API reads rule health from: this process's tracker, or the view shared through Redis. */
export interface RuleHealthView {
  read(rules: readonly string[]): Promise<RuleHealthReading>;
  /** One rule's window, bucket by bucket (same scope rules as `read`). */
  series(rule: string): Promise<RuleHealthSeries>;
  /** Drop what is known of a deleted rule (a rule created later under its name starts afresh). */
  forget(rule: string): void;
}

export const zeroCounts = (): RuleCounts => ({ hits: 0, misses: 0, stale: 0, errors: 0 });

export function addCounts(into: RuleCounts, from: RuleCounts): RuleCounts {
  into.hits += from.hits;
  into.misses += from.misses;
  into.stale += from.stale;
  into.errors += from.errors;
  return into;
}

/** The start of every bucket (epoch-aligned, `bucketMs` wide) that overlaps the window ending at `now`. */
export function windowBucketStarts(now: number, windowMs: number, bucketMs: number): number[] {
  const starts: number[] = [];
  const last = now - (now % bucketMs);
  for (let start = last; start + bucketMs > now - windowMs; start -= bucketMs) starts.push(start);
  return starts.reverse();
}

/** The later of two facts, each kind on its own (facts from Redis merged with this process's own). */
export function latestFacts(a: RuleHealthFacts, b: RuleHealthFacts): RuleHealthFacts {
  const later = <T extends { time: number }>(x: T | undefined, y: T | undefined) => (x === undefined ? y : y === undefined || x.time >= y.time ? x : y);
  const lastSuccess = a.lastSuccess === undefined ? b.lastSuccess : b.lastSuccess === undefined ? a.lastSuccess : Math.max(a.lastSuccess, b.lastSuccess);
  const lastFailure = later(a.lastFailure, b.lastFailure);
  const lastServedBy = later(a.lastServedBy, b.lastServedBy);
  return {
    ...(lastSuccess !== undefined ? { lastSuccess } : {}),
    ...(lastFailure ? { lastFailure } : {}),
    ...(lastServedBy ? { lastServedBy } : {}),
  };
}

/**
 * The snapshot the admin API shows. State: `unknown` nothing recorded yet; `failing` the latest
 * outcome is a failure inside the window; `degraded` errors or stale answers inside the window,
 * but the latest outcome is a success; else `healthy`.
 */
export function healthSnapshot(facts: RuleHealthFacts, counts: RuleCounts, now: number, windowMs: number): RuleHealthSnapshot {
  const recent = { windowSeconds: Math.round(windowMs / 1000), ...counts };
  const { lastSuccess, lastFailure, lastServedBy } = facts;
  const failureIsLatest = lastFailure !== undefined && (lastSuccess === undefined || lastFailure.time >= lastSuccess);
  let state: RuleHealthState;
  if (lastSuccess === undefined && lastFailure === undefined) state = 'unknown';
  else if (failureIsLatest && now - lastFailure.time <= windowMs) state = 'failing';
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
