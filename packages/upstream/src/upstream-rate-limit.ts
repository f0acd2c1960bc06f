import { parseRetryAfter } from './retry-after.js';
import type { SharedBreakerBoard } from './shared-breaker-board.js';
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

/** Share a changed view at most this often (a view reaching 0 remaining goes at once). */
const SHARE_INTERVAL_MS = 1000;

/**
 * The rate-limit state of one upstream registry, updated from every response it sends. With a
 * board (`shareThrough`), changes are shared with the other replicas and the newest view wins, and
 * a 429 hold announced by any replica shows as `retryAfterUntil`.
 */
export class UpstreamRateLimit {
  private snapshot: { limit?: number; remaining?: number; windowSeconds?: number; observedAt?: number } = {};
  private retryAfterUntil = 0;
  private shared: { upstream: string; board: SharedBreakerBoard; lastAt: number; last: string } | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** Share this upstream's view through `board` and show the other replicas'. */
  shareThrough(upstream: string, board: SharedBreakerBoard): void {
    this.shared = { upstream, board, lastAt: 0, last: '' };
  }

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
      this.share();
    }
    if (status === 429 || status === 503) {
      const seconds = parseRetryAfter(headerOf(headers, 'retry-after'), this.now());
      if (seconds !== undefined) this.retryAfterUntil = Math.max(this.retryAfterUntil, this.now() + seconds * 1000);
    }
  }

  current(): RateLimitSnapshot {
    const other = this.shared?.board.rateLimit(this.shared.upstream);
    const newest = other !== undefined && other.observedAt > (this.snapshot.observedAt ?? 0) ? other : this.snapshot;
    const { limit, remaining, windowSeconds, observedAt } = newest;
    const hold = this.shared?.board.hold(this.shared.upstream);
    const retryAfterUntil = Math.max(this.retryAfterUntil, hold?.throttled ? hold.until : 0);
    const out: RateLimitSnapshot = {};
    if (limit !== undefined) out.limit = limit;
    if (remaining !== undefined) out.remaining = remaining;
    if (windowSeconds !== undefined) out.windowSeconds = windowSeconds;
    if (limit !== undefined && remaining !== undefined && limit > 0) out.headroom = Math.max(0, Math.min(1, remaining / limit));
    if (observedAt !== undefined) out.observedAt = new Date(observedAt).toISOString();
    if (retryAfterUntil > this.now()) out.retryAfterUntil = new Date(retryAfterUntil).toISOString();
    return out;
  }

  private share(): void {
    const shared = this.shared;
    if (shared === undefined || this.snapshot.observedAt === undefined) return;
    const { limit, remaining, windowSeconds } = this.snapshot;
    const values = JSON.stringify([limit, remaining, windowSeconds]);
    const now = this.now();
    if (values === shared.last || (now - shared.lastAt < SHARE_INTERVAL_MS && remaining !== 0)) return;
    shared.last = values;
    shared.lastAt = now;
    shared.board.announceRateLimit(shared.upstream, { ...this.snapshot, observedAt: this.snapshot.observedAt });
  }
}
