/**
 * The upstream read's own pace over one blob fetch: bytes received per ms of the time in which the
 * read did not wait (for its store writer, or for a live client). What a store or a client must keep a
 * share of to be waited for (WriteThrough's lag wait, LiveTap's client wait). Waits that overlap (the
 * store and a client at once) count once.
 */
export class ReceivePace {
  /** When the first byte came (ms). */
  private startedAt: number | undefined;
  private received = 0;
  private waitedMs = 0;
  /** Waits running now, and since when at least one has run. */
  private open = 0;
  private openSince = 0;

  /** `bytes` more came from the upstream. */
  add(bytes: number): void {
    this.startedAt ??= Date.now();
    this.received += bytes;
  }

  /** When the first byte came (ms; undefined: none yet). */
  get since(): number | undefined {
    return this.startedAt;
  }

  /** Run a wait of the read: its time is not the upstream's. */
  async waiting<T>(wait: () => Promise<T>): Promise<T> {
    if (this.open++ === 0) this.openSince = Date.now();
    try {
      return await wait();
    } finally {
      if (--this.open === 0) this.waitedMs += Date.now() - this.openSince;
    }
  }

  /**
   * The rate of `taken` bytes since `from` (ms; clamped to the first byte: nothing could be taken
   * before it) as a share of the receive rate. Within the first millisecond: the share of the bytes.
   * No byte received yet: 1 (nothing to fall short of).
   */
  share(taken: number, from: number): number {
    if (this.received === 0 || this.startedAt === undefined) return 1;
    const now = Date.now();
    const elapsed = now - this.startedAt;
    // A wait under way is not the upstream's time either (judged during a client wait).
    const free = elapsed - this.waitedMs - (this.open > 0 ? now - this.openSince : 0);
    const own = now - Math.max(from, this.startedAt);
    return own > 0 && free > 0 ? (taken * free) / (this.received * own) : taken / this.received;
  }
}
