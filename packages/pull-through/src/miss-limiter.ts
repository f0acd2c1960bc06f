/**
 * Decides whether a client may send one more request to an upstream (a manifest or blob miss, a
 * tag revalidation). Hits never ask. The registry asks only for requests whose PullContext names
 * a client; requests made by the cache itself (prefetch, hydration) are never limited.
 */
export interface MissLimiter {
  /** Take one request from `client`'s allowance: undefined when allowed, else the seconds until it may try again. */
  take(client: string): number | undefined;
}

/** No limit (the default). */
export const noMissLimit: MissLimiter = { take: () => undefined };
