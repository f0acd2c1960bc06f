import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

type Arg = string | number;

/**
 * A Lua script called by its SHA1 (`EVALSHA`): a call carries the 40-character hash instead of the
 * script's text, and Redis looks the script up instead of hashing its text again. Redis forgets its
 * scripts on a restart, a failover or `SCRIPT FLUSH`: the call that gets `NOSCRIPT` sends the text
 * once with `EVAL`, which caches it again. Measured on the 60-layer cold pull: the leases and garbage
 * collection touches run 5 scripts per blob (README, Performance).
 */
export class RedisScript {
  readonly sha: string;

  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** Run the script on `redis` with `keys` and `args`; resolves with its reply (as `eval` would). */
  run(redis: Redis, keys: readonly string[], args: readonly Arg[] = []): Promise<unknown> {
    return redis.evalsha(this.sha, keys.length, ...keys, ...args).catch((err: Error) => {
      if (!String(err.message).startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    });
  }
}

/** KEYS[1]: a lock or lease; ARGV[1]: its owner; ARGV[2]: PX. Its expiry starts again if it is still that owner's: 1, else 0. */
export const RENEW_IF_OWNED = new RedisScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`);

/** KEYS[1]: a lock or lease; ARGV[1]: its owner. Deleted only if it is still that owner's (one taken over is left alone): 1, else 0. */
export const DELETE_IF_OWNED = new RedisScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`);
