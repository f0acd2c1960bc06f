/**
 * One upstream's hold as every replica sees it: calls are refused until `until` (epoch ms); after
 * that exactly one replica makes the trial call. Hosts and times only: no reason text, no secret.
 */
export interface SharedHold {
  until: number;
  /** Held for a 429's Retry-After: refusals say TOOMANYREQUESTS rather than UNAVAILABLE. */
  throttled: boolean;
}

/** What an upstream last said about its rate limit (`ratelimit-*` headers), numbers only. */
export interface SharedRateLimit {
  limit?: number;
  remaining?: number;
  windowSeconds?: number;
  /** When a replica saw it (epoch ms): the newest wins. */
  observedAt: number;
}

/**
 * Breaker state shared across replicas (Redis in the apps). Every read is from a local copy kept
 * current by the board itself, so the request path never waits on the network; announcements are
 * fire-and-forget. When the board cannot reach its store, each breaker decides alone.
 */
export interface SharedBreakerBoard {
  /** The last known hold of `upstream` (possibly already over: then a trial call is due). */
  hold(upstream: string): SharedHold | undefined;
  /** Every upstream with a known hold or rate-limit view. */
  upstreams(): string[];
  /** Tell every replica to hold `upstream` until `hold.until` (a later hold wins). */
  announceOpen(upstream: string, hold: SharedHold): void;
  /** Tell every replica `upstream` answered again. */
  announceClosed(upstream: string): void;
  /**
   * Whether this replica makes the trial call after the hold that ended at `until`: true for
   * exactly one replica, and true when the board cannot tell (its store is down). Waits at most a
   * few milliseconds.
   */
  claimProbe(upstream: string, until: number): Promise<boolean>;
  /** Called with the upstream when another replica announces it closed. */
  onClosed(listener: (upstream: string) => void): void;
  /** The newest rate-limit view of `upstream` any replica shared. */
  rateLimit(upstream: string): SharedRateLimit | undefined;
  /** Share what `upstream` said about its rate limit (fire-and-forget). */
  announceRateLimit(upstream: string, view: SharedRateLimit): void;
}
