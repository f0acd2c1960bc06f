export interface FailedLoginLimiterOptions {
  /** Failed logins one client may make in a row (the bucket's size; a new client starts full). */
  burst: number;
  /** Failed logins per minute a client earns back. */
  perMinute: number;
  /** Clients tracked at once; the least recently seen is forgotten first (it starts full again). */
  maxClients: number;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket of failed logins per client (its address), in this process's memory. Only
 * failures take a token; a client whose bucket is empty is refused every password login until
 * it refills (`retryAfterSeconds`), before any password is checked. Refusing good passwords too
 * is deliberate: if a right guess still succeeded, the 429s would tell a guesser which guess was
 * right, at no bcrypt cost. Bearer tokens issued earlier keep working. Memory stays bounded:
 * at most `maxClients` buckets (least recently seen dropped first), full ones are dropped.
 */
export class FailedLoginLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;

  constructor(private readonly options: FailedLoginLimiterOptions) {
    if (!(options.burst >= 1) || !(options.perMinute > 0) || !(options.maxClients >= 1)) {
      throw new Error('a failed-login limiter needs burst >= 1, perMinute > 0 and maxClients >= 1');
    }
    this.now = options.now ?? Date.now;
  }

  /** Seconds until `client` may try a password again; undefined: it may now. */
  retryAfterSeconds(client: string): number | undefined {
    const bucket = this.refilled(client);
    if (bucket === undefined || bucket.tokens >= 1) return undefined;
    return Math.max(1, Math.ceil(((1 - bucket.tokens) * 60) / this.options.perMinute));
  }

  /** `client` sent a wrong user name or password. */
  recordFailure(client: string): void {
    const bucket = this.refilled(client) ?? { tokens: this.options.burst, at: this.now() };
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    this.buckets.delete(client);
    this.buckets.set(client, bucket);
    if (this.buckets.size > this.options.maxClients) this.buckets.delete(this.buckets.keys().next().value as string);
  }

  /** Clients tracked now (tests, metrics). */
  get size(): number {
    return this.buckets.size;
  }

  /** The client's bucket topped up to now (undefined once full again: a full bucket is not kept). */
  private refilled(client: string): Bucket | undefined {
    const bucket = this.buckets.get(client);
    if (bucket === undefined) return undefined;
    const now = this.now();
    bucket.tokens = Math.min(this.options.burst, bucket.tokens + ((now - bucket.at) / 60_000) * this.options.perMinute);
    bucket.at = now;
    if (bucket.tokens >= this.options.burst) {
      this.buckets.delete(client);
      return undefined;
    }
    return bucket;
  }
}
