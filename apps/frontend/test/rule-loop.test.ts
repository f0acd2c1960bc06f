import { createServer, connect, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { startRedis, type RedisServer } from '@pullthrough/test-support';
import { putRule, startCache, type Cache } from './harness.js';

// A rule that leads back to the cache through an address the egress policy cannot know is the cache
// (here a TCP forwarder on loopback, in production a Service or load balancer address): the request
// that comes back carries this deployment's id in its User-Agent and is refused at once (508), so the
// pull fails fast instead of waiting on itself until the upstream idle timeout.

let redis: RedisServer;
let forwarder: Server;
let target = 0;
let cache: Cache;

beforeAll(async () => {
  redis = await startRedis();
  forwarder = createServer((inbound) => {
    const outbound = connect(target, '127.0.0.1');
    inbound.pipe(outbound).pipe(inbound);
    const end = () => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', end);
    outbound.on('error', end);
  });
  await new Promise<void>((resolve) => forwarder.listen(0, '127.0.0.1', resolve));
  const via = `127.0.0.1:${(forwarder.address() as AddressInfo).port}`;
  // A long upstream idle timeout: without the loop check this test would hang past its own timeout.
  cache = await startCache(redis, [via], { PULLTHROUGH_UPSTREAM_IDLE_TIMEOUT_MS: '120000', PULLTHROUGH_BREAKER_VOLUME_THRESHOLD: '100' });
  target = Number(new URL(cache.dataUrl).port);
  expect((await putRule(cache, { name: 'loops-back', sourceRepository: `${via}/x/*`, targetRepository: 'loop/*' })).status).toBe(201);
}, 60_000);
afterAll(async () => {
  await cache?.stop();
  forwarder?.close();
  await redis?.stop();
});

test('a pull through a rule that leads back to the cache fails at once, naming the loop', async () => {
  const res = await fetch(`${cache.dataUrl}/v2/loop/x/app/manifests/v1`);
  expect(res.status).toBe(503);
  const body = (await res.json()) as { errors: Array<{ code: string; message: string; detail?: Record<string, unknown> }> };
  expect(body.errors[0]?.code).toBe('UNAVAILABLE');
  expect(JSON.stringify(body)).toContain('508');
}, 15_000);

test('a request carrying this deployment id is refused with 508 DENIED; another deployment\'s id passes', async () => {
  const own = await fetch(`${cache.dataUrl}/v2/`);
  expect(own.status).toBe(200);
  const loop = await fetch(`${cache.dataUrl}/v2/loop/x/app/manifests/v1`, { headers: { 'user-agent': (await ownUserAgent()) } });
  expect(loop.status).toBe(508);
  expect(((await loop.json()) as { errors: Array<{ code: string }> }).errors[0]?.code).toBe('DENIED');
  const other = await fetch(`${cache.dataUrl}/v2/`, { headers: { 'user-agent': 'pullthrough (deployment 0000000000000000)' } });
  expect(other.status).toBe(200);
});

/** The User-Agent this cache's upstream requests carry (read from its storage, as every process of the deployment does). */
async function ownUserAgent(): Promise<string> {
  const { deploymentId, upstreamUserAgent, FilesystemDriver, RegistryStore } = await import('@pullthrough/storage');
  return upstreamUserAgent(await deploymentId(new RegistryStore(new FilesystemDriver(cache.dataDir)).control));
}
