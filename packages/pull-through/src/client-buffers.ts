/** Bytes one client of a shared blob fetch may have waiting in memory before it falls behind. */
export const DEFAULT_CLIENT_BUFFER_BYTES = 8 * 1024 * 1024;
/** Bytes all clients of all shared fetches of one process may have waiting in memory at once. */
export const DEFAULT_CLIENT_BUFFERS_TOTAL_BYTES = 256 * 1024 * 1024;

export interface ClientBufferLimits {
  /** One client's buffer (and a running fetch's kept prefix). */
  perClientBytes: number;
  /** Every client buffer and kept prefix of the process together. */
  totalBytes: number;
}

export interface ClientBufferStats {
  /** Bytes waiting in client buffers and kept prefixes now. */
  bufferedBytes: number;
  /** Clients that fell behind their buffer (then served from the stored blob once committed). */
  fellBehind: number;
  /** Clients cut off because they took no bytes for the stall timeout. */
  stalled: number;
}

/**
 * The memory budget of the clients reading blob fetches live: each client's buffer is bounded,
 * and all of them together are. A client that finds no room falls behind instead of making the
 * upstream read wait; the count of such events and of stalled clients is kept for the metrics.
 */
export class ClientBuffers {
  private used = 0;
  private behind = 0;
  private stalls = 0;

  constructor(readonly limits: ClientBufferLimits = { perClientBytes: DEFAULT_CLIENT_BUFFER_BYTES, totalBytes: DEFAULT_CLIENT_BUFFERS_TOTAL_BYTES }) {
    if (!(limits.perClientBytes > 0) || !(limits.totalBytes >= limits.perClientBytes)) {
      throw new RangeError(`client buffers: need 0 < perClientBytes (${limits.perClientBytes}) <= totalBytes (${limits.totalBytes})`);
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

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  countFellBehind(): void {
    this.behind++;
  }

  countStalled(): void {
    this.stalls++;
  }

  get stats(): ClientBufferStats {
    return { bufferedBytes: this.used, fellBehind: this.behind, stalled: this.stalls };
  }
}
