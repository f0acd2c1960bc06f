import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { CredentialHealthBook, acrIdentityTokens, createSecretResolver, secretPolicyFrom, storedCredentialProvider } from '@pullthrough/credentials';
import { createHydrationQueue, enqueueHydration, HydrationStatusReader } from '@pullthrough/hydration-jobs';
import {
  HydrationService,
  LoginVerifier,
  PullThroughRegistry,
  QueueHydrationEnqueuer,
  RuleHealthTracker,
  UpstreamResolver,
  credentialHealthObserver,
  fanOutObserver,
  type Logger,
} from '@pullthrough/pull-through';
import { DEFAULT_TAG_CACHE, FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { breakerOptionsFrom, UpstreamClientPool } from '@pullthrough/upstream';
import { createWebhookQueue, DeliveryLog, WebhookService, WebhookStore } from '@pullthrough/webhooks';
import { createApp } from './app.js';
import type { FrontendConfig } from './config.js';
import { CredentialSetRegistry } from './credentials/credential-set-registry.js';
import { createFrontendMetrics } from './metrics/frontend-metrics.js';
import { RuleRegistry } from './rules/rule-registry.js';

export interface RunningFrontend {
  dataUrl: string;
  adminUrl: string;
  registry: PullThroughRegistry;
  rules: RuleRegistry;
  ruleHealth: RuleHealthTracker;
  enqueuer: QueueHydrationEnqueuer;
  pool: UpstreamClientPool;
  /** Drain HTTP, let in-flight blob commits finish, then close the queue and Redis. */
  close(): Promise<void>;
}

export interface FrontendOptions {
  config: FrontendConfig;
  logger: Logger;
  adminToken: string;
  /** Where `env:` secret references are looked up (main.ts passes process.env). */
  secretEnv?: Record<string, string | undefined>;
}

async function listen(app: import('express').Express, host: string, port: number): Promise<Server> {
  const server = app.listen(port, host);
  await once(server, 'listening');
  server.keepAliveTimeout = 65_000;
  return server;
}

const urlOf = (server: Server) => {
  const a = server.address() as AddressInfo;
  return `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
};

/** Wire the frontend from config and listen on both ports. Used by main.ts and the integration tests. */
export async function startFrontend({ config, logger, adminToken, secretEnv = {} }: FrontendOptions): Promise<RunningFrontend> {
  const store = new RegistryStore(new FilesystemDriver(config.PULLTHROUGH_DATA_DIR), {
    manifestCacheBytes: config.PULLTHROUGH_MANIFEST_CACHE_MB * 1024 * 1024,
    tagCache: { ttlMs: config.PULLTHROUGH_TAG_CACHE_MS, maxEntries: DEFAULT_TAG_CACHE.maxEntries },
  });
  const secretPolicy = secretPolicyFrom(config);
  const rules = new RuleRegistry(store, config.PULLTHROUGH_PUBLIC_HOSTS, secretPolicy);
  await rules.load();
  if (config.PULLTHROUGH_RULES_FILE) {
    const n = await rules.applyFile(config.PULLTHROUGH_RULES_FILE);
    logger.info({ rules: n, file: config.PULLTHROUGH_RULES_FILE }, 'rules file applied');
  }
  rules.startPolling(10_000, (err) => logger.warn({ err: (err as Error).message }, 'rule reload failed'));

  // Fail fast while Redis is down (enqueues are skipped, pulls unaffected); reconnect forever.
  const redis = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(n * 200, 2000) });
  redis.on('error', (err) => logger.debug({ err: err.message }, 'redis connection error'));
  // One line per outage, not one per retry: while down, enqueues are skipped (and counted).
  let redisLost = false;
  redis.on('close', () => {
    if (redisLost) return;
    redisLost = true;
    logger.warn({ redis: 'down' }, 'redis connection lost; pulls continue, hydration enqueues are skipped until it reconnects');
  });

  const queue = createHydrationQueue({ connection: redis, prefix: config.PULLTHROUGH_QUEUE_PREFIX });
  queue.on('error', (err) => logger.debug({ err: err.message }, 'hydration queue error'));
  const enqueuer = new QueueHydrationEnqueuer(queue, logger, config.PULLTHROUGH_HYDRATION_DELAY_MS);
  redis.on('ready', () => {
    if (!redisLost) return;
    redisLost = false;
    void enqueuer.retryDeferred().then((n) => logger.info({ redis: 'up', retried: n, stillDeferred: enqueuer.stats.deferred }, 'redis reconnected; hydration enqueues resume'));
  });

  const pool = new UpstreamClientPool({
    insecureRegistries: config.PULLTHROUGH_INSECURE_UPSTREAMS,
    connectTimeoutMs: config.PULLTHROUGH_UPSTREAM_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: config.PULLTHROUGH_UPSTREAM_IDLE_TIMEOUT_MS,
    breaker: breakerOptionsFrom(config),
  });
  const metrics = createFrontendMetrics({
    upstreams: () => pool.status(),
    enqueue: () => enqueuer.stats,
    redisUp: () => redis.status === 'ready',
  });
  // Secrets: env:/file: references and Key Vault secret URIs, cached briefly in memory, never logged.
  const secrets = createSecretResolver({
    env: secretEnv,
    azureCredential: config.PULLTHROUGH_AZURE_CREDENTIAL,
    azureClientId: config.PULLTHROUGH_AZURE_CLIENT_ID,
    keyVaultCa: config.PULLTHROUGH_KEYVAULT_CA_FILE ? readFileSync(config.PULLTHROUGH_KEYVAULT_CA_FILE, 'utf8') : undefined,
    keyVaultDisableChallengeResourceVerification: !config.PULLTHROUGH_KEYVAULT_VERIFY_CHALLENGE_RESOURCE,
    policy: secretPolicy,
  });
  const credentials = storedCredentialProvider(store, secrets, config.PULLTHROUGH_SECRET_CACHE_SECONDS * 1000, acrIdentityTokens());
  const credentialHealth = new CredentialHealthBook();
  const ruleHealth = new RuleHealthTracker({ windowMs: config.PULLTHROUGH_HEALTH_WINDOW_SECONDS * 1000 });
  const upstreams = new UpstreamResolver(() => rules.rules, pool, credentials);
  const registry = new PullThroughRegistry({
    store,
    upstreams,
    observer: fanOutObserver(ruleHealth, credentialHealthObserver((name) => rules.rules.get(name)?.credentialSetName, credentialHealth), metrics.observer),
    hydration: enqueuer,
    tagFreshnessSeconds: config.PULLTHROUGH_TAG_FRESHNESS_SECONDS,
  });
  const verifier = new LoginVerifier(pool, credentials, {
    connectTimeoutMs: config.PULLTHROUGH_UPSTREAM_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: config.PULLTHROUGH_UPSTREAM_IDLE_TIMEOUT_MS,
  });
  const credentialSets = new CredentialSetRegistry(store, (name) => rules.rules.list().filter((r) => r.credentialSetName === name), secretPolicy);
  const hydrations = new HydrationService({
    registry,
    upstreams,
    rule: (name) => rules.rules.get(name),
    status: new HydrationStatusReader(queue),
    enqueueNow: (job) => enqueueHydration(queue, job, { promote: true }),
  });
  const webhookQueue = createWebhookQueue(redis, config.PULLTHROUGH_QUEUE_PREFIX);
  webhookQueue.on('error', (err) => logger.debug({ err: err.message }, 'webhook queue error'));
  const webhooks = new WebhookService(
    new WebhookStore(store, { allowPrivate: config.PULLTHROUGH_WEBHOOK_ALLOW_PRIVATE }),
    new DeliveryLog(redis, config.PULLTHROUGH_QUEUE_PREFIX),
    webhookQueue,
    config.PULLTHROUGH_PUBLIC_HOSTS[0] ?? hostname(),
  );
  const apps = createApp({
    registry,
    rules,
    adminToken,
    logger,
    credentialSets,
    credentialHealth,
    ruleHealth,
    verifier,
    pool,
    forgetSecrets: (name) => credentials.forget(name),
    hydrations,
    webhooks,
    upstreams: () => pool.status(),
    metrics: metrics.registry,
  });
  const data = await listen(apps.data, config.PULLTHROUGH_HOST, config.PULLTHROUGH_DATA_PORT);
  const admin = await listen(apps.admin, config.PULLTHROUGH_HOST, config.PULLTHROUGH_ADMIN_PORT);

  return {
    dataUrl: urlOf(data),
    adminUrl: urlOf(admin),
    registry,
    rules,
    ruleHealth,
    enqueuer,
    pool,
    async close() {
      rules.stop();
      const closing = [data, admin].map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      // A keep-alive connection whose last response was finishing at close() becomes idle just after:
      // keep closing idle ones while draining, or close() would wait for the keep-alive timeout.
      const drain = setInterval(() => [data, admin].forEach((s) => s.closeIdleConnections()), 100);
      for (const s of [data, admin]) s.closeIdleConnections();
      await Promise.all(closing).finally(() => clearInterval(drain));
      // A streamed miss answers its client before its commit (fsync + link) ends: let those finish.
      await registry.blobs.settle();
      await enqueuer.settle();
      await queue.close();
      await webhookQueue.close();
      await pool.close();
      redis.disconnect();
    },
  };
}
