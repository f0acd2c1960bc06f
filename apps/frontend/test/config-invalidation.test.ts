import { tempDir, uniquePrefix, waitUntil, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

// Two frontends sharing one data dir and one Redis, with the periodic reload set to 10 minutes: a
// change made on one reaches the other through Redis pub/sub (`<prefix>:config`), within a second.

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const POLL_MS = '600000';

let redis: RedisServer;
let upstream: Upstream;
let data: TempDir;
let a: Cache;
let b: Cache;
const prefix = uniquePrefix('bus');

const admin = (cache: Cache, path: string, method = 'GET', body?: unknown) =>
  fetch(`${cache.adminUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const manifestStatus = async (cache: Cache, path: string) => (await fetch(`${cache.dataUrl}/v2/${path}`, { headers: { accept: OCI_MANIFEST } })).status;

/** How long until `probe` holds, checked every 20 ms; fails past 1 s. */
async function within1s(probe: () => Promise<boolean>, what: string): Promise<number> {
  const started = Date.now();
  await waitUntil(probe, { timeoutMs: 1000, intervalMs: 20, what });
  return Date.now() - started;
}

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  data = await tempDir('config-bus-');
  const env = { PULLTHROUGH_QUEUE_PREFIX: prefix, PULLTHROUGH_CONFIG_POLL_MS: POLL_MS };
  a = await startCache(redis, [upstream.proxy.host], env, {}, data.path);
  b = await startCache(redis, [upstream.proxy.host], env, {}, data.path);
}, 120_000);
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await upstream?.stop();
  await redis?.stop();
  await data?.remove();
});

test('a rule created on one frontend is served by the other within 1 s, and its deletion too', async () => {
  const f = upstream.fixtures.small;
  const path = `bus/${f.repository}/manifests/${f.tag}`;
  // A repository no rule maps is never anonymous.
  expect(await manifestStatus(b, path)).toBe(401);
  expect((await putRule(a, { name: 'bus-rule', sourceRepository: `${upstream.proxy.host}/*`, targetRepository: 'bus/*' })).status).toBe(201);
  const ms = await within1s(async () => (await manifestStatus(b, path)) === 200, 'the other frontend to serve the new rule');
  expect(ms).toBeLessThan(1000);
  expect(b.frontend.rules.rules.get('bus-rule')?.sourceRepository).toBe(`${upstream.proxy.host}/*`);

  expect((await admin(a, '/cache-rules/bus-rule', 'DELETE')).status).toBe(204);
  await within1s(async () => b.frontend.rules.rules.get('bus-rule') === undefined, 'the other frontend to drop the deleted rule');
  expect(await manifestStatus(b, path)).toBe(401);
});

test('an access policy set on one frontend is in force on the other within 1 s', async () => {
  const policy = { groups: { nodes: ['pool-b'] }, grants: [{ groups: ['nodes'], repositories: ['bus/*'], actions: ['pull'] }] };
  expect((await admin(a, '/access-policy', 'PUT', policy)).status).toBe(200);
  await within1s(async () => {
    const current = (await (await admin(b, '/access-policy')).json()) as { default: boolean; accessPolicy: { groups?: unknown } };
    return current.default === false && JSON.stringify(current.accessPolicy.groups) === JSON.stringify({ nodes: ['pool-b'] });
  }, 'the other frontend to load the new access policy');
});

test('announcements carry the kind and the name only', async () => {
  const { Redis } = await import('ioredis');
  const listener = new Redis(redis.url);
  const heard: string[] = [];
  try {
    await listener.subscribe(`${prefix}:config`);
    listener.on('message', (_channel: string, text: string) => heard.push(text));
    const put = await admin(a, '/credential-sets/bus-creds', 'PUT', {
      loginServer: upstream.proxy.host,
      authCredentials: [{ usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_BUS_USER', passwordSecretIdentifier: 'env:PULLTHROUGH_SECRET_BUS_PASS' }],
    });
    expect(put.status).toBe(201);
    await waitUntil(async () => heard.length > 0, { timeoutMs: 1000, intervalMs: 20, what: 'the announcement' });
    const message = JSON.parse(heard[0]!) as Record<string, unknown>;
    expect(Object.keys(message).sort()).toEqual(['kind', 'name', 'origin']);
    expect(message).toMatchObject({ kind: 'credential-sets', name: 'bus-creds' });
    expect(heard[0]).not.toContain('PULLTHROUGH_SECRET_BUS');
  } finally {
    listener.disconnect();
  }
});

test('after a Redis outage both frontends subscribe again, and a change still arrives within 1 s', async () => {
  const { Redis } = await import('ioredis');
  await redis.kill();
  await redis.restart();
  const probe = new Redis(redis.url);
  try {
    // Both subscriber connections are back on the channel (ioredis resubscribes when it reconnects).
    await waitUntil(async () => ((await probe.pubsub('NUMSUB', `${prefix}:config`)) as [string, number])[1] === 2, { timeoutMs: 15_000, what: 'both frontends to subscribe again' });
  } finally {
    probe.disconnect();
  }
  const f = upstream.fixtures.small;
  const path = `after/${f.repository}/manifests/${f.tag}`;
  expect(await manifestStatus(b, path)).toBe(401);
  expect((await putRule(a, { name: 'after-outage', sourceRepository: `${upstream.proxy.host}/*`, targetRepository: 'after/*' })).status).toBe(201);
  await within1s(async () => (await manifestStatus(b, path)) === 200, 'the other frontend to serve the rule made after the outage');
}, 30_000);
