import { addCounts, latestFacts, zeroCounts, type RuleCounts, type RuleHealthFacts } from './rule-health-snapshot.js';

/** What one rule gained since the last flush: counts per bucket start, and its latest facts. */
export interface RuleHealthDelta {
  buckets: Map<number, RuleCounts>;
  facts: RuleHealthFacts;
}

/**
 * Rule health this process recorded and has not yet written to Redis. The request path only adds
 * to it (no Redis round trip per pull); a flush takes it whole and puts it back if Redis refused it.
 */
export class RuleHealthBatch {
  private rules = new Map<string, RuleHealthDelta>();

  count(rule: string, bucketStart: number, count: keyof RuleCounts): void {
    const delta = this.delta(rule);
    let bucket = delta.buckets.get(bucketStart);
    if (!bucket) {
      bucket = zeroCounts();
      delta.buckets.set(bucketStart, bucket);
    }
    bucket[count]++;
  }

  learn(rule: string, facts: RuleHealthFacts): void {
    const delta = this.delta(rule);
    delta.facts = latestFacts(delta.facts, facts);
  }

  /** Everything pending; the batch is empty afterwards. */
  take(): Map<string, RuleHealthDelta> {
    const taken = this.rules;
    this.rules = new Map();
    return taken;
  }

  /** Put back what a flush could not write (merged with what was recorded meanwhile). */
  putBack(taken: Map<string, RuleHealthDelta>): void {
    for (const [rule, delta] of taken) {
      const into = this.delta(rule);
      into.facts = latestFacts(into.facts, delta.facts);
      for (const [start, counts] of delta.buckets) {
        const bucket = into.buckets.get(start);
        if (bucket) addCounts(bucket, counts);
        else into.buckets.set(start, { ...counts });
      }
    }
  }

  /** Drop counts in buckets that started before `oldestStart` (outside every window: never worth writing). */
  prune(oldestStart: number): void {
    for (const [rule, delta] of this.rules) {
      for (const start of delta.buckets.keys()) if (start < oldestStart) delta.buckets.delete(start);
      if (delta.buckets.size === 0 && Object.keys(delta.facts).length === 0) this.rules.delete(rule);
    }
  }

  /** The pending counts of a rule in these buckets. */
  counts(rule: string, bucketStarts: readonly number[]): RuleCounts {
    const counts = zeroCounts();
    const delta = this.rules.get(rule);
    if (!delta) return counts;
    for (const start of bucketStarts) {
      const bucket = delta.buckets.get(start);
      if (bucket) addCounts(counts, bucket);
    }
    return counts;
  }

  get size(): number {
    return this.rules.size;
  }

  forget(rule: string): void {
    this.rules.delete(rule);
  }

  private delta(rule: string): RuleHealthDelta {
    let delta = this.rules.get(rule);
    if (!delta) {
      delta = { buckets: new Map(), facts: {} };
      this.rules.set(rule, delta);
    }
    return delta;
  }
}
