import { LruCache } from '@pullthrough/oci';
import type { MissLimiter } from './miss-limiter.js';

export interface TokenBucketOptions {
  /** Requests per second a client may sustain. */
  ratePerSecond: number;
  /** Requests a client may make at once (the bucket's size; a new client starts full). */
  burst: number;
  /** Clients tracked at once; the least recently seen is forgotten first (it starts full again). */
  maxClients?: number;
  now?: () => number;
}

export const DEFAULT_MAX_TRACKED_CLIENTS = 10_000;

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket per client, in this process's memory (each frontend replica limits on its own).
 * A bucket left alone long enough to refill expires (it would be full anyway), and at most
 * `maxClients` buckets are kept, so memory stays bounded whatever clients come and go.
 */
export class TokenBucketLimiter implements MissLimiter {
  private readonly buckets: LruCache<Bucket>;
  private readonly now: () => number;
  private readonly refillMs: number;

  constructor(private readonly options: TokenBucketOptions) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1)) throw new Error('a token bucket needs a positive rate and a burst of at least 1');
    this.now = options.now ?? Date.now;
    this.buckets = new LruCache(Math.max(4, options.maxClients ?? DEFAULT_MAX_TRACKED_CLIENTS), () => 1, this.now);
    this.refillMs = (options.burst / options.ratePerSecond) * 1000;
  }

  take(client: string): number | undefined {
    const now = this.now();
    const { ratePerSecond: rate, burst } = this.options;
    const bucket = this.buckets.get(client) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    let retryAfterSeconds: number | undefined;
    if (bucket.tokens >= 1) bucket.tokens -= 1;
    else retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / rate));
    // Forget the bucket once it would be full again: a bucket that is not kept starts full.
    this.buckets.set(client, bucket, this.refillMs + 1);
    return retryAfterSeconds;
  }

  /** Clients tracked now (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }
}
