import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CacheRuleSet } from '@pullthrough/cache-rules';
import { EgressPolicy } from '@pullthrough/egress';
import type { Digest } from '@pullthrough/oci';
import { FilesystemDriver, RegistryStore, type StorageDriver } from '@pullthrough/storage';
import { pseudoRandomBytes, registryClientFor, startCountingProxy, startRegistry, type CountingProxy, type UpstreamRegistry } from '@pullthrough/test-support';
import { UpstreamClientPool } from '@pullthrough/upstream';
import { BlobFetcher } from '../src/blob-fetcher.js';
import type { BlobFetcherOptions } from '../src/blob-flight.js';
import { UpstreamResolver, type UpstreamTarget } from '../src/upstream-target.js';

export interface FetcherSetup<D extends StorageDriver> {
  driver: D;
  /** The fetcher's upstream client pool (its blob reader's slabs: `pool.blobReadSlabs()`). */
  pool: UpstreamClientPool;
  store: RegistryStore;
  fetcher: BlobFetcher;
  target: UpstreamTarget;
  blob: Buffer;
  digest: Digest;
}

export interface RealUpstream {
  /** The counting proxy in front of the registry (faults, rate, requests seen). */
  readonly proxy: CountingProxy;
  /** Upstream blob GETs seen since the last setUp (of one digest, when given). */
  blobGets(digest?: Digest): number;
  /** More fresh blobs of these sizes upstream, in the repository setUp's target names (after setUp). */
  pushBlobs(sizes: number[]): Promise<Array<{ digest: Digest; bytes: Buffer }>>;
  /**
   * A fresh blob of `size` bytes upstream, a fresh store (over `driver`, default the filesystem) and
   * fetcher (its own upstream pool and breakers); closed after the test (`beforeClose` first).
   */
  setUp<D extends StorageDriver = FilesystemDriver>(
    size: number,
    options: BlobFetcherOptions,
    store?: { driver?: (dir: string) => D; beforeClose?: (driver: D) => void },
  ): Promise<FetcherSetup<D>>;
}

/**
 * The real fetcher against a real upstream, shared by the tests of one file: a docker-registry behind
 * the counting proxy (started in beforeAll, stopped in afterAll; `bytesPerSecond` limits its link),
 * and per test a fresh blob, store and BlobFetcher, closed in afterEach (which also clears the
 * proxy's fault and Range handling). `name` names the blobs, the repository and the temp dirs.
 */
export function realUpstreamFetcher(name: string, link: { bytesPerSecond?: number } = {}): RealUpstream {
  let registry: UpstreamRegistry | undefined;
  let proxy: CountingProxy | undefined;
  let n = 0;
  const cleanup: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startCountingProxy(registry.url);
    if (link.bytesPerSecond !== undefined) proxy.bytesPerSecond = link.bytesPerSecond;
  }, 120_000);
  afterEach(async () => {
    proxy?.setFault(null);
    if (proxy) proxy.ignoreRange = false;
    for (const close of cleanup.splice(0)) await close();
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
  });
  const started = () => {
    if (!registry || !proxy) throw new Error('realUpstreamFetcher: used outside a test');
    return { registry, proxy };
  };
  return {
    get proxy() {
      return started().proxy;
    },
    blobGets: (digest) => started().proxy.requests.filter((r) => r.kind === 'blob' && r.method === 'GET' && (digest === undefined || r.reference === digest)).length,
    async pushBlobs(sizes) {
      const client = registryClientFor(started().registry);
      const blobs = [];
      for (const size of sizes) {
        const bytes = pseudoRandomBytes(size, `${name}-${n++}`);
        blobs.push({ digest: await client.pushBlob(`${name}/blobs`, bytes), bytes });
      }
      return blobs;
    },
    async setUp<D extends StorageDriver = FilesystemDriver>(size: number, options: BlobFetcherOptions, storage: { driver?: (dir: string) => D; beforeClose?: (driver: D) => void } = {}) {
      const { registry, proxy } = started();
      const blob = pseudoRandomBytes(size, `${name}-${n++}`);
      const digest = await registryClientFor(registry).pushBlob(`${name}/blobs`, blob);
      const dir = await mkdtemp(join(tmpdir(), `${name}-`));
      const driver = storage.driver ? storage.driver(dir) : (new FilesystemDriver(dir) as unknown as D);
      const store = new RegistryStore(driver);
      const rules = CacheRuleSet.create([{ name, sourceRepository: `${proxy.host}/*`, targetRepository: 'up/*' }]);
      const pool = new UpstreamClientPool({ insecureRegistries: [proxy.host], egress: new EgressPolicy({ allow: '127.0.0.1' }) });
      const fetcher = new BlobFetcher(store, options);
      cleanup.push(async () => {
        storage.beforeClose?.(driver);
        await fetcher.settle();
        await pool.close();
        await rm(dir, { recursive: true, force: true });
      });
      proxy.reset();
      return { driver, pool, store, fetcher, target: new UpstreamResolver(() => rules, pool).resolve(`up/${name}/blobs`)!, blob, digest };
    },
  };
}
