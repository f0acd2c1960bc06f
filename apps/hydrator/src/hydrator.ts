import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { HYDRATION_QUEUE } from '@pullthrough/hydration-jobs';
import { ArtifactHydrator, BlobFetcher, ManifestImporter, UpstreamResolver, type Logger } from '@pullthrough/pull-through';
import { CacheRuleSet } from '@pullthrough/cache-rules';
import { storedCredentialProvider } from '@pullthrough/credentials';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { breakerOptionsFrom, UpstreamClientPool } from '@pullthrough/upstream';
import type { HydratorConfig } from './config.js';
import { hydrationProcessor } from './hydration-processor.js';

export interface RunningHydrator {
  worker: Worker;
  /** Close the worker (finishing the jobs it runs), then the pools and Redis. */
  close(): Promise<void>;
}

/** Wire the hydration worker from config. Used by main.ts and the integration tests. */
/** `secretEnv`: where `env:` secret references are looked up (main.ts passes process.env). */
export async function startHydrator(config: HydratorConfig, logger: Logger, secretEnv: Record<string, string | undefined> = {}): Promise<RunningHydrator> {
  const store = new RegistryStore(new FilesystemDriver(config.PULLTHROUGH_DATA_DIR));
  const pool = new UpstreamClientPool({
    insecureRegistries: config.PULLTHROUGH_INSECURE_UPSTREAMS,
    connectTimeoutMs: config.PULLTHROUGH_UPSTREAM_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: config.PULLTHROUGH_UPSTREAM_IDLE_TIMEOUT_MS,
    breaker: breakerOptionsFrom(config),
  });
  // Jobs carry their upstream coordinates, so the hydrator needs no rule matching.
  const upstreams = new UpstreamResolver(() => CacheRuleSet.create([]), pool, storedCredentialProvider(store, secretEnv));
  const hydrator = new ArtifactHydrator(store, new ManifestImporter(store), new BlobFetcher(store));
  const connection = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  connection.on('error', (err) => logger.debug({ err: err.message }, 'redis connection error'));
  const worker = new Worker(HYDRATION_QUEUE, hydrationProcessor({ hydrator, upstreams, logger }), {
    connection,
    prefix: config.PULLTHROUGH_QUEUE_PREFIX,
    concurrency: config.PULLTHROUGH_HYDRATION_CONCURRENCY,
  });
  worker.on('error', (err) => logger.warn({ err: err.message }, 'hydration worker error'));
  await worker.waitUntilReady();
  return {
    worker,
    async close() {
      await worker.close();
      await pool.close();
      connection.disconnect();
    },
  };
}
