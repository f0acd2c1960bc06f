import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { createGcQueue, createHydrationQueue, enqueueGc, GC_QUEUE, HYDRATION_QUEUE, parseGcSchedule, parseRetentionSchedule, RegistrySemaphore, scheduleGc, utcRepeatStrategy, Worker } from '@pullthrough/hydration-jobs';
import { Redis } from 'ioredis';
import { checkReadiness, closeGracefully, ConfigChangeBus, listen, redisCheck, storageCheck, storageGauges } from '@pullthrough/operations';
import {
  ArtifactHydrator,
  BlobFetcher,
  freeUnreferencedWith,
  GarbageCollector,
  LastPulledBook,
  ManifestImporter,
  RedisBlobLeases,
  RedisBreakerBoard,
  RedisGcCoordinator,
  gcTouchSettings,
  RedisRetentionLock,
  RetentionRunner,
  retentionDefaultsFrom,
  UpstreamClients,
  type FreeUnreferenced,
  type GcOptions,
  type GcReport,
  type Logger,
} from '@pullthrough/pull-through';
import { createEgressAgent, EgressPolicy } from '@pullthrough/egress';
import { readFileSync } from 'node:fs';
import { acrIdentityTokens, createSecretResolver, secretPolicyFrom, storedCredentialProvider } from '@pullthrough/credentials';
import { deploymentId, RegistryStore, storageDriverFrom, upstreamUserAgent } from '@pullthrough/storage';
import { upstreamClientPoolFrom } from '@pullthrough/upstream';
import { startTracing } from '@pullthrough/telemetry';
import { createWebhookQueue, DeliveryLog, WEBHOOK_BACKOFF, WEBHOOK_QUEUE, webhookBackoffMs, WebhookPublisher, WebhookStore, type WebhookEvent } from '@pullthrough/webhooks';
import { onAbandonedHydration } from './abandoned-hydrations.js';
import { currentRules } from './current-rules.js';
import { createHydratorMetrics } from './hydrator-metrics.js';
import { probeRoutes } from './probe-routes.js';
import { startRetentionJob, type RetentionJob } from './retention-job.js';
import type { HydratorConfig } from './config.js';
import { gcProcessor } from './gc-processor.js';
import { hydrationProcessor } from './hydration-processor.js';
import { webhookProcessor } from './webhook-processor.js';

/** The probe listener serves the kubelet and a scraper: a few connections. */
const PROBE_MAX_CONNECTIONS = 64;

export interface RunningHydrator {
  worker: Worker;
  webhookWorker: Worker;
  /** Runs garbage collections (scheduled by PULLTHROUGH_GC_SCHEDULE, or asked for through the admin API). */
  gcWorker: Worker;
  /**
   * Collect garbage now, in this process (retention calls this after evicting content). Throws
   * GcBusyError while another collection runs anywhere.
   */
  collectGarbage(options: GcOptions): Promise<GcReport>;
  /** The scheduled retention pass (PULLTHROUGH_RETENTION_SCHEDULE). */
  retention: RetentionJob;
  /** `http://host:port` of the probe listener (/healthz, /readyz, /metrics). */
  probeUrl: string;
  server: Server;
  /**
   * Close the workers: no new jobs; running ones finish within PULLTHROUGH_SHUTDOWN_TIMEOUT_MS, or
   * are left locked and retried by another worker once the lock expires (no job is lost). Then the
   * probe listener, the pools and Redis.
   */
  close(): Promise<void>;
}

/** Wire the hydration and webhook workers from config. Used by main.ts and the integration tests. */
/** `secretEnv`: where `env:` secret references are looked up (main.ts passes process.env). */
/** `freeUnreferenced`: what runs after a retention pass removed content (default: this process's garbage collection). */
/** `workersMade` (tests): awaited once every worker exists, before the metrics are wired and the workers take jobs. */
export async function startHydrator(
  config: HydratorConfig,
  logger: Logger,
  secretEnv: Record<string, string | undefined> = {},
  hooks: { freeUnreferenced?: FreeUnreferenced; workersMade?: () => Promise<void> } = {},
): Promise<RunningHydrator> {
  // Off unless PULLTHROUGH_OTLP_ENDPOINT is set (README "Telemetry"); the collector is dialled under the egress policy.
  const tracing = startTracing(config, { serviceName: 'pullthrough-hydrator', egressAllow: config.PULLTHROUGH_EGRESS_ALLOW, onExportError: (err) => logger.warn({ err }, 'trace export failed') });
  // Blobs this process writes, commits or links are "touched" in Redis: a collection running meanwhile keeps them.
  const graceMs = config.PULLTHROUGH_GC_GRACE_MINUTES * 60_000;
  const gcCoordinator = new RedisGcCoordinator({ url: config.REDIS_URL, prefix: config.PULLTHROUGH_QUEUE_PREFIX, ...gcTouchSettings(graceMs), logger });
  const store = new RegistryStore(storageDriverFrom(config), { touches: gcCoordinator });
  // One egress policy for upstreams, token realms, redirects and webhook deliveries.
  const egress = new EgressPolicy({ allow: config.PULLTHROUGH_EGRESS_ALLOW });
  const pool = upstreamClientPoolFrom(config, egress, upstreamUserAgent(await deploymentId(store.control)));
  // Breaker opens and Retry-After holds are shared with every frontend and hydrator through Redis.
  const breakerBoard = new RedisBreakerBoard({ url: config.REDIS_URL, prefix: config.PULLTHROUGH_QUEUE_PREFIX, logger });
  pool.shareBreakersThrough(breakerBoard);
  // A blob a frontend (or another hydrator) is fetching is not fetched again: the job waits for its commit.
  const blobLeases = new RedisBlobLeases({ url: config.REDIS_URL, prefix: config.PULLTHROUGH_QUEUE_PREFIX, leaseMs: config.PULLTHROUGH_BLOB_LEASE_MS, claimTimeoutMs: config.PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS, logger });
  const secretPolicy = secretPolicyFrom(config);
  const secrets = createSecretResolver({
    env: secretEnv,
    azureCredential: config.PULLTHROUGH_AZURE_CREDENTIAL,
    azureClientId: config.PULLTHROUGH_AZURE_CLIENT_ID,
    keyVaultCa: config.PULLTHROUGH_KEYVAULT_CA_FILE ? readFileSync(config.PULLTHROUGH_KEYVAULT_CA_FILE, 'utf8') : undefined,
    keyVaultDisableChallengeResourceVerification: !config.PULLTHROUGH_KEYVAULT_VERIFY_CHALLENGE_RESOURCE,
    policy: secretPolicy,
  });
  const credentials = storedCredentialProvider(store, secrets, config.PULLTHROUGH_SECRET_CACHE_SECONDS * 1000, acrIdentityTokens());
  // Jobs carry their upstream coordinates; each is checked against the rules as stored when it runs,
  // and its target (credential set included) comes from the current rule.
  const rules = currentRules(store, config.PULLTHROUGH_PUBLIC_HOSTS);
  const clients = new UpstreamClients(pool, credentials);
  const hydrator = new ArtifactHydrator(store, new ManifestImporter(store), new BlobFetcher(store, { leases: blobLeases }));
  const connection = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  connection.on('error', (err) => logger.debug({ err: err.message }, 'redis connection error'));
  const prefix = config.PULLTHROUGH_QUEUE_PREFIX;

  const webhooks = new WebhookStore(store, egress);
  const webhookAgent = createEgressAgent(egress, { connectTimeoutMs: config.PULLTHROUGH_UPSTREAM_CONNECT_TIMEOUT_MS });
  const webhookQueue = createWebhookQueue(connection, prefix);
  const publisher = new WebhookPublisher(webhooks, webhookQueue);
  const semaphore = new RegistrySemaphore(connection, { prefix, limit: config.PULLTHROUGH_HYDRATION_REGISTRY_CONCURRENCY, leaseMs: config.PULLTHROUGH_HYDRATION_LOCK_MS });

  const publish = (events: WebhookEvent[]) => publisher.publish(events);
  const eventHost = config.PULLTHROUGH_PUBLIC_HOSTS[0] ?? hostname();
  const worker = new Worker(
    HYDRATION_QUEUE,
    hydrationProcessor({
      hydrator,
      clients,
      currentRules: rules,
      store,
      logger,
      semaphore,
      publish,
      eventHost,
      maxDeferSeconds: config.PULLTHROUGH_HYDRATION_MAX_DEFER_SECONDS,
    }),
    {
      connection,
      prefix,
      autorun: false,
      concurrency: config.PULLTHROUGH_HYDRATION_CONCURRENCY,
      lockDuration: config.PULLTHROUGH_HYDRATION_LOCK_MS,
      stalledInterval: config.PULLTHROUGH_HYDRATION_STALLED_INTERVAL_MS,
    },
  );
  worker.on('error', (err) => logger.warn({ err: err.message }, 'hydration worker error'));
  worker.on('failed', onAbandonedHydration(publish, eventHost, logger));

  const webhookWorker = new Worker(
    WEBHOOK_QUEUE,
    webhookProcessor({ webhooks, log: new DeliveryLog(connection, prefix), dispatcher: webhookAgent, timeoutMs: config.PULLTHROUGH_WEBHOOK_TIMEOUT_MS, logger }),
    {
      connection,
      prefix,
      autorun: false,
      concurrency: config.PULLTHROUGH_WEBHOOK_CONCURRENCY,
      settings: { backoffStrategy: (attemptsMade, type) => (type === WEBHOOK_BACKOFF ? webhookBackoffMs(attemptsMade, config.PULLTHROUGH_WEBHOOK_BACKOFF_MS) : 1000) },
    },
  );
  webhookWorker.on('error', (err) => logger.warn({ err: err.message }, 'webhook worker error'));

  // Garbage collection: a single-job-at-a-time queue (global concurrency 1) fed by the job scheduler and the admin API.
  const gcQueue = createGcQueue(connection, prefix);
  gcQueue.on('error', (err) => logger.debug({ err: err.message }, 'gc queue error'));
  await gcQueue.setGlobalConcurrency(1);
  await scheduleGc(gcQueue, parseGcSchedule(config.PULLTHROUGH_GC_SCHEDULE));
  let gauges: ReturnType<typeof storageGauges> | undefined;
  let onGcReport: ((report: GcReport) => void) | undefined;
  const collector = new GarbageCollector(store.driver, gcCoordinator, {
    graceMs,
    logger,
    onScan: (usage) => gauges?.record({ storedBytes: usage.stored.bytes, heldBytes: usage.bytes }),
  });
  const gcWorker = new Worker(GC_QUEUE, gcProcessor({ collector, logger, onReport: (r) => onGcReport?.(r) }), {
    connection,
    prefix,
    autorun: false,
    concurrency: 1,
    lockDuration: config.PULLTHROUGH_HYDRATION_LOCK_MS,
    stalledInterval: config.PULLTHROUGH_HYDRATION_STALLED_INTERVAL_MS,
    settings: { repeatStrategy: utcRepeatStrategy },
  });
  gcWorker.on('error', (err) => logger.warn({ err: err.message }, 'gc worker error'));
  await Promise.all([worker.waitUntilReady(), webhookWorker.waitUntilReady(), gcWorker.waitUntilReady()]);

  // Config changes announced by the frontends: what this process keeps in memory is resolved secrets
  // (per credential set) and the store's tag and manifest caches (a rule change can move repositories).
  // Rules and webhooks are read from storage on each use.
  const configChanges = new ConfigChangeBus({
    redis: connection,
    prefix,
    onChange: (change) => {
      if (change.kind === 'credential-sets') credentials.forget(change.name);
      if (change.kind === 'cache-rules' || change.kind === 'repository-content') store.forgetCached();
    },
    onResync: () => store.forgetCached(),
    onError: (err) => logger.debug({ err: err.message }, 'config pub/sub error'),
  });
  await configChanges.start();

  // Retention: reads last-pulled times (written by the frontends), evicts, tells every process to forget what it cached in memory.
  const retentionRunner = new RetentionRunner({
    store,
    rules,
    lastPulled: new LastPulledBook({ redis: connection, prefix, store, logger }),
    defaults: retentionDefaultsFrom(config),
    lock: new RedisRetentionLock(connection, prefix),
    onPruned: (repositories) => repositories.forEach((name) => configChanges.announcer({ kind: 'repository-content', name })),
    logger,
    // Evicted content is freed at once (by this process's collector, or one queued when another runs too long).
    freeUnreferenced:
      hooks.freeUnreferenced ?? freeUnreferencedWith(collector, { logger, later: () => enqueueGc(gcQueue, { dryRun: false, requestedBy: 'retention' }), onReport: (r) => onGcReport?.(r) }),
  });
  const retention = await startRetentionJob(connection, prefix, parseRetentionSchedule(config.PULLTHROUGH_RETENTION_SCHEDULE) ?? { off: true }, retentionRunner, logger);
  await hooks.workersMade?.();

  // /healthz, /readyz, /metrics on PULLTHROUGH_HYDRATOR_PORT, with the frontend's listener limits.
  const hydrationQueue = createHydrationQueue({ connection, prefix });
  hydrationQueue.on('error', (err) => logger.debug({ err: err.message }, 'hydration queue error'));
  let stopping = false;
  const metrics = createHydratorMetrics([hydrationQueue, webhookQueue, gcQueue], [worker, webhookWorker, gcWorker], () => connection.status === 'ready', () => pool.answerCounts());
  gauges = storageGauges(metrics.registry, config.PULLTHROUGH_STORAGE_BUDGET_BYTES || undefined);
  onGcReport = metrics.gcReport;
  const readiness = () => checkReadiness([storageCheck(store), redisCheck(connection, true)], 2000, stopping);
  const server = await listen(probeRoutes(readiness, metrics.registry), config.PULLTHROUGH_HOST, config.PULLTHROUGH_HYDRATOR_PORT, {
    headersTimeoutMs: config.PULLTHROUGH_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: config.PULLTHROUGH_REQUEST_TIMEOUT_MS,
    idleTimeoutMs: config.PULLTHROUGH_IDLE_TIMEOUT_MS,
    maxConnections: PROBE_MAX_CONNECTIONS,
  });
  // Jobs are taken only now: each one this process finishes is counted in its metrics (a collection
  // that fired while the process started, or one a retention pass ran, was not counted before).
  for (const w of [worker, webhookWorker, gcWorker, retention.worker]) w.run().catch((err: unknown) => logger.error({ queue: w.name, err: (err as Error).message }, 'worker stopped'));
  const address = server.address() as AddressInfo;
  const closeAll = async (): Promise<void> => {
    stopping = true;
    configChanges.close();
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      Promise.all([worker.close(), webhookWorker.close(), gcWorker.close(), retention.close()]).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), config.PULLTHROUGH_SHUTDOWN_TIMEOUT_MS))),
    ]).finally(() => clearTimeout(timer));
    if (!finished) logger.warn({ timeoutMs: config.PULLTHROUGH_SHUTDOWN_TIMEOUT_MS }, 'shutdown deadline reached: running jobs are left to be retried when their lock expires');
    await closeGracefully([server], 1000);
    await hydrationQueue.close();
    await webhookQueue.close();
    await gcQueue.close();
    // Pools close once their requests end: a job cut by the deadline still holds one, so do not wait for it.
    const pools = Promise.all([pool.close(), webhookAgent.close()]);
    breakerBoard.close();
    blobLeases.close();
    gcCoordinator.close();
    if (finished) await pools;
    else pools.catch(() => undefined);
    connection.disconnect();
    await tracing.shutdown();
  };
  let closing: Promise<void> | undefined;
  return {
    worker,
    webhookWorker,
    gcWorker,
    collectGarbage: (options) => collector.collect(options),
    retention,
    server,
    probeUrl: `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`,
    close() {
      closing ??= closeAll();
      return closing;
    },
  };
}
