import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { DELETE_IF_OWNED, RENEW_IF_OWNED } from '../redis-script.js';

/** A held lock: `release` gives it up (only if still ours). */
export interface HeldLock {
  release(): Promise<void>;
}

/** One retention run (or purge) at a time across every frontend and hydrator. */
export interface RetentionLock {
  /** The lock, or undefined when another process holds it. Rejects when Redis cannot be asked. */
  acquire(): Promise<HeldLock | undefined>;
}

/**
 * `SET <prefix>:retention:lock <owner> NX PX ttl`, renewed every third of the TTL while held and
 * released with compare-and-delete; a holder that dies loses it after the TTL.
 */
export class RedisRetentionLock implements RetentionLock {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlMs = 60_000,
  ) {}

  private get key(): string {
    return `${this.prefix}:retention:lock`;
  }

  async acquire(): Promise<HeldLock | undefined> {
    const owner = randomUUID();
    const ok = await this.redis.set(this.key, owner, 'PX', this.ttlMs, 'NX');
    if (ok !== 'OK') return undefined;
    const timer = setInterval(() => void RENEW_IF_OWNED.run(this.redis, [this.key], [owner, this.ttlMs]).catch(() => undefined), Math.max(1, Math.floor(this.ttlMs / 3)));
    timer.unref();
    return {
      release: async () => {
        clearInterval(timer);
        await DELETE_IF_OWNED.run(this.redis, [this.key], [owner]).catch(() => undefined);
      },
    };
  }
}
