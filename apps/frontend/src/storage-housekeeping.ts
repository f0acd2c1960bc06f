import type { Redis } from 'ioredis';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { CacheRuleSet } from '@pullthrough/cache-rules';
import { createGcQueue, enqueueGc } from '@pullthrough/hydration-jobs';
import { storageGauges } from '@pullthrough/operations';
import { freeUnreferencedWith, GarbageCollector, GcJobs, UsageService, type FreeUnreferenced, type LastPulled, type Logger, type RedisGcCoordinator } from '@pullthrough/pull-through';
import type { StorageDriver } from '@pullthrough/storage';
import type { FrontendConfig } from './config.js';

/** The frontend's part of garbage collection and usage (README "Garbage collection and usage"). */
export interface StorageHousekeeping {
  /** `POST`/`GET /api/v1/gc`: collections queued for the hydrators. */
  gcJobs: GcJobs;
  /** `GET /api/v1/usage`. */
  usage: UsageService;
  /** What a real retention run or a rule purge runs to free what it evicted (a collection here, or one queued). */
  freeUnreferenced: FreeUnreferenced;
  close(): Promise<void>;
}

export interface StorageHousekeepingDeps {
  config: FrontendConfig;
  driver: StorageDriver;
  /** The coordinator the store touches through (built before the store). */
  coordinator: RedisGcCoordinator;
  redis: Redis;
  metrics: MetricsRegistry;
  rules: () => CacheRuleSet;
  lastPulled: LastPulled;
  logger: Logger;
  /** Replaces the collection run after retention (tests). */
  freeUnreferenced?: FreeUnreferenced;
}

export function storageHousekeeping(deps: StorageHousekeepingDeps): StorageHousekeeping {
  const { config, logger } = deps;
  const gcQueue = createGcQueue(deps.redis, config.PULLTHROUGH_QUEUE_PREFIX);
  gcQueue.on('error', (err) => logger.debug({ err: err.message }, 'gc queue error'));
  // The gauges show the last walk of the store this process made (a scrape never walks it).
  const gauges = storageGauges(deps.metrics, config.PULLTHROUGH_STORAGE_BUDGET_BYTES || undefined);
  const onScan = (u: { stored: { bytes: number }; bytes: number }) => gauges.record({ storedBytes: u.stored.bytes, heldBytes: u.bytes });
  const usage = new UsageService(deps.driver, { rules: deps.rules, onScan, lastPulled: () => deps.lastPulled.all() });
  const collector = new GarbageCollector(deps.driver, deps.coordinator, { graceMs: config.PULLTHROUGH_GC_GRACE_MINUTES * 60_000, logger, onScan });
  const freeUnreferenced = deps.freeUnreferenced ?? freeUnreferencedWith(collector, { logger, later: () => enqueueGc(gcQueue, { dryRun: false, requestedBy: 'retention' }) });
  return {
    gcJobs: new GcJobs(gcQueue),
    usage,
    freeUnreferenced,
    close: () => gcQueue.close(),
  };
}
