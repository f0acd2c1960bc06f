/** Bytes one blob miss may have queued for its store writer ahead of the storage (while live clients read it). */
export const DEFAULT_WRITE_LAG_BYTES = 32 * 1024 * 1024;
/** Bytes every blob miss of one process may have queued for their store writers together. */
export const DEFAULT_WRITE_LAG_TOTAL_BYTES = 128 * 1024 * 1024;

export interface WriteLagLimits {
  /** One miss's queue in front of its store writer. */
  perMissBytes: number;
  /** Every miss's queue of the process together. */
  totalBytes: number;
}

export interface WriteLagStats {
  /** Bytes queued for store writers now (handed to a writer, not yet taken by the storage). */
  queuedBytes: number;
  /** Misses whose writer fell further behind than its lag allows (the rest is completed with a ranged GET). */
  overflows: number;
  /** Completion GETs by how they ended: `ranged` (206 from the offset), `full` (the upstream ignored Range: 200, its first bytes skipped), `failed`. */
  completions: { ranged: number; full: number; failed: number };
  /** Body bytes the completion GETs brought (a `full` one counts every byte it sent). */
  completionBytes: number;
}

/**
 * The memory budget of the write-through of blob misses: while live clients read a miss, the upstream
 * read does not wait for the store, and the bytes the store has not taken yet wait in memory, at most
 * `perMissBytes` per miss and `totalBytes` in all. A miss that finds no room stops feeding its writer
 * (a lag overflow): the writer finishes what it has, and the rest is fetched again from where it
 * stopped after the body ends (WriteThrough, completeStoreTail). Counted here for the metrics.
 */
export class WriteLag {
  private used = 0;
  private readonly counts: WriteLagStats = { queuedBytes: 0, overflows: 0, completions: { ranged: 0, full: 0, failed: 0 }, completionBytes: 0 };

  constructor(readonly limits: WriteLagLimits = { perMissBytes: DEFAULT_WRITE_LAG_BYTES, totalBytes: DEFAULT_WRITE_LAG_TOTAL_BYTES }) {
    if (!(limits.perMissBytes > 0) || !(limits.totalBytes >= limits.perMissBytes)) {
      throw new RangeError(`write lag: need 0 < perMissBytes (${limits.perMissBytes}) <= totalBytes (${limits.totalBytes})`);
    }
  }

  /** Take `bytes` more for a miss whose writer has `queued` waiting; false (nothing taken) when over either limit. */
  reserve(bytes: number, queued: number): boolean {
    if (queued + bytes > this.limits.perMissBytes || this.used + bytes > this.limits.totalBytes) return false;
    this.used += bytes;
    return true;
  }

  /**
   * Count `bytes` of a miss that waits for its writer (no live client reads it): bounded by the
   * writer's own buffer, not by these limits.
   */
  take(bytes: number): void {
    this.used += bytes;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  countOverflow(): void {
    this.counts.overflows++;
  }

  countCompletion(result: keyof WriteLagStats['completions'], bytes: number): void {
    this.counts.completions[result]++;
    this.counts.completionBytes += bytes;
  }

  get stats(): WriteLagStats {
    return { ...this.counts, completions: { ...this.counts.completions }, queuedBytes: this.used };
  }
}
