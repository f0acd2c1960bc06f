import type { FreeUnreferenced } from '../retention/retention-runner.js';
import { silentLogger, type Logger } from '../logger.js';
import { GcBusyError, type GarbageCollector, type GcReport } from './garbage-collector.js';

export interface FreeUnreferencedOptions {
  /** How long to wait for a collection running elsewhere to end before leaving it to `later`. Default 60000. */
  waitMs?: number;
  /** Queue a collection for the hydrators (when this one could not run now). */
  later: () => Promise<unknown>;
  logger?: Logger;
  /** Told of each collection this hook ran (the process's GC metrics count it like a queued one). */
  onReport?: (report: GcReport) => void;
}

/**
 * Retention's `freeUnreferenced` hook: collect garbage now, in this process, and report the bytes
 * freed. A collection running elsewhere is waited for (its mark may predate the eviction, so it
 * would not free what was just evicted); past `waitMs` a collection is queued instead and 0 is
 * reported (the queued run frees it shortly).
 */
export function freeUnreferencedWith(collector: GarbageCollector, options: FreeUnreferencedOptions): FreeUnreferenced {
  const logger = options.logger ?? silentLogger;
  return async () => {
    try {
      const report = await collector.collect({ dryRun: false, waitMs: options.waitMs ?? 60_000 });
      options.onReport?.(report);
      return { bytesFreed: report.freed.bytes };
    } catch (err) {
      if (!(err instanceof GcBusyError)) throw err;
      await options.later();
      logger.info({}, 'another garbage collection kept running: one is queued to free what retention evicted');
      return { bytesFreed: 0 };
    }
  };
}
