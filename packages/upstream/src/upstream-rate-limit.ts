import { parseRetryAfter } from './retry-after.js';
import { headerOf, type ResponseHeaders } from './response-headers.js';

/** What one upstream last told us about its rate limit (Docker Hub `ratelimit-*`, any `Retry-After`). */
export interface RateLimitSnapshot {
  /** Requests allowed per window, from `ratelimit-limit` (`100;w=21600`). */
  limit?: number;
  /** Requests left in the window, from `ratelimit-remaining`. */
  remaining?: number;
  /** The window in seconds (`w=`), when the upstream says. */
  windowSeconds?: number;
  /** `remaining / limit`, 0..1: how much headroom is left. */
  headroom?: number;
  /** When the last rate-limit headers were seen (ISO). */
  observedAt?: string;
  /** Until when the upstream asked us to wait (429/503 `Retry-After`), ISO; absent when not asked or passed. */
  retryAfterUntil?: string;
}

/** `100;w=21600` -> { value: 100, windowSeconds: 21600 }; undefined when not a number first. */
export function parseRateLimitHeader(value: string | undefined): { value: number; windowSeconds?: number } | undefined {
  if (value === undefined) return undefined;
  // Several policies may be listed (`100, 100;w=21600`): the first names the current one.
  const first = value.split(',')[0]!.trim();
  const [count, ...params] = first.split(';').map((s) => s.trim());
  if (count === undefined || !/^\d+$/.test(count)) return undefined;
  const window = params.map((p) => /^w=(\d+)$/.exec(p)).find((m) => m !== null);
  return window ? { value: Number(count), windowSeconds: Number(window[1]) } : { value: Number(count) };
}

/** The rate-limit state of one upstream registry, updated from every response it sends. */
export class UpstreamRateLimit {
  private snapshot: { limit?: number; remaining?: number; windowSeconds?: number; observedAt?: number } = {};
  private retryAfterUntil = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Record the headers of a response (any status). */
  observe(headers: ResponseHeaders, status: number): void {
    const limit = parseRateLimitHeader(headerOf(headers, 'ratelimit-limit'));
    const remaining = parseRateLimitHeader(headerOf(headers, 'ratelimit-remaining'));
    if (limit !== undefined || remaining !== undefined) {
      const windowSeconds = limit?.windowSeconds ?? remaining?.windowSeconds;
      this.snapshot = {
        ...(limit !== undefined ? { limit: limit.value } : {}),
        ...(remaining !== undefined ? { remaining: remaining.value } : {}),
        ...(windowSeconds !== undefined ? { windowSeconds } : {}),
        observedAt: this.now(),
      };
    }
    if (status === 429 || status === 503) {
      const seconds = parseRetryAfter(headerOf(headers, 'retry-after'), this.now());
      if (seconds !== undefined) this.retryAfterUntil = Math.max(this.retryAfterUntil, this.now() + seconds * 1000);
    }
  }

  current(): RateLimitSnapshot {
    const { limit, remaining, windowSeconds, observedAt } = this.snapshot;
    const out: RateLimitSnapshot = {};
    if (limit !== undefined) out.limit = limit;
    if (remaining !== undefined) out.remaining = remaining;
    if (windowSeconds !== undefined) out.windowSeconds = windowSeconds;
    if (limit !== undefined && remaining !== undefined && limit > 0) out.headroom = Math.max(0, Math.min(1, remaining / limit));
    if (observedAt !== undefined) out.observedAt = new Date(observedAt).toISOString();
    if (this.retryAfterUntil > this.now()) out.retryAfterUntil = new Date(this.retryAfterUntil).toISOString();
    return out;
  }
}
