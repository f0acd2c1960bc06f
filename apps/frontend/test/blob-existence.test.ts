import { digestOf, type Digest } from '@pullthrough/oci';
import { pseudoRandomBytes, registryClientFor, type RedisServer } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';

// Whether the cache stores a digest (for some other repository) must not show in the answer a
// repository that may not read it gets: a stored private layer and an absent digest, asked for under
// a public rule whose upstream has neither, answer the same 404 apart from the digest itself.

let redis: RedisServer;
let pub: Upstream;
let priv: Upstream;
let cache: Cache;
let stored: Digest;

beforeAll(async () => {
  redis = await startRedis();
  [pub, priv] = await Promise.all([startUpstream(), startUpstream({ auth: 'basic' })]);
  const bytes = pseudoRandomBytes(20_000, `existence ${Date.now()}`);
  await registryClientFor(priv.registry).pushBlob('secret/app', bytes);
  stored = digestOf(bytes);
  cache = await startCache(redis, [pub.proxy.host, priv.proxy.host], {}, { PULLTHROUGH_SECRET_U: priv.registry.username!, PULLTHROUGH_SECRET_P: priv.registry.password! });
  const set = await fetch(`${cache.adminUrl}/api/v1/credential-sets/priv-login`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ loginServer: priv.proxy.host, authCredentials: [{ usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_U', passwordSecretIdentifier: 'env:PULLTHROUGH_SECRET_P' }] }),
  });
  expect(set.status).toBe(201);
  // Client authentication is not the subject here: the private rule lets anonymous clients pull.
  expect((await putRule(cache, { name: 'private-u2', sourceRepository: `${priv.proxy.host}/*`, targetRepository: 'u2/*', credentialSetName: 'priv-login', anonymousPull: true })).status).toBe(201);
  expect((await putRule(cache, { name: 'public-u1', sourceRepository: `${pub.proxy.host}/*`, targetRepository: 'u1/*' })).status).toBe(201);
  const pulled = await fetch(`${cache.dataUrl}/v2/u2/secret/app/blobs/${stored}`);
  expect(digestOf(Buffer.from(await pulled.arrayBuffer()))).toBe(stored);
  await cache.frontend.registry.blobs.settle();
}, 120_000);

afterAll(async () => {
  await cache?.stop();
  await Promise.all([pub?.stop(), priv?.stop()]);
  await redis?.stop();
});

/** Status, error code and body of an anonymous GET, with the digest asked for replaced by `<digest>`. */
async function answerFor(repository: string, digest: Digest, headers: Record<string, string> = {}) {
  const res = await fetch(`${cache.dataUrl}/v2/${repository}/blobs/${digest}`, { headers });
  const body = (await res.text()).split(digest).join('<digest>');
  return { status: res.status, contentType: res.headers.get('content-type'), body: JSON.parse(body) as unknown };
}

test('a stored private digest and an absent digest answer the same 404 under a public rule (GET and ranged GET)', async () => {
  const absent = `sha256:${'ab'.repeat(32)}` as Digest;
  const storedAnswer = await answerFor('u1/whatever', stored);
  const absentAnswer = await answerFor('u1/whatever', absent);
  expect(storedAnswer.status).toBe(404);
  expect(storedAnswer).toEqual(absentAnswer);
  expect(storedAnswer.body).toEqual({
    errors: [{ code: 'BLOB_UNKNOWN', message: 'blob <digest> not found upstream', detail: { rule: 'public-u1', upstream: `${pub.proxy.host}/whatever` } }],
  });
  // Nothing was linked to the repository that may not read the layer.
  const ranged = { range: 'bytes=0-' };
  expect(await answerFor('u1/whatever', stored, ranged)).toEqual(await answerFor('u1/whatever', absent, ranged));
  expect((await answerFor('u1/whatever', stored, ranged)).status).toBe(404);
  expect(await cache.frontend.registry.store.isBlobLinked('u1/whatever', stored)).toBe(false);
});
