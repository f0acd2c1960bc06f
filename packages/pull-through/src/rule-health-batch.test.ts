import { RuleHealthBatch } from './rule-health-batch.js';
import { latestFacts, windowBucketStarts } from './rule-health-snapshot.js';

describe('RuleHealthBatch', () => {
  test('counts per rule and bucket; take empties it; putBack merges with what came meanwhile; prune drops old buckets', () => {
    const batch = new RuleHealthBatch();
    batch.count('rule-a', 1000, 'hits');
    batch.count('rule-a', 1000, 'hits');
    batch.count('rule-a', 2000, 'misses');
    batch.learn('rule-a', { lastSuccess: 2500 });
    batch.count('rule-b', 2000, 'errors');
    expect(batch.counts('rule-a', [1000, 2000])).toEqual({ hits: 2, misses: 1, stale: 0, errors: 0 });
    expect(batch.counts('rule-a', [2000])).toEqual({ hits: 0, misses: 1, stale: 0, errors: 0 });

    const taken = batch.take();
    expect([...taken.keys()]).toEqual(['rule-a', 'rule-b']);
    expect(batch.size).toBe(0);
    expect(batch.counts('rule-a', [1000, 2000])).toEqual({ hits: 0, misses: 0, stale: 0, errors: 0 });

    batch.count('rule-a', 2000, 'stale');
    batch.learn('rule-a', { lastSuccess: 2100 });
    batch.putBack(taken);
    expect(batch.counts('rule-a', [1000, 2000])).toEqual({ hits: 2, misses: 1, stale: 1, errors: 0 });
    const again = batch.take();
    expect(again.get('rule-a')!.facts).toEqual({ lastSuccess: 2500 });

    batch.putBack(again);
    batch.prune(2000);
    expect(batch.counts('rule-a', [1000, 2000])).toEqual({ hits: 0, misses: 1, stale: 1, errors: 0 });
    batch.forget('rule-b');
    expect(batch.size).toBe(1);
  });

  test('windowBucketStarts: every epoch-aligned bucket that overlaps the window', () => {
    expect(windowBucketStarts(10_500, 3000, 1000)).toEqual([7000, 8000, 9000, 10_000]);
    expect(windowBucketStarts(10_999, 3000, 1000)).toEqual([7000, 8000, 9000, 10_000]);
    expect(windowBucketStarts(11_000, 3000, 1000)).toEqual([8000, 9000, 10_000, 11_000]);
  });

  test('latestFacts keeps the later of each fact', () => {
    const failure = (time: number) => ({ category: 'upstream-unavailable' as const, message: `at ${time}`, time });
    const served = (time: number) => ({ upstream: 'registry.example', fallback: false, time });
    expect(latestFacts({ lastSuccess: 5, lastFailure: failure(3) }, { lastSuccess: 4, lastFailure: failure(6), lastServedBy: served(1) })).toEqual({
      lastSuccess: 5,
      lastFailure: failure(6),
      lastServedBy: served(1),
    });
    expect(latestFacts({}, {})).toEqual({});
  });
});
