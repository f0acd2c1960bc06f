import type { BlobFetcherOptions } from './blob-flight.js';
import { ClientBuffers, DEFAULT_CLIENT_BUFFER_BYTES, DEFAULT_CLIENT_BUFFERS_TOTAL_BYTES } from './client-buffers.js';
import { DEFAULT_WRITE_LAG_BYTES, DEFAULT_WRITE_LAG_TOTAL_BYTES, WriteLag } from './write-lag.js';

/**
 * A BlobFetcher's memory budgets from its options: the live clients' buffers (and when the read waits
 * for one) and the store writers' lag (and when the read waits for a store). A total left unset is
 * the default, or one client's (one miss's) size when that is larger.
 */
export function memoryBudgets(options: BlobFetcherOptions): { buffers: ClientBuffers; lag: WriteLag } {
  const perClientBytes = options.clientBufferBytes ?? DEFAULT_CLIENT_BUFFER_BYTES;
  const buffers = new ClientBuffers({
    perClientBytes,
    totalBytes: options.clientBuffersTotalBytes ?? Math.max(DEFAULT_CLIENT_BUFFERS_TOTAL_BYTES, perClientBytes),
    minClientShare: options.clientWaitMinShare,
    waitStallMs: options.clientWaitStallMs,
    prefixBytes: options.prefixBytes,
  });
  const perMissBytes = options.writeLagBytes ?? DEFAULT_WRITE_LAG_BYTES;
  const totalBytes = options.writeLagTotalBytes ?? Math.max(DEFAULT_WRITE_LAG_TOTAL_BYTES, perMissBytes);
  const lag = new WriteLag({ perMissBytes, totalBytes, minStoreShare: options.writeLagMinStoreShare, stallMs: options.writeLagStallMs });
  return { buffers, lag };
}
