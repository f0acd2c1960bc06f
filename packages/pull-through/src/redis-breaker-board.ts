import { randomUUID } from 'node:crypto';
import { redisSubscriber } from './redis-subscriber.js';
import { Redis } from 'ioredis';
import type { SharedBreakerBoard, SharedHold, SharedRateLimit } from '@pullthrough/upstream';
import { silentLogger, type Logger } from './logger.js';
import { answerWithin, LATE } from './answer-within.js';

export interface RedisBreakerBoardOptions {
  url: string;
  /** Key prefix shared by every replica (the apps use their queue prefix). */
  prefix: string;
  logger?: Logger;
  /** Re-read every hold this often, in case a pub/sub message was missed. Default 1000. */
  pollMs?: number;
  /** How long a hold outlives its end while no trial call has closed it. Default 15000. */
  graceMs?: number;
  /** How long the winner of a trial call keeps the claim. Default 10000. */
  probeLeaseMs?: number;
  /** The longest the request path waits for a trial-call claim. Default 50. */
  claimTimeoutMs?: number;
}

interface KnownHold extends SharedHold {
  /** When this process learnt it (a poll started earlier must not drop it). */
  learntAt: number;
}

// KEYS: hold key, hosts set, channel. ARGV: hold JSON, until, PX, host, message. A later hold wins.
const ANNOUNCE = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, old = pcall(cjson.decode, cur)
  if ok and type(old) == 'table' and tonumber(old['until']) and tonumber(old['until']) >= tonumber(ARGV[2]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('PUBLISH', KEYS[3], ARGV[5])
return 1`;

// KEYS: claim key. ARGV: our id, PX. Ours if free or already ours (a claim retried after a slow answer).
const CLAIM = `
local cur = redis.call('GET', KEYS[1])
if cur == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if cur == ARGV[1] then return 1 end
return 0`;

/**
 * Breaker holds shared across replicas through Redis: `<prefix>:breaker:<host>` holds
 * `{"until":<epoch ms>,"throttled":<bool>}` with a PX expiry, `<prefix>:breaker-events` carries
 * the same (or `closed`) by pub/sub, and a poll of every hold backs pub/sub up. The upstream's
 * rate-limit view (numbers and a time) travels the same way in `<prefix>:ratelimit:<host>`. Reads come from the
 * local copy only; the one wait on Redis is the trial-call claim, bounded by `claimTimeoutMs`.
 * Both connections fail fast (no offline queue): with Redis down each breaker decides alone.
 */
export class RedisBreakerBoard implements SharedBreakerBoard {
  private readonly holds = new Map<string, KnownHold>();
  private readonly rateLimits = new Map<string, SharedRateLimit>();
  /** When each upstream was last announced closed (a poll that started earlier must not revive it). */
  private readonly closedAt = new Map<string, number>();
  private readonly listeners: ((upstream: string) => void)[] = [];
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly id = randomUUID();
  private readonly channel: string;
  private readonly logger: Logger;
  private readonly graceMs: number;
  private readonly probeLeaseMs: number;
  private readonly claimTimeoutMs: number;
  private readonly timer: NodeJS.Timeout;
  private polling = false;

  constructor(private readonly options: RedisBreakerBoardOptions) {
    this.logger = options.logger ?? silentLogger;
    this.graceMs = options.graceMs ?? 15_000;
    this.probeLeaseMs = options.probeLeaseMs ?? 10_000;
    this.claimTimeoutMs = options.claimTimeoutMs ?? 50;
    this.channel = `${options.prefix}:breaker-events`;
    const connection = { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 2_000, retryStrategy: (n: number) => Math.min(n * 200, 2_000) };
    this.redis = new Redis(options.url, connection);
    this.subscriber = redisSubscriber(options.url, connection, [this.channel], (err) => this.logger.debug({ err: err.message }, 'breaker board: subscribe failed'));
    for (const r of [this.redis, this.subscriber]) r.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'breaker board: redis connection error'));
    // Back after an outage: share the holds this replica knows (a later hold wins), then read the others'.
    this.redis.on('ready', () => {
      for (const [upstream, known] of this.holds) if (known.until > Date.now()) this.announceOpen(upstream, known);
      void this.poll();
    });
    this.subscriber.on('message', (_channel: string, message: string) => this.receive(message));
    this.timer = setInterval(() => void this.poll(), options.pollMs ?? 1_000);
    this.timer.unref();
  }

  /** Whether both connections are up (holds are shared); false: this replica decides alone. */
  get connected(): boolean {
    return this.redis.status === 'ready' && this.subscriber.status === 'ready';
  }

  hold(upstream: string): SharedHold | undefined {
    const known = this.holds.get(upstream);
    if (known === undefined) return undefined;
    if (Date.now() > known.until + this.graceMs) {
      this.holds.delete(upstream);
      return undefined;
    }
    return { until: known.until, throttled: known.throttled };
  }

  upstreams(): string[] {
    const held = [...this.holds.keys()].filter((upstream) => this.hold(upstream) !== undefined);
    return [...new Set([...held, ...this.rateLimits.keys()])];
  }

  rateLimit(upstream: string): SharedRateLimit | undefined {
    return this.rateLimits.get(upstream);
  }

  announceRateLimit(upstream: string, view: SharedRateLimit): void {
    this.learnRateLimit(upstream, view);
    if (this.redis.status !== 'ready') return;
    const value = JSON.stringify(view);
    // Kept for one rate-limit window (Docker Hub's is 6 h), at least an hour.
    const px = Math.max(3_600_000, (view.windowSeconds ?? 0) * 1000);
    this.redis
      .multi()
      .set(this.rateLimitKey(upstream), value, 'PX', px)
      .sadd(this.hostsKey(), upstream)
      .publish(this.channel, JSON.stringify({ upstream, rateLimit: view }))
      .exec()
      .catch((err: Error) => this.logger.debug({ upstream, err: err.message }, 'breaker board: rate limit not shared'));
  }

  announceOpen(upstream: string, hold: SharedHold): void {
    this.learn(upstream, hold);
    if (this.redis.status !== 'ready') return; // shared again when Redis is back (the 'ready' handler)
    const value = JSON.stringify({ until: hold.until, throttled: hold.throttled });
    const message = JSON.stringify({ upstream, until: hold.until, throttled: hold.throttled });
    const px = Math.max(1, hold.until - Date.now() + this.graceMs);
    this.redis
      .eval(ANNOUNCE, 3, this.holdKey(upstream), this.hostsKey(), this.channel, value, String(hold.until), String(px), upstream, message)
      .catch((err: Error) => this.logger.debug({ upstream, err: err.message }, 'breaker board: open not shared'));
  }

  announceClosed(upstream: string): void {
    this.holds.delete(upstream);
    this.closedAt.set(upstream, Date.now());
    this.redis
      .multi()
      .del(this.holdKey(upstream))
      .publish(this.channel, JSON.stringify({ upstream, closed: true }))
      .exec()
      .catch((err: Error) => this.logger.debug({ upstream, err: err.message }, 'breaker board: close not shared'));
  }

  async claimProbe(upstream: string, until: number): Promise<boolean> {
    if (this.redis.status !== 'ready') return true;
    try {
      const answer = await answerWithin(this.redis.eval(CLAIM, 1, `${this.options.prefix}:breaker-probe:${upstream}:${until}`, this.id, String(this.probeLeaseMs)), this.claimTimeoutMs);
      // Too slow: refuse now (the caller retries later and finds the claim if it was ours).
      if (answer === LATE) return false;
      return answer === 1;
    } catch {
      return true; // Redis refused the command: this replica decides alone
    }
  }

  onClosed(listener: (upstream: string) => void): void {
    this.listeners.push(listener);
  }

  /** Stop polling and close both connections. */
  close(): void {
    clearInterval(this.timer);
    this.redis.disconnect();
    this.subscriber.disconnect();
  }

  /** Re-read every hold (pub/sub may have missed some while a connection was down). */
  async poll(): Promise<void> {
    if (this.polling || this.redis.status !== 'ready') return;
    this.polling = true;
    const started = Date.now();
    try {
      const hosts = await this.redis.smembers(this.hostsKey());
      const values = hosts.length > 0 ? await this.redis.mget([...hosts.map((h) => this.holdKey(h)), ...hosts.map((h) => this.rateLimitKey(h))]) : [];
      const seen = new Set<string>();
      hosts.forEach((upstream, i) => {
        const view = parseRateLimit(values[hosts.length + i]);
        if (view !== undefined) this.learnRateLimit(upstream, view);
        const hold = parseHold(values[i]);
        if (hold === undefined || (this.closedAt.get(upstream) ?? 0) >= started) return;
        seen.add(upstream);
        this.learn(upstream, hold);
      });
      for (const [upstream, known] of this.holds) if (!seen.has(upstream) && known.learntAt < started) this.holds.delete(upstream);
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'breaker board: poll failed');
    } finally {
      this.polling = false;
    }
  }

  private receive(message: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    const upstream = (parsed as { upstream?: unknown } | null)?.upstream;
    if (typeof upstream !== 'string') return;
    if ((parsed as { closed?: unknown }).closed === true) {
      this.holds.delete(upstream);
      this.closedAt.set(upstream, Date.now());
      for (const listener of this.listeners) listener(upstream);
      return;
    }
    const view = (parsed as { rateLimit?: unknown }).rateLimit;
    if (view !== undefined) {
      const rateLimit = parseRateLimit(JSON.stringify(view));
      if (rateLimit !== undefined) this.learnRateLimit(upstream, rateLimit);
      return;
    }
    const hold = parseHold(message);
    if (hold !== undefined) this.learn(upstream, hold);
  }

  private learnRateLimit(upstream: string, view: SharedRateLimit): void {
    const known = this.rateLimits.get(upstream);
    if (known === undefined || known.observedAt < view.observedAt) this.rateLimits.set(upstream, view);
  }

  private rateLimitKey(upstream: string): string {
    return `${this.options.prefix}:ratelimit:${upstream}`;
  }

  private learn(upstream: string, hold: SharedHold): void {
    const known = this.holds.get(upstream);
    if (known !== undefined && known.until >= hold.until) return;
    this.holds.set(upstream, { ...hold, learntAt: Date.now() });
  }

  private holdKey(upstream: string): string {
    return `${this.options.prefix}:breaker:${upstream}`;
  }

  private hostsKey(): string {
    return `${this.options.prefix}:breaker-hosts`;
  }
}

function parseHold(value: string | null | undefined): SharedHold | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value) as { until?: unknown; throttled?: unknown };
    return typeof parsed.until === 'number' && Number.isFinite(parsed.until) ? { until: parsed.until, throttled: parsed.throttled === true } : undefined;
  } catch {
    return undefined;
  }
}

function parseRateLimit(value: string | null | undefined): SharedRateLimit | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value) as Record<string, unknown>;
    const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);
    const observedAt = count(parsed.observedAt);
    if (observedAt === undefined) return undefined;
    const [limit, remaining, windowSeconds] = [count(parsed.limit), count(parsed.remaining), count(parsed.windowSeconds)];
    return { observedAt, ...(limit !== undefined ? { limit } : {}), ...(remaining !== undefined ? { remaining } : {}), ...(windowSeconds !== undefined ? { windowSeconds } : {}) };
  } catch {
    return undefined;
  }
}
