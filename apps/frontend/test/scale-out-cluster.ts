import { join } from 'node:path';
import { azureBlobDriverFrom, FilesystemDriver, type StorageDriver } from '@pullthrough/storage';
import {
  startAzurite,
  startFixtureUpstream,
  startRedis,
  startScaleOut,
  waitUntil,
  type Azurite,
  type FixtureOptions,
  type FixtureUpstream,
  type FrontendProcess,
  type RedisServer,
  type ScaleOut,
  type ScaleOutOptions,
  type ScaleOutStorage,
} from '@pullthrough/test-support';

/** The downstream repository prefix the cluster's rule maps to the upstream's `fixtures/*`. */
export const TARGET = 'up';
export const RULE = 'scale-up';

export interface ClusterOptions extends Pick<ScaleOutOptions, 'frontends' | 'hydrators' | 'env' | 'frontendEnv' | 'hydratorEnv'> {
  storage: ScaleOutStorage['kind'];
  /** The upstream's content (seed, multiLayer layer sizes). */
  fixtures?: FixtureOptions;
  /** The path to the upstream: bytes per second shared by every response body (0: unlimited). */
  upstreamBytesPerSecond?: number;
}

export interface Cluster {
  redis: RedisServer;
  upstream: FixtureUpstream;
  azurite?: Azurite;
  scale: ScaleOut;
  /** The shared store, as the processes see it (to check what is visible in it). */
  store: StorageDriver;
  frontends: FrontendProcess[];
  /** An admin API call on one frontend. */
  admin(frontend: FrontendProcess, path: string, init?: { method?: string; body?: unknown }): Promise<Response>;
  /** Upstream blob GETs per digest since the last `upstream.proxy.reset()`. */
  blobGets(): Map<string, number>;
  stop(): Promise<void>;
}

/**
 * Real processes (test-support's startScaleOut: the built frontend and hydrator) on one store
 * (one Azure Blob container on Azurite, or one filesystem dir) and one redis-server, in front of a
 * real docker-registry behind the counting (and optionally bandwidth-limited) proxy, with the rule
 * `up/*` -> `<upstream>/fixtures/*` created through the first frontend's admin API and known by all.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    const [redis, upstream, azurite] = await Promise.all([
      startRedis(),
      startFixtureUpstream({}, options.fixtures),
      options.storage === 'azure-blob' ? startAzurite() : Promise.resolve(undefined),
    ]);
    stops.push(() => redis.stop(), () => upstream.stop(), ...(azurite ? [() => azurite.stop()] : []));
    const storage: ScaleOutStorage = azurite ? { kind: 'azure-blob', connectionString: azurite.connectionString, container: azurite.uniqueContainer() } : { kind: 'filesystem' };
    const azureStore =
      storage.kind === 'azure-blob'
        ? azureBlobDriverFrom({ PULLTHROUGH_STORAGE: 'azure-blob', PULLTHROUGH_DATA_DIR: '', PULLTHROUGH_AZURE_CREDENTIAL: 'default', PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: storage.connectionString, PULLTHROUGH_AZURE_BLOB_CONTAINER: storage.container })
        : undefined;
    // The container exists before the apps start (the operator's job in production).
    await azureStore?.ensureContainer();
    const scale = await startScaleOut({
      redisUrl: redis.url,
      storage,
      insecureUpstreams: [upstream.proxy.host],
      frontends: options.frontends,
      hydrators: options.hydrators,
      // Every test client comes from 127.0.0.1: no per-client miss limit in the way of the herd. Nothing
      // here tests draining: stop() is quick.
      env: { PULLTHROUGH_CLIENT_MISS_RATE: '0', PULLTHROUGH_SHUTDOWN_TIMEOUT_MS: '1000', ...options.env },
      frontendEnv: options.frontendEnv,
      hydratorEnv: options.hydratorEnv,
    });
    stops.push(() => scale.stop());
    const store: StorageDriver = azureStore ?? new FilesystemDriver(scale.storeDir!);
    const admin: Cluster['admin'] = (frontend, path, init = {}) =>
      fetch(`${frontend.adminUrl}/api/v1${path}`, {
        method: init.method ?? 'GET',
        headers: { authorization: `Bearer ${scale.adminToken}`, 'content-type': 'application/json' },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      });
    const created = await admin(scale.frontends[0]!, `/cache-rules/${RULE}`, { method: 'PUT', body: { sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: `${TARGET}/*` } });
    if (created.status !== 201) throw new Error(`creating the rule: HTTP ${created.status} ${await created.text()}`);
    // Known everywhere: a repository the rule maps is a 404 from the upstream (401 while no rule maps it).
    for (const frontend of scale.frontends) {
      await waitUntil(async () => (await fetch(`${frontend.dataUrl}/v2/${TARGET}/no-such-repository/manifests/v1`)).status === 404, { what: `frontend ${frontend.index} to know the rule`, timeoutMs: 15_000 });
    }
    if (options.upstreamBytesPerSecond) upstream.proxy.bytesPerSecond = options.upstreamBytesPerSecond;
    upstream.proxy.reset();
    return {
      redis,
      upstream,
      azurite,
      scale,
      store,
      frontends: scale.frontends,
      admin,
      blobGets() {
        const counts = new Map<string, number>();
        for (const r of upstream.proxy.requests) if (r.kind === 'blob' && r.method === 'GET' && r.reference) counts.set(r.reference, (counts.get(r.reference) ?? 0) + 1);
        return counts;
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

