import { Redis } from 'ioredis';
import type { FailureCategory } from '@pullthrough/oci';
import { silentLogger, type Logger } from './logger.js';
import type { PullObserver } from './pull-observer.js';
import type { CacheStatus } from './pull-through-registry.js';
import { answerWithin, LATE } from './answer-within.js';
import { RuleHealthBatch, type RuleHealthDelta } from './rule-health-batch.js';
import { sanitizeHealthMessage } from './rule-health-message.js';
import { addCounts, healthSnapshot, latestFacts, windowBucketStarts, zeroCounts, type RuleCounts, type RuleHealthFacts, type RuleHealthReading, type RuleHealthSeries, type RuleHealthView } from './rule-health-snapshot.js';
import { countOf, RuleHealthTracker } from './rule-health-tracker.js';

export interface RedisRuleHealthOptions {
  url: string;
  /** Key prefix shared by every replica (the apps use their queue prefix). */
  prefix: string;
  /** The recent window counts cover this long. Default 15 minutes. */
  windowMs?: number;
  /** Counts are kept in this many buckets across the window (one Redis key each). Default 15 (per minute for 15 minutes). */
  buckets?: number;
  /** Write what was recorded to Redis this often. Default 1000. */
  flushMs?: number;
  /** The longest a health read waits for Redis before answering with this process's own view. Default 500. */
  readTimeoutMs?: number;
  /** How long a rule's last success / failure / answering upstream stay in Redis after their last update. Default 7 days. */
  factsTtlMs?: number;
  logger?: Logger;
}

/** Bucket keys outlive their window by this much (replicas' clocks differ a little). */
const EXPIRY_MARGIN_MS = 60_000;
const COUNT_FIELDS = ['hits', 'misses', 'stale', 'errors'] as const;
const FACT_FIELDS = ['lastSuccess', 'lastFailure', 'lastServedBy'] as const;
const CATEGORIES: ReadonlySet<string> = new Set<FailureCategory>(['rule-config', 'credential-lookup', 'upstream-auth', 'upstream-unavailable', 'upstream-throttled', 'digest-mismatch', 'hydration']);

// KEYS: facts hash, then one count hash per bucket. ARGV: facts PX; lastSuccess time; lastFailure JSON,
// its time; lastServedBy JSON, its time ('' when unchanged); then per bucket: PEXPIREAT, hits, misses,
// stale, errors. A fact replaces the stored one only if it is later (replicas flush in any order).
const FLUSH = `
local function later(field, value, time)
  if value == '' then return false end
  local cur = tonumber(redis.call('HGET', KEYS[1], field .. 'At'))
  if cur == nil or cur < tonumber(time) then redis.call('HSET', KEYS[1], field, value, field .. 'At', time) end
  return true
end
local a = later('lastSuccess', ARGV[2], ARGV[2])
local b = later('lastFailure', ARGV[3], ARGV[4])
local c = later('lastServedBy', ARGV[5], ARGV[6])
if a or b or c then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local names = { 'hits', 'misses', 'stale', 'errors' }
for i = 2, #KEYS do
  local at = 7 + (i - 2) * 5
  for j = 1, 4 do
    local n = tonumber(ARGV[at + j])
    if n > 0 then redis.call('HINCRBY', KEYS[i], names[j], n) end
  end
  redis.call('PEXPIREAT', KEYS[i], ARGV[at])
end
return 1`;

/**
 * Rule health shared by every frontend through Redis. The pull path records into this process's
 * tracker and a batch in memory (never a Redis round trip per pull); every `flushMs` the batch is
 * written with one script per rule: `<prefix>:rule-health:<rule>` (hash: last success, last failure
 * `{category, message, time}`, last answering upstream; expires `factsTtlMs` after its last update) and
 * `<prefix>:rule-health:<rule>:<bucketMs>:<start>` (hash: hits, misses, stale, errors; expires when the
 * bucket has left the window). A read sums the window's buckets in Redis plus this process's
 * unflushed counts (`scope: "shared"`); with Redis down or slower than `readTimeoutMs` it answers
 * with this process's own view (`scope: "local"`). Redis holds rule names, categories, upstream
 * hosts, times and sanitized messages: no secret.
 */
export class RedisRuleHealth implements PullObserver, RuleHealthView {
  /** This process's own view: the fallback, and the source of its latest facts. */
  readonly local: RuleHealthTracker;
  private readonly batch = new RuleHealthBatch();
  private readonly redis: Redis;
  private readonly logger: Logger;
  private readonly windowMs: number;
  private readonly bucketMs: number;
  private readonly readTimeoutMs: number;
  private readonly factsTtlMs: number;
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;

  constructor(private readonly options: RedisRuleHealthOptions) {
    this.local = new RuleHealthTracker({ windowMs: options.windowMs, buckets: options.buckets });
    this.windowMs = this.local.windowMs;
    this.bucketMs = this.local.bucketMs;
    this.logger = options.logger ?? silentLogger;
    this.readTimeoutMs = options.readTimeoutMs ?? 500;
    this.factsTtlMs = options.factsTtlMs ?? 7 * 24 * 3_600_000;
    // Fail fast (no offline queue, no retries): the request path never waits, a flush is put back.
    this.redis = new Redis(options.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 1_000, retryStrategy: (n: number) => Math.min(n * 200, 2_000) });
    this.redis.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'rule health: redis connection error'));
    this.timer = setInterval(() => void this.flush(), options.flushMs ?? 1_000);
    this.timer.unref();
  }

  /** Whether the connection is up (health is shared); false: reads answer with this process's view. */
  get connected(): boolean {
    return this.redis.status === 'ready';
  }

  served(rule: string, cache: CacheStatus): void {
    this.local.served(rule, cache);
    const now = Date.now();
    this.batch.count(rule, this.bucketOf(now), countOf(cache));
    this.batch.learn(rule, { lastSuccess: now });
  }

  failed(rule: string, category: FailureCategory, message: string): void {
    this.local.failed(rule, category, message);
    const now = Date.now();
    this.batch.count(rule, this.bucketOf(now), 'errors');
    this.batch.learn(rule, { lastFailure: { category, message: sanitizeHealthMessage(message), time: now } });
  }

  upstreamAnswered(rule: string, upstream: string, fallback: boolean): void {
    this.local.upstreamAnswered(rule, upstream, fallback);
    this.batch.learn(rule, { lastServedBy: { upstream, fallback, time: Date.now() } });
  }

  /** Every frontend's view from Redis plus this process's unflushed counts; this process's own view if Redis does not answer in time. */
  async read(rules: readonly string[]): Promise<RuleHealthReading> {
    const local = (): Promise<RuleHealthReading> => this.local.read();
    if (!this.connected) return local();
    const now = Date.now();
    const starts = windowBucketStarts(now, this.windowMs, this.bucketMs);
    const pipeline = this.redis.pipeline();
    for (const rule of rules) {
      pipeline.hmget(this.factsKey(rule), ...FACT_FIELDS);
      for (const start of starts) pipeline.hmget(this.bucketKey(rule, start), ...COUNT_FIELDS);
    }
    const results = await this.answeredInTime(pipeline.exec());
    if (!results) return local();
    const views = new Map<string, { facts: RuleHealthFacts; counts: RuleCounts }>();
    let i = 0;
    for (const rule of rules) {
      const facts = latestFacts(parseFacts(results[i++]![1] as (string | null)[]), this.local.facts(rule));
      const counts = this.batch.counts(rule, starts);
      for (let b = 0; b < starts.length; b++) addCounts(counts, parseCounts(results[i++]![1] as (string | null)[]));
      views.set(rule, { facts, counts });
    }
    return {
      scope: 'shared',
      health: (rule) => {
        const view = views.get(rule);
        return healthSnapshot(view?.facts ?? {}, view?.counts ?? zeroCounts(), now, this.windowMs);
      },
    };
  }

  /** One rule's window bucket by bucket: every frontend's counts plus this process's unflushed ones; this process's own if Redis does not answer in time. */
  async series(rule: string): Promise<RuleHealthSeries> {
    if (!this.connected) return this.local.series(rule);
    const starts = windowBucketStarts(Date.now(), this.windowMs, this.bucketMs);
    const pipeline = this.redis.pipeline();
    for (const start of starts) pipeline.hmget(this.bucketKey(rule, start), ...COUNT_FIELDS);
    const results = await this.answeredInTime(pipeline.exec());
    if (!results) return this.local.series(rule);
    const buckets = starts.map((start, i) => ({ start: new Date(start).toISOString(), ...addCounts(this.batch.counts(rule, [start]), parseCounts(results[i]![1] as (string | null)[])) }));
    return { scope: 'shared', windowSeconds: this.windowMs / 1000, bucketSeconds: this.bucketMs / 1000, buckets };
  }

  /** A pipeline's results if every command answered within `readTimeoutMs`; undefined otherwise (the caller answers with this process's view). */
  private async answeredInTime(answered: Promise<[Error | null, unknown][] | null>): Promise<[Error | null, unknown][] | undefined> {
    try {
      const results = await answerWithin(answered, this.readTimeoutMs);
      if (results !== LATE && results !== null && results.every(([err]) => err === null)) return results;
      this.logger.debug({ late: results === LATE }, 'rule health: shared read failed; answering with this process view');
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'rule health: shared read failed; answering with this process view');
    }
    return undefined;
  }

  /** Write what was recorded since the last flush (runs every `flushMs`; a flush already under way is awaited instead). */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Drop what is known about a rule (it was deleted): here and, best effort, its facts and the window's counts in Redis. */
  forget(rule: string): void {
    this.local.forget(rule);
    this.batch.forget(rule);
    if (!this.connected) return;
    const now = Date.now();
    const buckets = [...windowBucketStarts(now, this.windowMs, this.bucketMs), this.bucketOf(now) + this.bucketMs].map((start) => this.bucketKey(rule, start));
    this.redis.del(this.factsKey(rule), ...buckets).catch(() => undefined);
  }

  /** Stop flushing, write what is pending (bounded by the command timeout), close the connection. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush().catch(() => undefined);
    this.redis.disconnect();
  }

  private async write(): Promise<void> {
    this.batch.prune(this.bucketOf(Date.now() - this.windowMs) - this.bucketMs);
    if (!this.connected || this.batch.size === 0) return;
    const taken = this.batch.take();
    const pipeline = this.redis.pipeline();
    for (const [rule, delta] of taken) this.script(pipeline, rule, delta);
    let failed: Error | undefined;
    try {
      const results = await pipeline.exec();
      failed = results?.find(([err]) => err !== null)?.[0] ?? (results === null ? new Error('pipeline discarded') : undefined);
    } catch (err) {
      failed = err as Error;
    }
    if (failed === undefined) return;
    // Timed out: Redis may still run it (a slow or paused server), so it is not sent twice. Refused: sent again next time.
    if (/timed out/i.test(failed.message)) {
      this.logger.debug({ err: failed.message }, 'rule health: flush timed out; its counts are not resent');
    } else {
      this.batch.putBack(taken);
      this.logger.debug({ err: failed.message }, 'rule health: flush failed; kept for the next one');
    }
  }

  private script(pipeline: ReturnType<Redis['pipeline']>, rule: string, delta: RuleHealthDelta): void {
    const { lastSuccess, lastFailure, lastServedBy } = delta.facts;
    const keys = [this.factsKey(rule)];
    const args: (string | number)[] = [
      this.factsTtlMs,
      lastSuccess ?? '',
      lastFailure ? JSON.stringify(lastFailure) : '',
      lastFailure?.time ?? '',
      lastServedBy ? JSON.stringify(lastServedBy) : '',
      lastServedBy?.time ?? '',
    ];
    for (const [start, counts] of delta.buckets) {
      keys.push(this.bucketKey(rule, start));
      args.push(start + this.bucketMs + this.windowMs + EXPIRY_MARGIN_MS, counts.hits, counts.misses, counts.stale, counts.errors);
    }
    pipeline.eval(FLUSH, keys.length, ...keys, ...args);
  }

  private bucketOf(time: number): number {
    return time - (time % this.bucketMs);
  }

  private factsKey(rule: string): string {
    return `${this.options.prefix}:rule-health:${rule}`;
  }

  private bucketKey(rule: string, start: number): string {
    return `${this.options.prefix}:rule-health:${rule}:${this.bucketMs}:${start}`;
  }
}

function parseCounts(values: (string | null)[] | undefined): RuleCounts {
  const counts = zeroCounts();
  COUNT_FIELDS.forEach((field, i) => {
    const n = Number(values?.[i] ?? 0);
    if (Number.isSafeInteger(n) && n > 0) counts[field] = n;
  });
  return counts;
}

function parseFacts(values: (string | null)[] | undefined): RuleHealthFacts {
  const [success, failure, servedBy] = values ?? [];
  const lastSuccess = Number(success ?? NaN);
  const f = parseJson(failure) as { category?: unknown; message?: unknown; time?: unknown } | undefined;
  const s = parseJson(servedBy) as { upstream?: unknown; fallback?: unknown; time?: unknown } | undefined;
  const time = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  return {
    ...(Number.isFinite(lastSuccess) ? { lastSuccess } : {}),
    ...(f && typeof f.category === 'string' && CATEGORIES.has(f.category) && typeof f.message === 'string' && time(f.time)
      ? { lastFailure: { category: f.category as FailureCategory, message: sanitizeHealthMessage(f.message), time: f.time } }
      : {}),
    ...(s && typeof s.upstream === 'string' && time(s.time) ? { lastServedBy: { upstream: s.upstream, fallback: s.fallback === true, time: s.time } } : {}),
  };
}

function parseJson(value: string | null | undefined): unknown {
  if (!value) return undefined;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}
