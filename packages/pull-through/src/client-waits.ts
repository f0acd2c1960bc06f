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
export class ClientWaits {
  constructor(
    private readonly pace: ReceivePace,
    /** 0..1; 1: never wait (every full client falls behind at once). */
    private readonly minClientShare: number,
  ) {}

  /** Offer the chunk at blob offset `offset` to every tap; returns the taps the read must wait for (`room`). */
  offer(taps: readonly LiveTap[], chunk: Buffer, offset: number): LiveTap[] {
    const mayWait = (tap: LiveTap, bytes: number): boolean => {
      if (this.minClientShare >= 1) return false;
      if (taps.some((other) => other !== tap && other.hasRoom(bytes))) return false;
      return this.pace.share(tap.handed, tap.startedAt) >= this.minClientShare;
    };
    const waitFor: LiveTap[] = [];
    for (const tap of taps) if (tap.offer(chunk, offset, mayWait)) waitFor.push(tap);
    return waitFor;
  }

  /** Wait until each of `waitFor` has room again (or fell behind, ended, or was cut off): a wait of the read. */
  async room(waitFor: readonly LiveTap[]): Promise<void> {
    if (waitFor.length === 0) return;
    await this.pace.waiting(() => Promise.all(waitFor.map((tap) => tap.room())));
  }
}
