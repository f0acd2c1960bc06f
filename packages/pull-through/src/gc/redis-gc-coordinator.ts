import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { LruCache, type Digest } from '@pullthrough/oci';
import type { BlobTouches } from '@pullthrough/storage';
import { answerWithin, LATE } from '../answer-within.js';
import { silentLogger, type Logger } from '../logger.js';
import { DELETE_IF_OWNED, RedisScript, RENEW_IF_OWNED } from '../redis-script.js';

/** The single-runner lock of a collection; `lost` once another process could have taken it. */
export interface GcRunLock {
  readonly lost: boolean;
  release(): Promise<void>;
}

/** What a collection needs from its coordinator (Redis in production). */
export interface GcCoordinator {
  /** The shared clock (ms): touches and the mark start are stamped by it. */
  now(): Promise<number>;
  /** The run lock, or undefined while another collection runs. */
  acquireRun(): Promise<GcRunLock | undefined>;
  /** Was `digest` touched at or after `sinceMs`? (dry run) */
  touchedSince(digest: Digest, sinceMs: number): Promise<boolean>;
  /** Claim `digest` for deletion unless it was touched at or after `sinceMs`; a touch of a claimed digest waits for `release`. */
  claim(digest: Digest, sinceMs: number): Promise<boolean>;
  release(digest: Digest): Promise<void>;
}

export interface RedisGcCoordinatorOptions {
  url: string;
  /** Key prefix shared by every replica (the apps use their queue prefix). */
  prefix: string;
  logger?: Logger;
  /** How long touches are remembered: at least the grace period (the apps add an hour). */
  touchRetentionMs: number;
  /** The run lock lives this long without renewal (renewed every third of it). Default 60000. */
  runLockMs?: number;
  /** A deletion claim expires after this long if its collector dies. Default 30000. */
  claimMs?: number;
  /** The longest a touch waits for a collector to finish deleting a claimed digest. Default 60000. */
  maxTouchWaitMs?: number;
  /** The longest one touch waits for Redis to answer (a slow Redis delays no pull longer). Default 500. */
  touchTimeoutMs?: number;
  /**
   * A digest whose touch this process had recorded (not skipped, not waiting on a claim) less than
   * this long ago is not sent again: no collection can claim it within the grace period after a
   * recorded touch, so a second touch inside that period protects nothing more. Must stay well under
   * the grace period (gcTouchSettings). Default 0: every touch goes to Redis.
   */
  recentTouchMs?: number;
}

/** Digests remembered as recently touched, at most (a 60-layer image's worth many times over). */
const RECENT_TOUCHES_MAX = 10_000;

/**
 * The coordinator's settings for a grace period both apps share: touches kept an hour longer than
 * the grace, and a touch not repeated within a sixth of it, at most 2 s (a blob's creation, commit and
 * link, and the touch of the manifest naming it, are usually that close; a collection started by a
 * process configured with a shorter grace, as the tests' in-process collectors of a few seconds are,
 * still sees every touch older than that).
 */
export function gcTouchSettings(graceMs: number): Pick<RedisGcCoordinatorOptions, 'touchRetentionMs' | 'recentTouchMs'> {
  return { touchRetentionMs: graceMs + 3_600_000, recentTouchMs: Math.min(2_000, Math.floor(graceMs / 6)) };
}

const NOW = new RedisScript(`local t = redis.call('TIME') return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`);
// KEYS[1]: touches; KEYS[i>1]: claim of ARGV[i]. ARGV[1]: retention ms. Returns the digests being deleted (not touched).
const TOUCH = new RedisScript(`local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local busy = {}
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then busy[#busy + 1] = ARGV[i] else redis.call('ZADD', KEYS[1], now, ARGV[i]) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
return busy`);
// KEYS: touches, claim. ARGV: digest, since, claim ms, owner. 1: claimed; 0: touched since.
const CLAIM = new RedisScript(`local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(s) >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3])
return 1`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());

/**
 * Garbage collection's coordination in Redis, all under `<prefix>:{gc}:` (one hash slot):
 * - `touches`: a sorted set of digest -> time (Redis clock) of the last write, commit or link of
 *   that blob (and of a stored manifest naming it), by every process; kept touchRetentionMs;
 * - `sweep:<digest>`: the claim of a collector deleting that blob; a touch of a claimed digest waits
 *   until the deletion is over, so whoever touched finds the blob missing and writes it again;
 * - `run`: the lock that makes one collection run at a time across replicas.
 * Claim and touch are each one script, so a touch is either seen by the claim (blob kept) or waits
 * for the deletion to end. Redis down: touches are logged and skipped (the grace period still
 * protects new blobs), and no collection can start.
 */
export class RedisGcCoordinator implements GcCoordinator, BlobTouches {
  private readonly redis: Redis;
  private readonly logger: Logger;
  private readonly owner = randomUUID();
  private readonly touchesKey: string;
  private readonly createdAt = Date.now();
  private everReady = false;
  /** Digests whose touch was recorded lately, each for recentTouchMs from when it was sent (monotonic clock). */
  private readonly recent = new LruCache<true>(RECENT_TOUCHES_MAX, () => 1, () => performance.now());

  constructor(private readonly options: RedisGcCoordinatorOptions) {
    this.logger = options.logger ?? silentLogger;
    this.touchesKey = this.key('touches');
    this.redis = new Redis(options.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 2_000, retryStrategy: (n: number) => Math.min(n * 200, 2_000) });
    this.redis.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'gc coordinator: redis connection error'));
    this.redis.once('ready', () => (this.everReady = true));
  }

  /** Wait up to `ms` for the connection (commands are not queued while it is down: they would fail at once). */
  private async connected(ms: number): Promise<void> {
    if (this.redis.status === 'ready') return;
    let timer: NodeJS.Timeout | undefined;
    let onReady: (() => void) | undefined;
    await new Promise<void>((resolve) => {
      onReady = resolve;
      this.redis.once('ready', onReady);
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    if (onReady) this.redis.off('ready', onReady);
  }

  private key(part: string): string {
    return `${this.options.prefix}:{gc}:${part}`;
  }

  async touch(digests: readonly Digest[]): Promise<void> {
    let pending = [...new Set(digests)].filter((digest) => this.recent.get(digest) === undefined);
    const deadline = Date.now() + (this.options.maxTouchWaitMs ?? 60_000);
    while (pending.length > 0) {
      let busy: string[];
      // Redis stamps the touch no earlier than this: the protection it gives is counted from here.
      const sentAt = performance.now();
      try {
        // Only while first connecting (a process just started): a connection lost later fails touches fast (pulls go on).
        if (!this.everReady && Date.now() - this.createdAt < 2_000) await this.connected(this.options.touchTimeoutMs ?? 500);
        const answer = TOUCH.run(this.redis, [this.touchesKey, ...pending.map((d) => this.key(`sweep:${d}`))], [this.options.touchRetentionMs, ...pending]);
        const answered = await answerWithin(answer as Promise<string[]>, this.options.touchTimeoutMs ?? 500);
        if (answered === LATE) throw new Error('redis did not answer in time');
        busy = answered;
      } catch (err) {
        this.logger.debug({ err: (err as Error).message, blobs: pending.length }, 'gc coordinator: touch not recorded (redis unavailable)');
        return;
      }
      this.remember(pending.filter((digest) => !busy.includes(digest)), sentAt);
      if (busy.length === 0) return;
      if (Date.now() > deadline) {
        this.logger.warn({ digests: busy }, 'gc coordinator: a collector held these blobs longer than the touch waits; going on');
        return;
      }
      pending = busy as Digest[];
      await sleep(25);
    }
  }

  private remember(recorded: readonly Digest[], sentAt: number): void {
    const ttlMs = (this.options.recentTouchMs ?? 0) - (performance.now() - sentAt);
    if (ttlMs <= 0) return;
    for (const digest of recorded) this.recent.set(digest, true, ttlMs);
  }

  async now(): Promise<number> {
    await this.connected(5_000);
    return Number(await NOW.run(this.redis, []));
  }

  async acquireRun(): Promise<GcRunLock | undefined> {
    const key = this.key('run');
    const lockMs = this.options.runLockMs ?? 60_000;
    const owner = `${this.owner}:${randomUUID()}`;
    await this.connected(5_000);
    if ((await this.redis.set(key, owner, 'PX', lockMs, 'NX')) !== 'OK') return undefined;
    let lost = false;
    const timer = setInterval(() => {
      RENEW_IF_OWNED.run(this.redis, [key], [owner, lockMs]).then(
        (renewed) => {
          if (Number(renewed) !== 1) lost = true;
        },
        (err: Error) => this.logger.warn({ err: err.message }, 'gc coordinator: run lock not renewed'),
      );
    }, Math.max(1, Math.floor(lockMs / 3)));
    timer.unref();
    return {
      get lost() {
        return lost;
      },
      release: async () => {
        clearInterval(timer);
        await DELETE_IF_OWNED.run(this.redis, [key], [owner]).catch((err: Error) => this.logger.warn({ err: err.message }, 'gc coordinator: run lock not released (it expires)'));
      },
    };
  }

  async touchedSince(digest: Digest, sinceMs: number): Promise<boolean> {
    const score = await this.redis.zscore(this.touchesKey, digest);
    return score !== null && Number(score) >= sinceMs;
  }

  async claim(digest: Digest, sinceMs: number): Promise<boolean> {
    const claimed = await CLAIM.run(this.redis, [this.touchesKey, this.key(`sweep:${digest}`)], [digest, sinceMs, this.options.claimMs ?? 30_000, this.owner]);
    return Number(claimed) === 1;
  }

  async release(digest: Digest): Promise<void> {
    await DELETE_IF_OWNED.run(this.redis, [this.key(`sweep:${digest}`)], [this.owner]);
  }

  close(): void {
    this.redis.disconnect();
  }
}
