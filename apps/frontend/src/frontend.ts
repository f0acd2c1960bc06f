import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { createEgressAgent, EgressPolicy } from '@pullthrough/egress';
import { startTracing } from '@pullthrough/telemetry';
import { Redis } from 'ioredis';
import { CredentialHealthBook, acrIdentityTokens, createSecretResolver, secretPolicyFrom, storedCredentialProvider } from '@pullthrough/credentials';
import { createHydrationQueue, enqueueHydration, HydrationStatusReader } from '@pullthrough/hydration-jobs';
import {
  RedisGcCoordinator,
  gcTouchSettings,
  HydrationService,
  LocalWrites,
  LoginVerifier,
  PullThroughRegistry,
  QueueHydrationEnqueuer,
  RedisBlobLeases,
  RedisBreakerBoard,
  RedisRuleHealth,
  UpstreamResolver,
  credentialHealthObserver,
  fanOutObserver,
  TokenBucketLimiter,
  LastPulledBook,
  RedisRetentionLock,
  RetentionRunner,
  retentionDefaultsFrom,
  DEFAULT_READ_AHEAD_HOLD_MS,
  type FreeUnreferenced,
  type Logger,
} from '@pullthrough/pull-through';
import { DEFAULT_TAG_CACHE, deploymentId, FilesystemDriver, RegistryStore, storageDriverFrom, upstreamUserAgent } from '@pullthrough/storage';
import { upstreamClientPoolFrom, type UpstreamClientPool } from '@pullthrough/upstream';
import { createWebhookQueue, DeliveryLog, WebhookPublisher, WebhookService, WebhookStore } from '@pullthrough/webhooks';
import { AccessPolicyRegistry } from './access/access-policy-registry.js';
import type { OidcVerifierOptions } from '@pullthrough/oidc';
import { checkReadiness, closeGracefully, ConfigChangeBus, listen, redisCheck, storageCheck, type ListenerLimits } from '@pullthrough/operations';
import { oidcAccess } from './admin/oidc-access.js';
import { createApp } from './app.js';
import type { FrontendConfig } from './config.js';
import { CredentialSetRegistry } from './credentials/credential-set-registry.js';
import { clientAuthFrom } from './data/client-auth-wiring.js';
import { createFrontendMetrics } from './metrics/frontend-metrics.js';
import { RuleRegistry } from './rules/rule-registry.js';
import { storageHousekeeping } from './storage-housekeeping.js';
import { addSelfListener, listenerUrl, upstreamHostCheck } from './self-listeners.js';
import { peerStreamingFrom } from './peer/peer-streaming.js';
import { UploadPurger } from './upload-purger.js';
import { webhookWriteEvents } from './data/write-webhooks.js';
import { configChangeHandler } from './config-change-handler.js';

export interface RunningFrontend {
  dataUrl: string;
  adminUrl: string;
  registry: PullThroughRegistry;
  rules: RuleRegistry;
  /** Rule health shared with every frontend through Redis (this process's own view while Redis is away). */
  ruleHealth: RedisRuleHealth;
  enqueuer: QueueHydrationEnqueuer;
  pool: UpstreamClientPool;
  /** The listeners (tests look at their sockets); `peer` only with PULLTHROUGH_PEER_PORT. */
  servers: { data: Server; admin: Server; peer?: Server };
  /** Announces config changes to the other processes and applies theirs (Redis pub/sub). */
  configChanges: ConfigChangeBus;
  /** Last-pulled times of this process (flushed to Redis every few seconds) and the on-demand retention runner. */
  lastPulled: LastPulledBook;
  retention: RetentionRunner;
  /**
   * Stop accepting, let in-flight requests (blob streams) finish up to PULLTHROUGH_SHUTDOWN_TIMEOUT_MS
   * (then cut them), let in-flight blob commits finish, then close the queue and Redis.
   */
  close(): Promise<void>;
}

export interface FrontendOptions {
  config: FrontendConfig;
  logger: Logger;
  adminToken: string;
  /** Where `env:` secret references are looked up (main.ts passes process.env). */
  secretEnv?: Record<string, string | undefined>;
  /** Egress dispatcher for the OIDC issuer's JWKS and discovery fetches (undici's global one when unset). */
  dispatcher?: OidcVerifierOptions['dispatcher'];
  /** Garbage collection, run after a real retention pass or a rule purge removed content (wired by whoever builds GC). */
  freeUnreferenced?: FreeUnreferenced;
}

/** A readiness check that has not answered within this long is down. */
const READINESS_TIMEOUT_MS = 2000;
/** After the shutdown deadline cut connections, how long blob commits already under way may still take. */
const CUT_SETTLE_MS = 2000;

/** Wire the frontend from config and listen on both ports. Used by main.ts and the integration tests. */
export async function startFrontend({ config, logger, adminToken, secretEnv = {}, dispatcher, freeUnreferenced }: FrontendOptions): Promise<RunningFrontend> {
  // Off unless PULLTHROUGH_OTLP_ENDPOINT is set (README "Telemetry"); the collector is dialled under the egress policy.
  const tracing = startTracing(config, { serviceName: 'pullthrough-frontend', egressAllow: config.PULLTHROUGH_EGRESS_ALLOW, onExportError: (err) => logger.warn({ err }, 'trace export failed') });
  // Blobs this process writes, commits or links are "touched" in Redis: a garbage collection running meanwhile keeps them.
  const gcCoordinator = new RedisGcCoordinator({
    url: config.REDIS_URL,
    prefix: config.PULLTHROUGH_QUEUE_PREFIX,
    ...gcTouchSettings(config.PULLTHROUGH_GC_GRACE_MINUTES * 60_000),
    logger,
  });
  const store = new RegistryStore(storageDriverFrom(config), {
    touches: gcCoordinator,
    manifestCacheBytes: config.PULLTHROUGH_MANIFEST_CACHE_MB * 1024 * 1024,
    tagCache: { ttlMs: config.PULLTHROUGH_TAG_CACHE_MS, maxEntries: DEFAULT_TAG_CACHE.maxEntries },
  });
  // One egress policy for every outbound connection. Our own listeners are never a destination:
  // the configured ones now (the rules file is applied before we listen), the actual ones after listen.
  const egress = new EgressPolicy({ allow: config.PULLTHROUGH_EGRESS_ALLOW });
  addSelfListener(egress, config.PULLTHROUGH_HOST, config.PULLTHROUGH_DATA_PORT);
  addSelfListener(egress, config.PULLTHROUGH_HOST, config.PULLTHROUGH_ADMIN_PORT);
  addSelfListener(egress, config.PULLTHROUGH_PEER_HOST, config.PULLTHROUGH_PEER_PORT);
  // Our upstream requests say which deployment sent them, so one that comes back here is refused (app.ts).
  const deployment = await deploymentId(store.control);
  const pool = upstreamClientPoolFrom(config, egress, upstreamUserAgent(deployment));
  const secretPolicy = secretPolicyFrom(config);
  const rules = new RuleRegistry(store, config.PULLTHROUGH_PUBLIC_HOSTS, secretPolicy, upstreamHostCheck(egress, pool));
  await rules.load();
  if (config.PULLTHROUGH_RULES_FILE) {
    const n = await rules.applyFile(config.PULLTHROUGH_RULES_FILE);
    logger.info({ rules: n, file: config.PULLTHROUGH_RULES_FILE }, 'rules file applied');
  }
  const accessPolicies = new AccessPolicyRegistry(store);
  await accessPolicies.load();
  if (config.PULLTHROUGH_RULES_FILE && (await accessPolicies.applyFile(config.PULLTHROUGH_RULES_FILE))) {
    logger.info({ file: config.PULLTHROUGH_RULES_FILE }, 'access policy applied');
  }
  rules.startPolling(config.PULLTHROUGH_CONFIG_POLL_MS, (err) => logger.warn({ err: (err as Error).message }, 'rule reload failed'), () => accessPolicies.load());

  // Client authentication: htpasswd users, our ES256 tokens from a key ring shared in storage.
  const { clientAuth, tokens, authorizer, audit, keyTimer, hasUsers } = await clientAuthFrom(config, store, rules, accessPolicies, logger);

  // Fail fast while Redis is down (enqueues are skipped, pulls unaffected); reconnect forever.
  const redis = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(n * 200, 2000) });
  redis.on('error', (err) => logger.debug({ err: err.message }, 'redis connection error'));
  // Breaker opens and Retry-After holds are shared with every replica (and hydrator) through Redis.
  const breakerBoard = new RedisBreakerBoard({ url: config.REDIS_URL, prefix: config.PULLTHROUGH_QUEUE_PREFIX, logger });
  pool.shareBreakersThrough(breakerBoard);
  // One upstream fetch per blob across replicas (and the hydrator): a blob another process fetches is
  // served here from its commit. Redis down: each process fetches on its own.
  // With peer streaming on, its clients read it live from the leader's peer listener instead (README "Peer streaming").
  const peer = await peerStreamingFrom(config, store.control, logger);
  const blobLeases = new RedisBlobLeases({ url: config.REDIS_URL, prefix: config.PULLTHROUGH_QUEUE_PREFIX, leaseMs: config.PULLTHROUGH_BLOB_LEASE_MS, claimTimeoutMs: config.PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS, logger, ...(peer ? { peerUrl: peer.url } : {}) });
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

  const metrics = createFrontendMetrics({
    upstreams: () => pool.status(),
    enqueue: () => enqueuer.stats,
    redisUp: () => redis.status === 'ready',
    // Read at scrape time: the registry is built below.
    clientBuffers: () => registry.blobs.clientBufferStats,
    writeLag: () => registry.blobs.writeLagStats,
    ...(peer ? { peerStreams: () => peer.stats } : {}),
    upstreamAnswers: () => pool.answerCounts(),
    readSlabs: () => pool.blobReadSlabs(),
    coalesced: () => registry.blobs.coalesced,
    readAhead: () => registry.blobs.readAheadStats,
    storeReads: () => (store.driver instanceof FilesystemDriver ? store.driver.sharedReads : undefined),
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
  // Rule health and its windowed counts, shared by every frontend through Redis: batched in memory and
  // flushed every second (never a Redis round trip per pull); read from Redis by the admin API.
  const ruleHealth = new RedisRuleHealth({ url: config.REDIS_URL, prefix: config.PULLTHROUGH_QUEUE_PREFIX, windowMs: config.PULLTHROUGH_HEALTH_WINDOW_SECONDS * 1000, logger });
  const upstreams = new UpstreamResolver(() => rules.rules, pool, credentials);
  const registry = new PullThroughRegistry({
    store,
    upstreams,
    observer: fanOutObserver(ruleHealth, credentialHealthObserver((name) => rules.rules.get(name)?.credentialSetName, credentialHealth), metrics.observer),
    hydration: enqueuer,
    tagFreshnessSeconds: config.PULLTHROUGH_TAG_FRESHNESS_SECONDS,
    prefetchConfig: config.PULLTHROUGH_PREFETCH_CONFIG,
    // Live clients of a blob miss: own bounded buffers, so none holds the upstream read or the others.
    clientBufferBytes: config.PULLTHROUGH_CLIENT_BUFFER_BYTES,
    clientBuffersTotalBytes: config.PULLTHROUGH_CLIENT_BUFFERS_TOTAL_BYTES,
    clientStallTimeoutMs: config.PULLTHROUGH_CLIENT_STALL_TIMEOUT_MS,
    // A full client that no other client stands in for is waited for while it keeps this share of the read's pace.
    clientWaitMinShare: config.PULLTHROUGH_CLIENT_WAIT_MIN_SHARE,
    // A running miss keeps this much from its start for clients that arrive after it started.
    blobPrefixBytes: config.PULLTHROUGH_BLOB_PREFIX_BYTES,
    // Layers of a manifest just imported are fetched this far ahead of the client; each waits at its kept
    // first bytes for a client (here, a replica's through the peer listener, or a replica's follower that
    // says so through Redis) no longer than half the upstream's idle timeout (which would cut it).
    readAheadLayers: config.PULLTHROUGH_BLOB_READ_AHEAD_LAYERS,
    readAheadHoldMs: Math.min(DEFAULT_READ_AHEAD_HOLD_MS, config.PULLTHROUGH_UPSTREAM_IDLE_TIMEOUT_MS / 2),
    // The store's write may lag behind the live clients by this much; past it, one ranged GET completes it.
    writeLagBytes: config.PULLTHROUGH_WRITE_LAG_BYTES,
    writeLagTotalBytes: config.PULLTHROUGH_WRITE_LAG_TOTAL_BYTES,
    // When the lag is full, the read waits for a store that keeps this share of its pace (else the ranged GET).
    writeLagMinStoreShare: config.PULLTHROUGH_WRITE_LAG_MIN_STORE_SHARE,
    blobRedirectSeconds: config.PULLTHROUGH_AZURE_BLOB_REDIRECT_SECONDS,
    blobLeases,
    ...(peer ? { blobPeers: peer.peers } : {}),
    logger,
    // Per client, in this process's memory: N replicas allow up to N times the rate (see README "Limits").
    ...(config.PULLTHROUGH_CLIENT_MISS_RATE > 0
      ? { missLimiter: new TokenBucketLimiter({ ratePerSecond: config.PULLTHROUGH_CLIENT_MISS_RATE, burst: config.PULLTHROUGH_CLIENT_MISS_BURST }) }
      : {}),
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
  const webhookStore = new WebhookStore(store, egress);
  const webhooks = new WebhookService(
    webhookStore,
    new DeliveryLog(redis, config.PULLTHROUGH_QUEUE_PREFIX),
    webhookQueue,
    config.PULLTHROUGH_PUBLIC_HOSTS[0] ?? hostname(),
    (change) => configChanges.announcer(change),
  );
  // Push and delete (local writes): push into a rule's path only where the rule allows it; events as webhooks.
  const eventHost = config.PULLTHROUGH_PUBLIC_HOSTS[0] ?? hostname();
  const writePublisher = new WebhookPublisher(webhookStore, webhookQueue);
  const writes = new LocalWrites({
    store,
    ruleFor: (repository) => rules.rules.match(repository),
    events: webhookWriteEvents((events) => writePublisher.publish(events), eventHost, logger),
  });
  // Abandoned push sessions (and temporary objects) are purged from storage after PULLTHROUGH_UPLOAD_MAX_AGE_HOURS.
  const uploadPurger = new UploadPurger(store, config.PULLTHROUGH_UPLOAD_MAX_AGE_HOURS * 3600_000, logger);
  uploadPurger.start();
  // Config invalidation: every stored change is announced on `<prefix>:config`; the other frontends
  // (and the hydrator) reload that kind at once. The poll above stays the fallback while Redis is down.
  const reloadFailed = (err: unknown) => logger.warn({ err: (err as Error).message }, 'config reload failed');
  const applyChange = configChangeHandler({ rules, accessPolicies, credentials, credentialHealth, store, logger, reloadFailed });
  const configChanges = new ConfigChangeBus({
    redis,
    prefix: config.PULLTHROUGH_QUEUE_PREFIX,
    onChange: applyChange,
    onResync: () => {
      rules.reload().catch(reloadFailed);
      accessPolicies.load().catch(reloadFailed);
    },
    onError: (err) => logger.debug({ err: err.message }, 'config pub/sub error'),
  });
  await configChanges.start();
  // Manifest pulls noted in memory, flushed to Redis every few seconds, snapshotted to storage (retention, usage).
  const lastPulled = new LastPulledBook({ redis, prefix: config.PULLTHROUGH_QUEUE_PREFIX, store, logger });
  lastPulled.start();
  // Garbage collection and usage: the admin API's, and what frees what retention evicted.
  const housekeeping = storageHousekeeping({ config, driver: store.driver, coordinator: gcCoordinator, redis, metrics: metrics.registry, rules: () => rules.rules, lastPulled, logger, ...(freeUnreferenced ? { freeUnreferenced } : {}) });
  const { freeUnreferenced: freeEvicted } = housekeeping;
  const retention = new RetentionRunner({
    store,
    rules: () => rules.rules,
    lastPulled,
    defaults: retentionDefaultsFrom(config),
    lock: new RedisRetentionLock(redis, config.PULLTHROUGH_QUEUE_PREFIX),
    onPruned: (repositories) => repositories.forEach((name) => configChanges.announcer({ kind: 'repository-content', name })),
    logger,
    freeUnreferenced: freeEvicted,
  });
  rules.announce = configChanges.announcer;
  accessPolicies.announce = configChanges.announcer;
  credentialSets.announce = configChanges.announcer;
  // The OIDC issuer's discovery and JWKS fetches go out under the same egress policy as everything else.
  const ownOidcDispatcher = dispatcher === undefined && config.PULLTHROUGH_ADMIN_OIDC_ISSUER ? createEgressAgent(egress) : undefined;
  const oidcDispatcher = dispatcher ?? ownOidcDispatcher;
  // /readyz: storage must answer (nothing can be served without it); Redis is optional (pulls go on
  // without it, only hydration and cross-replica coordination wait), so Redis down is `degraded`, still 200.
  let stopping = false;
  const readiness = () => checkReadiness([storageCheck(store), redisCheck(redis, false)], READINESS_TIMEOUT_MS, stopping);
  const apps = createApp({
    readiness,
    registry,
    writes,
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
    gcJobs: housekeeping.gcJobs,
    usage: housekeeping.usage,
    audit,
    clientAuth,
    deploymentId: deployment,
    tokenEndpoint: { auth: clientAuth, tokens, authorizer },
    accessPolicies,
    upstreams: () => pool.status(),
    metrics: metrics.registry,
    httpMetrics: metrics.http,
    oidc: oidcAccess(config, oidcDispatcher),
    metricsAuth: config.PULLTHROUGH_METRICS_AUTH,
    trustProxyHops: config.PULLTHROUGH_TRUST_PROXY_HOPS,
    retention: { runner: retention, lastPulled, freeUnreferenced: freeEvicted },
    mirror: {
      publicHosts: config.PULLTHROUGH_PUBLIC_HOSTS,
      manifestBudgetMs: config.PULLTHROUGH_MIRROR_MANIFEST_BUDGET_MS,
      clientAuth: hasUsers || !config.PULLTHROUGH_ANONYMOUS_PULL,
    },
  });
  const limits = (maxConnections: number): ListenerLimits => ({
    headersTimeoutMs: config.PULLTHROUGH_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: config.PULLTHROUGH_REQUEST_TIMEOUT_MS,
    idleTimeoutMs: config.PULLTHROUGH_IDLE_TIMEOUT_MS,
    maxConnections,
  });
  const data = await listen(apps.data, config.PULLTHROUGH_HOST, config.PULLTHROUGH_DATA_PORT, limits(config.PULLTHROUGH_DATA_MAX_CONNECTIONS));
  const admin = await listen(apps.admin, config.PULLTHROUGH_HOST, config.PULLTHROUGH_ADMIN_PORT, limits(config.PULLTHROUGH_ADMIN_MAX_CONNECTIONS));
  // The peer listener: other replicas only (never clients), on its own port and address.
  const peerServer = await peer?.listen(registry.blobs, limits(256));
  for (const server of [data, admin, ...(peerServer ? [peerServer] : [])]) {
    const { address, port } = server.address() as AddressInfo;
    addSelfListener(egress, address, port);
  }

  return {
    dataUrl: listenerUrl(data),
    adminUrl: listenerUrl(admin),
    registry,
    rules,
    ruleHealth,
    enqueuer,
    pool,
    servers: { data, admin, ...(peerServer ? { peer: peerServer } : {}) },
    configChanges,
    lastPulled,
    retention,
    async close() {
      stopping = true;
      rules.stop();
      uploadPurger.stop();
      clearInterval(keyTimer);
      configChanges.close();
      const { cut } = await closeGracefully([data, admin, ...(peerServer ? [peerServer] : [])], config.PULLTHROUGH_SHUTDOWN_TIMEOUT_MS);
      if (cut) logger.warn({ timeoutMs: config.PULLTHROUGH_SHUTDOWN_TIMEOUT_MS }, 'shutdown deadline reached: open connections were cut');
      // A streamed miss answers its client before its commit (fsync + link) ends: let those finish.
      // Past the deadline, an upstream fetch still running (its client was cut) is not waited for:
      // its temporary object is never committed, so nothing partial becomes visible.
      const settled = registry.blobs.settle();
      if (cut) await Promise.race([settled, new Promise((r) => setTimeout(r, CUT_SETTLE_MS).unref())]);
      else await settled;
      await enqueuer.settle();
      await queue.close();
      await webhookQueue.close();
      await housekeeping.close();
      const pools = Promise.all([pool.close(), ownOidcDispatcher?.close()]);
      if (cut) pools.catch(() => undefined);
      else await pools;
      breakerBoard.close();
      blobLeases.close();
      await ruleHealth.close();
      await lastPulled.close();
      gcCoordinator.close();
      redis.disconnect();
      await tracing.shutdown();
    },
  };
}
