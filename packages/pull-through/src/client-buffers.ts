/** Bytes one client of a shared blob fetch may have waiting in memory before it falls behind. */
export const DEFAULT_CLIENT_BUFFER_BYTES = 4 * 1024 * 1024;
/** Bytes all clients of all shared fetches of one process may have waiting in memory at once. */
export const DEFAULT_CLIENT_BUFFERS_TOTAL_BYTES = 256 * 1024 * 1024;
/** A full client that no other live client could stand in for is waited for while its rate is at least this share of the receive rate. */
export const DEFAULT_CLIENT_WAIT_MIN_SHARE = 0.5;
/** A client waited for falls behind after all when it takes no byte for this long (ms). */
export const DEFAULT_CLIENT_WAIT_STALL_MS = 2000;
/** Bytes a running blob fetch keeps from its start for clients that arrive after it started. */
export const DEFAULT_BLOB_PREFIX_BYTES = 2 * 1024 * 1024;

export interface ClientBufferLimits {
  /** One client's buffer. */
  perClientBytes: number;
  /**
   * A running fetch keeps its first bytes, up to this many (and never more than one client's buffer),
   * so a client that arrives after it started reads it live from byte 0; later ones wait for the
   * commit. Counted in the total. 0: none kept. Default 2 MiB.
   */
  prefixBytes?: number;
  /** Every client buffer and kept prefix of the process together. */
  totalBytes: number;
  /**
   * When a client's buffer is full and no other live client of its fetch has room: the upstream read
   * waits for it (a client wait) if its rate over its life so far was at least this share (0..1) of the
   * receive rate (ReceivePace); below it, it falls behind. 0: always wait (until it stalls), 1: never
   * wait (fall behind at once). Default 0.5.
   */
  minClientShare?: number;
  /** A client waited for falls behind after all when it takes no byte for this long (ms). Default 2000. */
  waitStallMs?: number;
}

export interface ClientBufferStats {
  /** Bytes waiting in client buffers and kept prefixes now. */
  bufferedBytes: number;
  /** Clients that fell behind their buffer (then served from the stored blob once committed). */
  fellBehind: number;
  /** Clients cut off because they took no bytes for the stall timeout. */
  stalled: number;
  /** Times the upstream read waited for a full client that kept pace (and no other client had room) instead of letting it fall behind. */
  waits: number;
}

/**
 * The memory budget of the clients reading blob fetches live: each client's buffer is bounded,
 * and all of them together are (a hard bound). A client that finds its buffer full falls behind, unless
 * it is the one the read should wait for (LiveTap, `minClientShare`): then it may go over its own
 * buffer by one chunk, never over the total. Falls behind, waits and stalled clients are counted for
 * the metrics.
 */
export class ClientBuffers {
  readonly minClientShare: number;
  readonly waitStallMs: number;
  /** ClientBufferLimits.prefixBytes (at most one client's buffer). */
  readonly prefixBytes: number;
  private used = 0;
  private behind = 0;
  private stalls = 0;
  private waited = 0;

  constructor(readonly limits: ClientBufferLimits = { perClientBytes: DEFAULT_CLIENT_BUFFER_BYTES, totalBytes: DEFAULT_CLIENT_BUFFERS_TOTAL_BYTES }) {
    if (!(limits.perClientBytes > 0) || !(limits.totalBytes >= limits.perClientBytes)) {
      throw new RangeError(`client buffers: need 0 < perClientBytes (${limits.perClientBytes}) <= totalBytes (${limits.totalBytes})`);
    }
    this.minClientShare = limits.minClientShare ?? DEFAULT_CLIENT_WAIT_MIN_SHARE;
    this.waitStallMs = limits.waitStallMs ?? DEFAULT_CLIENT_WAIT_STALL_MS;
    const prefixBytes = limits.prefixBytes ?? DEFAULT_BLOB_PREFIX_BYTES;
    if (!(prefixBytes >= 0)) throw new RangeError(`client buffers: need prefixBytes (${prefixBytes}) >= 0`);
    this.prefixBytes = Math.min(prefixBytes, limits.perClientBytes);
    if (!(this.minClientShare >= 0 && this.minClientShare <= 1) || !(this.waitStallMs > 0)) {
      throw new RangeError(`client buffers: need 0 <= minClientShare (${this.minClientShare}) <= 1 and waitStallMs (${this.waitStallMs}) > 0`);
    }
  }

  /** Whether a buffer of `bytes` could be taken now (one client's size, and room left in the total). */
  fits(bytes: number): boolean {
    return bytes <= this.limits.perClientBytes && this.used + bytes <= this.limits.totalBytes;
  }

  /** Take `bytes` more for a buffer already holding `holding`; false (nothing taken) when it does not fit. */
  reserve(bytes: number, holding: number): boolean {
    if (holding + bytes > this.limits.perClientBytes || this.used + bytes > this.limits.totalBytes) return false;
    this.used += bytes;
    return true;
  }

  /** Take `bytes` over a client's own buffer (a client wait); false (nothing taken) when the total has no room. */
  reserveOver(bytes: number): boolean {
    if (this.used + bytes > this.limits.totalBytes) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  countFellBehind(): void {
    this.behind++;
  }

  countStalled(): void {
    this.stalls++;
  }

  countWait(): void {
    this.waited++;
  }

  get stats(): ClientBufferStats {
    return { bufferedBytes: this.used, fellBehind: this.behind, stalled: this.stalls, waits: this.waited };
  }
}
