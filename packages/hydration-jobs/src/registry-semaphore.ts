import type { Redis } from 'ioredis';

// KEYS[1] the registry's lease set; ARGV: now, lease expiry, limit, holder, key ttl. Expired leases (a
// crashed holder) are dropped first; a holder that already has a lease just renews it.
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
`;

export interface RegistrySemaphoreOptions {
  /** Key prefix (the queue prefix), so deployments sharing a Redis do not share leases. */
  prefix: string;
  /** Holders per upstream registry across every hydrator process. */
  limit: number;
  /** A lease not renewed for this long is dropped (its holder died). */
  leaseMs: number;
}

/** A held lease: renewed in the background until released. */
export interface RegistryLease {
  release(): Promise<void>;
}

/**
 * A counting semaphore per upstream registry in Redis (a sorted set of holders scored by lease
 * expiry), shared by every hydrator process: at most `limit` jobs talk to one registry at once.
 * BullMQ's own groups are a Pro feature; this is the small open equivalent.
 */
export class RegistrySemaphore {
  constructor(
    private readonly redis: Redis,
    private readonly options: RegistrySemaphoreOptions,
  ) {}

  private key(registry: string): string {
    return `${this.options.prefix}:registry-leases:${registry}`;
  }

  /** Take a lease for `holder` (e.g. a job id), or undefined when the registry is at its limit. */
  async tryAcquire(registry: string, holder: string): Promise<RegistryLease | undefined> {
    const key = this.key(registry);
    if (!(await this.touch(key, holder))) return undefined;
    const renew = setInterval(() => void this.touch(key, holder).catch(() => undefined), Math.max(50, Math.floor(this.options.leaseMs / 3)));
    renew.unref();
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(renew);
        await this.redis.zrem(key, holder);
      },
    };
  }

  /** Holders with a live lease on a registry. */
  async holders(registry: string): Promise<string[]> {
    return this.redis.zrangebyscore(this.key(registry), Date.now(), '+inf');
  }

  private async touch(key: string, holder: string): Promise<boolean> {
    const now = Date.now();
    const result = await this.redis.eval(ACQUIRE, 1, key, now, now + this.options.leaseMs, this.options.limit, holder, this.options.leaseMs * 4);
    return result === 1;
  }
}
