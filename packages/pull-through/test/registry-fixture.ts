import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { CacheRuleSet } from '@pullthrough/cache-rules';
import type { HydrationJobInput } from '@pullthrough/hydration-jobs';
import { FilesystemDriver, RegistryStore, type ReadSizerOptions } from '@pullthrough/storage';
import { UpstreamClientPool } from '@pullthrough/upstream';
import type { HydrationEnqueuer } from '../src/hydration-enqueuer.js';
import type { FailureCategory } from '@pullthrough/oci';
import type { PullObserver } from '../src/pull-observer.js';
import { PullThroughRegistry, type CacheStatus } from '../src/pull-through-registry.js';
import type { BlobLeases } from '../src/redis-blob-leases.js';
import { UpstreamResolver } from '../src/upstream-target.js';
import { TinyUpstream } from './tiny-upstream.js';
import { EgressPolicy, type BufferPool } from '@pullthrough/egress';

export const RULE_NAME = 'test-rule';

/** Records hydration jobs instead of queueing them (a collaborator double; the registry is real). */
export class RecordingEnqueuer implements HydrationEnqueuer {
  readonly jobs: HydrationJobInput[] = [];
  enqueue(job: HydrationJobInput): void {
    this.jobs.push(job);
  }
}

/** Records what the registry reports per rule. */
export class RecordingObserver {
  readonly served: Array<[string, CacheStatus]> = [];
  readonly failures: Array<[string, FailureCategory, string]> = [];
  readonly observer: PullObserver = {
    served: (rule, cache) => void this.served.push([rule, cache]),
    failed: (rule, category, message) => void this.failures.push([rule, category, message]),
  };
}

export interface RegistryFixture {
  /** The filesystem store's root. */
  dataDir: string;
  observed: RecordingObserver;
  upstream: TinyUpstream;
  store: RegistryStore;
  /** The store's driver (its shared reads of stored blobs: `driver.sharedReads`). */
  driver: FilesystemDriver;
  registry: PullThroughRegistry;
  upstreams: UpstreamResolver;
  hydration: RecordingEnqueuer;
  /** The upstream client pool (its blob reader's slab counts: `pool.blobReadSlabs()`). */
  pool: UpstreamClientPool;
  close(): Promise<void>;
}

export interface FixtureOptions {
  tagFreshnessSeconds?: number;
  now?: () => number;
  clientStallTimeoutMs?: number;
  clientBufferBytes?: number;
  clientBuffersTotalBytes?: number;
  /** Blob fetch leases (default: none, every fetch alone). */
  blobLeases?: BlobLeases;
  /** More rules next to `up/*` (given the tiny upstream's host), e.g. a second repository with the same upstream repository. */
  extraRules?: (upstreamHost: string) => Array<{ name: string; sourceRepository: string; targetRepository: string }>;
  /** The store's read buffers (default: the process's pool). */
  buffers?: BufferPool;
  /** The store's read sizes (default: the driver's). */
  storeReads?: ReadSizerOptions;
}

/**
 * A real PullThroughRegistry over a filesystem store in a temp dir, a rule `up/*` -> `<tiny upstream>/*`,
 * and a fresh upstream client pool (its own breaker), so tests never share upstream health.
 */
export async function startRegistry(options: FixtureOptions = {}): Promise<RegistryFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'pull-through-test-'));
  const upstream = await TinyUpstream.start();
  const driver = new FilesystemDriver(dir, { ...(options.buffers ? { buffers: options.buffers } : {}), ...(options.storeReads ? { reads: options.storeReads } : {}) });
  const store = new RegistryStore(driver);
  const rules = CacheRuleSet.create([{ name: RULE_NAME, sourceRepository: `${upstream.host}/*`, targetRepository: 'up/*' }, ...(options.extraRules?.(upstream.host) ?? [])]);
  const pool = new UpstreamClientPool({ insecureRegistries: [upstream.host], egress: new EgressPolicy({ allow: '127.0.0.1' }) });
  const upstreams = new UpstreamResolver(() => rules, pool);
  const hydration = new RecordingEnqueuer();
  const observed = new RecordingObserver();
  const registry = new PullThroughRegistry({
    observer: observed.observer,
    store,
    upstreams,
    hydration,
    tagFreshnessSeconds: options.tagFreshnessSeconds ?? 300,
    ...(options.now ? { now: options.now } : {}),
    ...(options.clientStallTimeoutMs !== undefined ? { clientStallTimeoutMs: options.clientStallTimeoutMs } : {}),
    ...(options.clientBufferBytes !== undefined ? { clientBufferBytes: options.clientBufferBytes } : {}),
    ...(options.clientBuffersTotalBytes !== undefined ? { clientBuffersTotalBytes: options.clientBuffersTotalBytes } : {}),
    ...(options.blobLeases ? { blobLeases: options.blobLeases } : {}),
  });
  return {
    dataDir: dir,
    observed,
    upstream,
    store,
    driver,
    registry,
    upstreams,
    hydration,
    pool,
    async close() {
      // Fetches still running (a config fetched ahead of its client, a layer read ahead) write and link
      // into the directory removed below: they end first.
      await registry.blobs.settle().catch(() => undefined);
      await pool.close();
      await upstream.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ReadOutcome {
  bytes: Buffer;
  /** Set when the stream errored instead of ending. */
  error?: Error;
}

/** Consume a stream to its end or its error. */
export async function readStream(stream: Readable): Promise<ReadOutcome> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
    return { bytes: Buffer.concat(chunks) };
  } catch (err) {
    return { bytes: Buffer.concat(chunks), error: err as Error };
  }
}
