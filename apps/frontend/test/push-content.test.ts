import { tempDir, waitUntil, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { startCache, startRedis, writeHtpasswd, type Cache } from './harness.js';
import { startHydratorProcess, type HydratorProcess } from './hydrator-process.js';
import { admin, basic, errorOf, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, PASSWORDS, POLICY, PushClient, sha256 } from './push-helpers.js';
import { startReceiver, type WebhookReceiver } from './webhook-receiver.js';

// Manifest PUT and the content-management workflows against a running frontend: references checked,
// OCI-Subject and referrers, deletes of tags, manifests and blobs, the admin view of tag sources, and
// the `push` / `delete` webhooks delivered (by the built hydrator's webhook worker) to a real receiver.

let redis: RedisServer;
let dir: TempDir;
let cache: Cache;
let hydrator: HydratorProcess;
let receiver: WebhookReceiver;
let alice: PushClient;

beforeAll(async () => {
  redis = await startRedis();
  dir = await tempDir('push-content-');
  cache = await startCache(redis, [], { PULLTHROUGH_HTPASSWD_FILE: await writeHtpasswd(dir.path, PASSWORDS), PULLTHROUGH_PUBLIC_HOSTS: 'cache.example' });
  hydrator = await startHydratorProcess({ PULLTHROUGH_DATA_DIR: cache.dataDir, REDIS_URL: redis.url, PULLTHROUGH_QUEUE_PREFIX: cache.queuePrefix, PULLTHROUGH_WEBHOOK_BACKOFF_MS: '200' });
  receiver = await startReceiver();
  expect((await admin(cache, '/access-policy', 'PUT', POLICY)).status).toBe(200);
  const hook = await admin(cache, '/webhooks/on-writes', 'PUT', { serviceUri: receiver.url, actions: ['push', 'delete'], scope: 'local/*', secret: 'writes-secret-0123456789' });
  expect(hook.status).toBe(201);
  alice = new PushClient(cache, basic('alice', PASSWORDS.alice));
}, 60_000);
afterAll(async () => {
  await hydrator?.stop();
  await cache?.stop();
  await receiver?.close();
  await redis?.stop();
  await dir?.remove();
});

const events = (action: string, repository: string) =>
  receiver.received.map((r) => r.json as { action: string; target: Record<string, unknown>; request: Record<string, unknown> }).filter((e) => e.action === action && e.target.repository === repository);

describe('manifest PUT', () => {
  test('a manifest whose blob is missing is MANIFEST_BLOB_UNKNOWN naming it; nothing is stored', async () => {
    const config = await alice.pushBlob('local/app', '{"os":"linux"}');
    const absent = sha256('a layer never pushed');
    const res = await alice.pushManifest('local/app', 'broken', {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 14 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: absent, size: 3 }],
    });
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error.code).toBe('MANIFEST_BLOB_UNKNOWN');
    expect(error.detail?.digest).toBe(absent);
    expect((await alice.send('GET', '/v2/local/app/manifests/broken')).status).toBe(404);
    // A blob pushed to another repository is not this one's.
    const elsewhere = await alice.pushBlob('local/elsewhere', 'layer bytes');
    const foreign = await alice.pushManifest('local/app', 'foreign', {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 14 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: elsewhere, size: 11 }],
    });
    expect((await errorOf(foreign)).code).toBe('MANIFEST_BLOB_UNKNOWN');
  });

  test('bad documents: not JSON, media types that disagree, a digest that does not match, an index with an unknown child, too large', async () => {
    expect((await errorOf(await alice.send('PUT', '/v2/local/app/manifests/bad', { 'content-type': OCI_MANIFEST }, 'not json'))).code).toBe('MANIFEST_INVALID');
    const image = await alice.pushImage('local/app', 'v0', 'v0');
    const disagree = await alice.pushManifest('local/app', 'bad', image.manifest, 'application/vnd.docker.distribution.manifest.v2+json');
    expect([disagree.status, (await errorOf(disagree)).code]).toEqual([400, 'MANIFEST_INVALID']);
    const wrongDigest = await alice.pushManifest('local/app', sha256('other'), image.manifest);
    expect([wrongDigest.status, (await errorOf(wrongDigest)).code]).toEqual([400, 'DIGEST_INVALID']);
    const index = await alice.pushManifest('local/app', 'idx', { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('no such manifest'), size: 10 }] }, OCI_INDEX);
    expect((await errorOf(index)).code).toBe('MANIFEST_BLOB_UNKNOWN');
    const huge = await alice.send('PUT', '/v2/local/app/manifests/huge', { 'content-type': OCI_MANIFEST }, Buffer.alloc(4 * 1024 * 1024 + 1, 32));
    expect([huge.status, (await errorOf(huge)).code]).toEqual([400, 'SIZE_INVALID']);
  });

  test('by tag and by digest: 201 with Location and Docker-Content-Digest; served back byte for byte; an index of pushed manifests', async () => {
    const one = await alice.pushImage('local/app', 'v1', 'one');
    expect(one.digest).toBe(sha256(JSON.stringify(one.manifest)));
    const got = await alice.send('GET', '/v2/local/app/manifests/v1', { accept: OCI_MANIFEST });
    expect(got.headers.get('docker-content-digest')).toBe(one.digest);
    expect(await got.text()).toBe(JSON.stringify(one.manifest));
    const two = await alice.pushImage('local/app', sha256(''), 'two').catch((err: Error) => err);
    expect(String(two)).toContain('400'); // a digest reference must be the manifest's own
    const arm = await alice.pushImage('local/app', 'tmp', 'arm');
    const byDigest = await alice.pushManifest('local/app', arm.digest, arm.manifest);
    expect(byDigest.status).toBe(201);
    expect(byDigest.headers.get('location')).toBe(`/v2/local/app/manifests/${arm.digest}`);
    const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [one.digest, arm.digest].map((digest, i) => ({ mediaType: OCI_MANIFEST, digest, size: JSON.stringify(i === 0 ? one.manifest : arm.manifest).length })) };
    const indexed = await alice.pushManifest('local/app', 'multi', index, OCI_INDEX);
    expect(indexed.status).toBe(201);
    expect(indexed.headers.get('docker-content-digest')).toBe(sha256(JSON.stringify(index)));
    const tags = (await (await alice.send('GET', '/v2/local/app/tags/list')).json()) as { tags: string[] };
    expect(tags.tags).toEqual(['multi', 'tmp', 'v0', 'v1']);
  });

  test('a manifest with a subject answers OCI-Subject and appears in its subject\'s referrers', async () => {
    const subject = await alice.pushImage('local/signed', 'v1', 'signed');
    const empty = await alice.pushBlob('local/signed', '{}');
    const signature = await alice.pushBlob('local/signed', 'signature bytes');
    const artifact = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.signature',
      config: { mediaType: OCI_EMPTY, digest: empty, size: 2 },
      layers: [{ mediaType: 'application/vnd.example.signature.v1', digest: signature, size: 15 }],
      subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: JSON.stringify(subject.manifest).length },
      annotations: { 'org.example.signer': 'alice' },
    };
    const res = await alice.pushManifest('local/signed', sha256(JSON.stringify(artifact)), artifact);
    expect(res.status).toBe(201);
    expect(res.headers.get('oci-subject')).toBe(subject.digest);
    const referrers = (await (await alice.send('GET', `/v2/local/signed/referrers/${subject.digest}`)).json()) as { manifests: Array<Record<string, unknown>> };
    expect(referrers.manifests).toEqual([
      { mediaType: OCI_MANIFEST, digest: sha256(JSON.stringify(artifact)), size: JSON.stringify(artifact).length, artifactType: 'application/vnd.example.signature', annotations: { 'org.example.signer': 'alice' } },
    ]);
    // Deleting the referrer removes it from the list.
    expect((await alice.send('DELETE', `/v2/local/signed/manifests/${sha256(JSON.stringify(artifact))}`)).status).toBe(202);
    expect(((await (await alice.send('GET', `/v2/local/signed/referrers/${subject.digest}`)).json()) as { manifests: unknown[] }).manifests).toEqual([]);
  });
});

describe('deletes', () => {
  test('a tag: 202, the tag is gone, the manifest stays by digest', async () => {
    const image = await alice.pushImage('local/del', 'keep', 'del-one');
    await alice.pushManifest('local/del', 'drop', image.manifest);
    expect((await alice.send('DELETE', '/v2/local/del/manifests/drop')).status).toBe(202);
    expect((await alice.send('GET', '/v2/local/del/manifests/drop')).status).toBe(404);
    expect((await alice.send('GET', `/v2/local/del/manifests/${image.digest}`)).status).toBe(200);
    expect((await alice.send('GET', '/v2/local/del/manifests/keep')).status).toBe(200);
  });

  test('a manifest by digest: 202, its tags go with it; deleting it again is MANIFEST_UNKNOWN', async () => {
    const image = await alice.pushImage('local/del', 'a', 'del-two');
    await alice.pushManifest('local/del', 'b', image.manifest);
    expect((await alice.send('DELETE', `/v2/local/del/manifests/${image.digest}`)).status).toBe(202);
    for (const ref of ['a', 'b', image.digest]) expect([ref, (await alice.send('GET', `/v2/local/del/manifests/${ref}`)).status]).toEqual([ref, 404]);
    const again = await alice.send('DELETE', `/v2/local/del/manifests/${image.digest}`);
    expect([again.status, (await errorOf(again)).code]).toEqual([404, 'MANIFEST_UNKNOWN']);
    expect(((await (await alice.send('GET', '/v2/local/del/tags/list')).json()) as { tags: string[] }).tags).toEqual(['keep']);
  });

  test('a blob: 202, no longer served by the repository; again is BLOB_UNKNOWN; a pull-only user may not delete', async () => {
    const digest = await alice.pushBlob('local/del', 'deletable');
    const bob = new PushClient(cache, basic('bob', PASSWORDS.bob));
    expect((await bob.send('DELETE', `/v2/local/del/blobs/${digest}`)).status).toBe(403);
    expect((await alice.send('DELETE', `/v2/local/del/blobs/${digest}`)).status).toBe(202);
    expect((await alice.send('GET', `/v2/local/del/blobs/${digest}`)).status).toBe(404);
    const again = await alice.send('DELETE', `/v2/local/del/blobs/${digest}`);
    expect([again.status, (await errorOf(again)).code]).toEqual([404, 'BLOB_UNKNOWN']);
  });
});

test('the admin API lists a repository\'s tags with their source', async () => {
  const res = await admin(cache, '/repositories/local/del/tags');
  expect(res.status).toBe(200);
  const body = (await res.json()) as { repository: string; tags: Array<{ tag: string; source: string; digest: string }> };
  expect(body.repository).toBe('local/del');
  expect(body.tags.map((t) => [t.tag, t.source])).toEqual([['keep', 'local']]);
  expect((await admin(cache, '/repositories/Bad..Name/tags')).status).toBe(400);
});

test('push and delete webhooks reach the receiver in ACR shape', async () => {
  await waitUntil(async () => events('delete', 'local/del').length >= 4 && events('push', 'local/app').length >= 5, { what: 'push and delete events', timeoutMs: 20_000 });
  const pushed = events('push', 'local/app').find((e) => e.target.tag === 'v1');
  expect(pushed).toMatchObject({
    action: 'push',
    target: { mediaType: OCI_MANIFEST, repository: 'local/app', tag: 'v1' },
    request: { method: 'PUT', host: 'cache.example', useragent: expect.stringContaining('node') },
  });
  expect(pushed!.target.size).toBe(pushed!.target.length);
  const deletes = events('delete', 'local/del');
  expect(deletes.every((e) => e.request.method === 'DELETE' && String(e.target.digest).startsWith('sha256:'))).toBe(true);
  // The tag delete, then the manifest delete: one event per tag it took with it, and one for the manifest.
  expect(deletes.map((e) => e.target.tag ?? '(manifest)').sort()).toEqual(['(manifest)', 'a', 'b', 'drop']);
  const manifestGone = deletes.find((e) => e.target.tag === undefined)!;
  expect(deletes.filter((e) => e.target.tag === 'a' || e.target.tag === 'b').every((e) => e.target.digest === manifestGone.target.digest)).toBe(true);
  // Nothing outside the webhook's scope, and no event for a refused push.
  expect(receiver.received.every((r) => String((r.json.target as { repository: string }).repository).startsWith('local/'))).toBe(true);
  expect(events('push', 'local/app').some((e) => e.target.tag === 'broken')).toBe(false);
}, 30_000);
