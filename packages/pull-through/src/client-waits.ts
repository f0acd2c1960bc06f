import type { LiveTap } from './live-tap.js';
import type { ReceivePace } from './receive-pace.js';

/**
 * Hands each chunk of one fetch's body to its live clients (LiveTap), and decides, for a client whose
 * buffer is full, whether the read waits for it (a client wait) or it falls behind. It falls behind
 * when another live client of the fetch still has room (one slow client never slows the others), or
 * when its rate over its life so far (bytes it handed to its client per ms since it started) is below
 * `minClientShare` of the upstream's own receive rate (ReceivePace: the time the read waited is not
 * the upstream's). Otherwise (it is the only live client, or every one is full, and it kept pace) it
 * takes the chunk over its buffer and the read waits until its buffer is down to half (LiveTap.room,
 * which ends in falling behind after all when the client takes no byte for the stall limit). So a
 * client that is briefly starved (of CPU, of its network) costs the fetch a pause, not a re-read of
 * the rest from the stored blob after the commit. A fetch with no live client never waits here.
 */
/**
 * The most one fetch's read waits for its clients in all (each wait is also bounded: LiveTap.room). A
 * client that paces the read by filling its buffer and then trickling, again and again (or with fresh
 * requests), delays the fetch by this much at most; the clients that wait for its commit no longer.
 */
export const DEFAULT_FETCH_CLIENT_WAIT_MS = 10_000;

export class ClientWaits {
  /** Time the read has waited for clients over this fetch. */
  private waitedMs = 0;

  constructor(
    private readonly pace: ReceivePace,
    /** 0..1; 1: never wait (every full client falls behind at once). */
    private readonly minClientShare: number,
    /** The most the read waits for clients over the whole fetch; past it a full client falls behind at once. */
    private readonly maxWaitMs: number = DEFAULT_FETCH_CLIENT_WAIT_MS,
  ) {}

  /** Offer the chunk at blob offset `offset` to every tap; returns the taps the read must wait for (`room`). */
  offer(taps: readonly LiveTap[], chunk: Buffer, offset: number): LiveTap[] {
    const mayWait = (tap: LiveTap, bytes: number): boolean => {
      if (this.minClientShare >= 1 || this.waitedMs >= this.maxWaitMs) return false;
      if (taps.some((other) => other !== tap && other.hasRoom(bytes, offset, chunk.length))) return false;
      return this.keepsPace(tap);
    };
    const waitFor: LiveTap[] = [];
    for (const tap of taps) if (tap.offer(chunk, offset, mayWait)) waitFor.push(tap);
    return waitFor;
  }

  /** Wait until each of `waitFor` has room again (or fell behind, ended, or was cut off): a wait of the read. */
  async room(waitFor: readonly LiveTap[]): Promise<void> {
    if (waitFor.length === 0) return;
    const started = Date.now();
    try {
      await this.pace.waiting(() => Promise.all(waitFor.map((tap) => tap.room())));
    } finally {
      this.waitedMs += Date.now() - started;
    }
  }

  /** Whether `tap`'s rate over its life (its waits counted against it) is at least its share of the read's own pace. */
  private keepsPace(tap: LiveTap): boolean {
    return this.pace.share(tap.handed, tap.startedAt) >= this.minClientShare;
  }
}
