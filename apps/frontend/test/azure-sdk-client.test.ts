import { createHash } from 'node:crypto';
import { ContainerRegistryContentClient } from '@azure/container-registry';
import { MediaType } from '@pullthrough/oci';
import { startTlsProxy, type RedisServer, type TlsProxy } from '@pullthrough/test-support';
import { putEnvCredentialSet, putRule, startCache, startRedis, startUpstream, UPSTREAM_SECRETS, type Cache, type Upstream } from './harness.js';

// The Azure SDK's ContainerRegistryContentClient against the cache. The SDK refuses plain HTTP
// ("Bearer token authentication is not permitted for non-TLS protected (non-https) URLs", from
// core-rest-pipeline's bearer policy, which it installs on every request), so it talks to the
// cache through a TLS-terminating proxy. It authenticates only the ACR way (an Entra ID token
// exchanged at /oauth2/exchange and /oauth2/token), so it reads what anonymous clients may pull.
// It sends the slashes of repository names encoded (`/v2/az%2Fsmall/...`), as ACR accepts.

type TokenCredential = ConstructorParameters<typeof ContainerRegistryContentClient>[2];
/** The client's type insists on a credential; anonymous content never asks for one, and a call fails the test. */
const noEntraId: TokenCredential = { getToken: () => Promise.reject(new Error('the cache challenged the SDK for an Entra ID token')) };

let redis: RedisServer;
let upstream: Upstream;
let cache: Cache;
let tls: TlsProxy;

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  cache = await startCache(redis, [upstream.proxy.host], {}, UPSTREAM_SECRETS);
  expect((await putRule(cache, { name: 'azure-sdk', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'az/*' })).status).toBe(201);
  const set = await putEnvCredentialSet(cache, 'up-creds', upstream.proxy.host);
  expect(set.status).toBe(201);
  const priv = { name: 'azure-sdk-private', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'az-priv/*', credentialSetName: 'up-creds' };
  expect((await putRule(cache, priv)).status).toBe(201);
  tls = await startTlsProxy(cache.dataUrl);
}, 120_000);
afterAll(async () => {
  await tls?.stop();
  await cache?.stop();
  await upstream?.stop();
  await redis?.stop();
});

/** Every URL the SDK requested, as it sent it. */
const sent: string[] = [];
const client = (repository: string) =>
  new ContainerRegistryContentClient(tls.url, repository, noEntraId, {
    tlsOptions: { ca: tls.ca },
    retryOptions: { maxRetries: 0 },
    additionalPolicies: [{ position: 'perCall', policy: { name: 'record-urls', sendRequest: (request, next) => (sent.push(request.url), next(request)) } }],
  });

test('plain HTTP is refused by the SDK itself, before any request', async () => {
  const plain = new ContainerRegistryContentClient(cache.dataUrl, 'az/small', noEntraId, { retryOptions: { maxRetries: 0 } });
  await expect(plain.getManifest('v1')).rejects.toThrow(/non-TLS protected \(non-https\) URLs/);
});

test.each([
  ['small', MediaType.OciManifest],
  ['multiPlatform', MediaType.OciIndex],
  ['docker', MediaType.DockerManifest],
] as const)('getManifest of %s by tag and by digest: the upstream digest, media type and bytes', async (name, mediaType) => {
  const f = upstream.fixtures[name];
  const repo = client(`az/${f.repository.replace(/^fixtures\//, '')}`);
  sent.length = 0;
  const byTag = await repo.getManifest(f.tag);
  expect(sent).toEqual([`${tls.url}/v2/az%2F${f.repository.replace(/^fixtures\//, '')}/manifests/${f.tag}`]);
  expect(byTag.digest).toBe(f.digest);
  expect(byTag.mediaType).toBe(mediaType);
  expect(byTag.content.equals(f.manifest)).toBe(true);
  const byDigest = await repo.getManifest(f.digest);
  expect(byDigest.digest).toBe(f.digest);
  expect(byDigest.content.equals(f.manifest)).toBe(true);
});

test('downloadBlob streams every layer and config of a multi-layer image (one > 3 MiB) with its digest and size', async () => {
  const f = upstream.fixtures.multiLayer;
  const repo = client('az/multilayer');
  expect((await repo.getManifest(f.tag)).digest).toBe(f.digest);
  for (const blob of f.blobs) {
    const { digest, content } = await repo.downloadBlob(blob.digest);
    expect(digest).toBe(blob.digest);
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of content as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    expect(`sha256:${hash.digest('hex')}`).toBe(blob.digest);
    expect(size).toBe(blob.size);
  }
  expect(Math.max(...f.blobs.map((b) => b.size))).toBeGreaterThan(3 * 1024 * 1024);
});

test('an unknown tag is the SDK\'s 404 RestError with the cache\'s MANIFEST_UNKNOWN', async () => {
  await expect(client('az/small').getManifest('no-such-tag')).rejects.toMatchObject({ statusCode: 404, message: expect.stringMatching(/MANIFEST_UNKNOWN|manifest unknown/i) });
});

test('a rule with a credential set is not anonymous: the cache challenges, and the SDK answers a challenge only the ACR way, by asking its credential for an Entra ID token', async () => {
  upstream.proxy.reset();
  await expect(client('az-priv/small').getManifest('v1')).rejects.toThrow('the cache challenged the SDK for an Entra ID token');
  expect(upstream.proxy.requests).toEqual([]);
});
