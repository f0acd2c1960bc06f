import { Wakeups } from './wakeups.js';

/** Bytes one blob miss may have queued for its store writer ahead of the storage (while live clients read it). */
export const DEFAULT_WRITE_LAG_BYTES = 32 * 1024 * 1024;
/** Bytes every blob miss of one process may have queued for their store writers together. */
export const DEFAULT_WRITE_LAG_TOTAL_BYTES = 128 * 1024 * 1024;
/** A miss whose lag is full waits for its store while the store's rate is at least this share of the receive rate. */
export const DEFAULT_WRITE_LAG_MIN_STORE_SHARE = 0.5;
/** A miss that waits for its store overflows after all when the store takes no byte for this long. */
export const DEFAULT_WRITE_LAG_STALL_MS = 2000;

export interface WriteLagLimits {
  /** One miss's queue in front of its store writer. */
  perMissBytes: number;
  /** Every miss's queue of the process together. */
  totalBytes: number;
  /**
   * When a live miss finds no room: wait for its store if the store's rate over the miss so far was at
   * least this share (0..1) of the receive rate (WriteThrough); below it, overflow. 0: always
   * wait (until the store stalls), 1: overflow at once. Default 0.5.
   */
  minStoreShare?: number;
  /** A waiting miss overflows after all when its store takes no byte for this long (ms). Default 2000. */
  stallMs?: number;
}

export interface WriteLagStats {
  /** Bytes queued for store writers now (handed to a writer, not yet taken by the storage). */
  queuedBytes: number;
  /** Misses whose writer fell further behind than its lag allows (the rest is completed with a ranged GET). */
  overflows: number;
  /** Times a live miss found its lag full and waited for its store (which kept pace) instead of overflowing. */
  waits: number;
  /** Completion GETs by how they ended: `ranged` (206 from the offset), `full` (the upstream ignored Range: 200, its first bytes skipped), `failed`. */
  completions: { ranged: number; full: number; failed: number };
  /** Body bytes the completion GETs brought (a `full` one counts every byte it sent). */
  completionBytes: number;
}

/**
 * The memory budget of the write-through of blob misses: while live clients read a miss, the upstream
 * read does not wait for a store that keeps up, and the bytes the store has not taken yet wait in
 * memory, at most `perMissBytes` per miss and `totalBytes` in all. A miss that finds no room either
 * waits for its store, when the store has kept at least `minStoreShare` of the receive rate (a lag
 * wait, until the store stalls for `stallMs`), or stops feeding its writer (a lag overflow): the
 * writer finishes what it has, and the rest is fetched again from where it stopped after the body
 * ends (WriteThrough, completeStoreTail). Counted here for the metrics.
 */
export class WriteLag {
  readonly minStoreShare: number;
  readonly stallMs: number;
  private used = 0;
  private readonly counts: WriteLagStats = { queuedBytes: 0, overflows: 0, waits: 0, completions: { ranged: 0, full: 0, failed: 0 }, completionBytes: 0 };
  /** Misses waiting for room: woken whenever any store takes bytes. */
  private readonly waiters = new Wakeups();

  constructor(readonly limits: WriteLagLimits = { perMissBytes: DEFAULT_WRITE_LAG_BYTES, totalBytes: DEFAULT_WRITE_LAG_TOTAL_BYTES }) {
    if (!(limits.perMissBytes > 0) || !(limits.totalBytes >= limits.perMissBytes)) {
      throw new RangeError(`write lag: need 0 < perMissBytes (${limits.perMissBytes}) <= totalBytes (${limits.totalBytes})`);
    }
    this.minStoreShare = limits.minStoreShare ?? DEFAULT_WRITE_LAG_MIN_STORE_SHARE;
    this.stallMs = limits.stallMs ?? DEFAULT_WRITE_LAG_STALL_MS;
    if (!(this.minStoreShare >= 0 && this.minStoreShare <= 1) || !(this.stallMs > 0)) {
      throw new RangeError(`write lag: need 0 <= minStoreShare (${this.minStoreShare}) <= 1 and stallMs (${this.stallMs}) > 0`);
    }
  }

  /** Whether `bytes` more would fit for a miss whose writer has `queued` waiting (nothing taken). */
  fits(bytes: number, queued: number): boolean {
    return queued + bytes <= this.limits.perMissBytes && this.used + bytes <= this.limits.totalBytes;
  }

  /** Take `bytes` more for a miss whose writer has `queued` waiting; false (nothing taken) when over either limit. */
  reserve(bytes: number, queued: number): boolean {
    if (!this.fits(bytes, queued)) return false;
    this.used += bytes;
    return true;
  }

  /**
   * Count `bytes` of a miss that waits for its writer (no live client reads it, or a lag wait):
   * bounded by the writer's own buffer or the wait, not by these limits.
   */
  take(bytes: number): void {
    this.used += bytes;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
    this.waiters.wakeAll();
  }

  /** Resolves true the next time any store takes bytes (release), or false after `timeoutMs`. */
  released(timeoutMs: number): Promise<boolean> {
    return this.waiters.next(timeoutMs);
  }

  countOverflow(): void {
    this.counts.overflows++;
  }

  countWait(): void {
    this.counts.waits++;
  }

  countCompletion(result: keyof WriteLagStats['completions'], bytes: number): void {
    this.counts.completions[result]++;
    this.counts.completionBytes += bytes;
  }

  get stats(): WriteLagStats {
    return { ...this.counts, completions: { ...this.counts.completions }, queuedBytes: this.used };
  }
}
