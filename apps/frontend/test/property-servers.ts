import { MediaType } from '@pullthrough/oci';
import type { RedisServer } from '@pullthrough/test-support';
import { putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';
import { closeRawHttp, send } from './raw-http.js';
import { ScriptedUpstream } from './scripted-upstream.js';

// The servers a property-based test file shares (each jest file has its own copy of this module):
// real Redis, docker-registry behind the counting proxy, a scripted upstream, and one frontend with
// a rule to each (`up/*` and `sc/*`).

export const RULE_NAME = /^[A-Za-z0-9-]{5,50}$/;
export const DATA_DIR_TOP_LEVEL = ['blobs', 'repositories', 'control', '_uploads', 'admin-token'];
export const ALL_MANIFESTS = [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifestList, MediaType.DockerManifest].join(', ');
export const FIXED_RULES = ['fixtures-upstream', 'scripted-upstream'];

export let redis: RedisServer;
export let upstream: Upstream;
export let scripted: ScriptedUpstream;
export let cache: Cache;
/** Every request at either upstream since the last reset. */
export const upstreamRequests = () => [...upstream.proxy.requests.map((r) => `${r.method} ${r.path}`), ...scripted.requests.map((r) => `${r.method} ${r.path} (scripted)`)];
export const resetUpstreams = () => {
  upstream.proxy.reset();
  scripted.requests.length = 0;
};
export const dataGet = (path: string, headers: Record<string, string> = {}, method = 'GET') => send(cache.dataUrl, method, path, headers);

/** Start the servers before the file's tests and stop them after. */
export function useSharedServers(): void {
  beforeAll(async () => {
    redis = await startRedis();
    upstream = await startUpstream();
    scripted = await ScriptedUpstream.start();
    // Hundreds of misses from one address: the per-client miss limit (limits.test.ts's subject) is off here.
    // Layers are not read ahead: each input's upstream requests are told apart by time, and a read-ahead
    // started by one input's manifest could reach the upstream during the next (config-prefetch.test.ts's subject).
    cache = await startCache(redis, [upstream.proxy.host, scripted.host], { PULLTHROUGH_CLIENT_MISS_RATE: '0', PULLTHROUGH_BLOB_READ_AHEAD_LAYERS: '0' });
    expect((await putRule(cache, { name: 'fixtures-upstream', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'up/*' })).status).toBe(201);
    expect((await putRule(cache, { name: 'scripted-upstream', sourceRepository: `${scripted.host}/s/*`, targetRepository: 'sc/*' })).status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    closeRawHttp();
    await cache?.stop();
    await scripted?.stop();
    await upstream?.stop();
    await redis?.stop();
  });
}
