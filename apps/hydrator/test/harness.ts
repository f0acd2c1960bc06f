import { createHash } from 'node:crypto';
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { QueueEvents, type Job, type Queue } from 'bullmq';
import { CACHE_RULES_KIND } from '@pullthrough/cache-rules';
import { createHydrationQueue, enqueueHydration, HYDRATION_QUEUE, type HydrationJobInput, type HydrationQueueOptions } from '@pullthrough/hydration-jobs';
import { digestOf, type Digest } from '@pullthrough/oci';
import { silentLogger } from '@pullthrough/pull-through';
import { blobDataPath, layerLinkPath, RegistryStore, storageDriverFrom } from '@pullthrough/storage';
import { startFixtureUpstream, tempDir, uniquePrefix, type Fixture, type FixtureUpstream, type RedisServer } from '@pullthrough/test-support';
import { loadHydratorConfig, type HydratorConfig } from '../src/config.js';
import { startHydrator, type RunningHydrator } from '../src/hydrator.js';

export const sha256 = (bytes: Buffer): string => 'sha256:' + createHash('sha256').update(bytes).digest('hex');
export const totalSize = (blobs: readonly { size: number }[]): number => blobs.reduce((n, b) => n + b.size, 0);

export type Upstream = FixtureUpstream;

/** A real docker-registry with the fixtures pushed, behind a counting proxy. */
export const startUpstream = startFixtureUpstream;

/** One hydrator as main.ts wires it (own data dir, own queue prefix), plus the producer side of its queue. */
export interface HydratorEnv {
  hydrator: RunningHydrator;
  /** The configuration the hydrator runs with (data dir, queue prefix...). */
  config: HydratorConfig;
  /** A second store on the hydrator's storage (its data dir, or its container), to look at what it wrote. */
  store: RegistryStore;
  queue: Queue;
  events: QueueEvents;
  /** Store the job's rule (see storeRuleFor), then enqueue through the queue contract (job id from repository + digest). */
  enqueue(input: HydrationJobInput): Promise<string>;
  /** Wait until a job finished, then reload it from Redis (progress, result, attempts, failedReason). */
  settle(jobId: string, timeoutMs?: number): Promise<{ job: Job; error: Error | undefined }>;
  /** settle(), rethrowing the job's failure. */
  completed(jobId: string, timeoutMs?: number): Promise<Job>;
  stop(): Promise<void>;
}

/** A hydrator's configuration on `dataDir` and `redis` under queue `prefix`, its probe listener on an ephemeral port (tests run side by side); `env` adds to it. */
export function hydratorConfigFor(redis: RedisServer, dataDir: string, prefix: string, env: Record<string, string> = {}): HydratorConfig {
  return loadHydratorConfig({ PULLTHROUGH_DATA_DIR: dataDir, PULLTHROUGH_HYDRATOR_PORT: '0', REDIS_URL: redis.url, PULLTHROUGH_QUEUE_PREFIX: prefix, ...env });
}

/** `queue`: producer options (attempts, backoff) applied to every job this env enqueues. */
/** `env`: extra hydrator configuration (e.g. PULLTHROUGH_HYDRATION_REGISTRY_CONCURRENCY). */
export async function startHydratorEnv(
  redis: RedisServer,
  upstream: Upstream,
  queue: Partial<HydrationQueueOptions> = {},
  env: Record<string, string> = {},
): Promise<HydratorEnv> {
  const dataDir = await tempDir('hydrator-data-');
  const prefix = uniquePrefix('hydrator');
  const config = hydratorConfigFor(redis, dataDir.path, prefix, {
    PULLTHROUGH_INSECURE_UPSTREAMS: upstream.proxy.host,
    // Test upstreams and webhook receivers listen on loopback: the egress policy lets them through explicitly.
    PULLTHROUGH_EGRESS_ALLOW: '127.0.0.1',
    ...env,
  });
  const hydrator = await startHydrator(config, silentLogger);
  // Connection options, not ioredis instances: the Queue and QueueEvents own (and close) their connections.
  const connection = { host: redis.host, port: redis.port, maxRetriesPerRequest: null };
  const producer = createHydrationQueue({ ...queue, connection, prefix });
  const events = new QueueEvents(HYDRATION_QUEUE, { connection, prefix });
  await Promise.all([producer.waitUntilReady(), events.waitUntilReady()]);

  const settle = async (jobId: string, timeoutMs = 30_000) => {
    const job = await producer.getJob(jobId);
    if (!job) throw new Error(`job ${jobId} is not in the queue`);
    const error = await job.waitUntilFinished(events, timeoutMs).then(
      () => undefined,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    const settled = await producer.getJob(jobId);
    if (!settled) throw new Error(`job ${jobId} was removed when it finished`);
    return { job: settled, error };
  };

  const store = new RegistryStore(storageDriverFrom(config));
  return {
    hydrator,
    config,
    store,
    queue: producer,
    events,
    enqueue: async (input) => {
      await storeRuleFor(store, input);
      return enqueueHydration(producer, input);
    },
    settle,
    async completed(jobId, timeoutMs) {
      const { job, error } = await settle(jobId, timeoutMs);
      if (error) throw error;
      return job;
    },
    async stop() {
      await hydrator.close();
      await events.close();
      await producer.close();
      await dataDir.remove();
    },
  };
}

/** The name of the static rule a test job for `downstreamRepository` runs under. */
export const ruleNameFor = (downstreamRepository: string): string => `job-rule-${createHash('sha256').update(downstreamRepository).digest('hex').slice(0, 16)}`;

/**
 * The hydrator checks every job against the stored rules: store the static rule that gives the
 * job's downstream repository the job's upstream repository and credential set.
 */
export async function storeRuleFor(store: RegistryStore, input: HydrationJobInput): Promise<void> {
  await store.putControl(CACHE_RULES_KIND, input.ruleName, {
    name: input.ruleName,
    sourceRepository: `${input.upstreamRegistry}/${input.upstreamRepository}`,
    targetRepository: input.downstreamRepository,
    ...(input.credentialSetName ? { credentialSetName: input.credentialSetName } : {}),
  });
}

/** A job for a fixture: the upstream proxy's repository into `downstreamRepository`, under its own static rule. */
export function jobFor(upstream: Upstream, fixture: Fixture, downstreamRepository: string, extra: Partial<HydrationJobInput> = {}): HydrationJobInput {
  return {
    downstreamRepository,
    ruleName: ruleNameFor(downstreamRepository),
    upstreamRegistry: upstream.proxy.host,
    upstreamRepository: fixture.repository,
    digest: fixture.digest,
    tag: fixture.tag,
    enqueuedAt: new Date().toISOString(),
    ...extra,
  };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The bytes a repository serves for a blob, or undefined when it is not local and linked to it. */
export async function repositoryBlob(store: RegistryStore, repository: string, digest: Digest): Promise<Buffer | undefined> {
  if (!(await store.statRepositoryBlob(repository, digest))) return undefined;
  return readAll(await store.openRepositoryBlob(repository, digest));
}

/**
 * An orphan as if written long ago: `bytes` committed and linked to `repository` through `store` (on
 * the filesystem at `dataDir`), the blob's and the link's times then set to `at`. Resolves to its digest.
 */
export async function storeOldOrphan(store: RegistryStore, dataDir: string, repository: string, bytes: Buffer, at: Date): Promise<Digest> {
  const digest = digestOf(bytes);
  const writer = await store.createBlobWriter({ digest, size: bytes.length });
  writer.end(bytes);
  await writer.commit();
  await store.linkBlob(repository, digest);
  for (const p of [blobDataPath(digest), layerLinkPath(repository, digest)]) await utimes(join(dataDir, p), at, at);
  return digest;
}
