import { randomBytes } from 'node:crypto';
import { tempDir, waitUntil, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { startCache, startRedis, writeHtpasswd, type Cache } from './harness.js';
import { admin, basic, errorOf, PASSWORDS, POLICY, PushClient, sha256 } from './push-helpers.js';

// Blob uploads over raw HTTP (the distribution spec's push workflows): chunked sessions with
// out-of-order and repeated chunks, status, cancel, digest mismatch, a frontend restart in the middle
// of a chunked upload, mounts (allowed, refused, automatic), monolithic uploads, and refusals.

let redis: RedisServer;
let dir: TempDir;
let dataDir: TempDir;
let cache: Cache;
let env: Record<string, string>;
let alice: PushClient;

const start = async (extra: Record<string, string> = {}) => {
  cache = await startCache(redis, [], { ...env, ...extra }, {}, dataDir.path);
  alice = new PushClient(cache, basic('alice', PASSWORDS.alice));
};

beforeAll(async () => {
  redis = await startRedis();
  dir = await tempDir('push-uploads-');
  dataDir = await tempDir('push-uploads-data-');
  env = { PULLTHROUGH_HTPASSWD_FILE: await writeHtpasswd(dir.path, PASSWORDS) };
  await start();
  expect((await admin(cache, '/access-policy', 'PUT', POLICY)).status).toBe(200);
}, 60_000);
afterAll(async () => {
  await cache?.stop();
  await redis?.stop();
  await dir?.remove();
  await dataDir?.remove();
});

describe('a chunked upload', () => {
  const data = randomBytes(25);
  const digest = sha256(data);
  let location: string;

  test('POST starts a session: 202, Location, Docker-Upload-UUID, Range 0-0', async () => {
    const res = await alice.send('POST', '/v2/local/chunked/blobs/uploads/');
    expect(res.status).toBe(202);
    const id = res.headers.get('docker-upload-uuid') ?? '';
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    location = res.headers.get('location') ?? '';
    expect(location).toBe(`/v2/local/chunked/blobs/uploads/${id}`);
    expect(res.headers.get('range')).toBe('0-0');
  });

  test('chunks in order are accepted; out-of-order, overlapping and repeated ones are 416 with the current Range', async () => {
    const first = await alice.send('PATCH', location, { 'content-range': '0-9', 'content-length': '10' }, data.subarray(0, 10));
    expect(first.status).toBe(202);
    expect(first.headers.get('range')).toBe('0-9');
    expect(first.headers.get('location')).toBe(location);
    for (const [range, bytes] of [['0-9', data.subarray(0, 10)], ['5-14', data.subarray(5, 15)], ['12-16', data.subarray(12, 17)]] as const) {
      const refused = await alice.send('PATCH', location, { 'content-range': range }, bytes);
      expect([range, refused.status]).toEqual([range, 416]);
      expect(refused.headers.get('range')).toBe('0-9');
      expect(refused.headers.get('location')).toBe(location);
      expect((await errorOf(refused)).code).toBe('RANGE_INVALID');
    }
    // A chunk longer than its Content-Range fails whole; the session is unchanged.
    const long = await alice.send('PATCH', location, { 'content-range': '10-12' }, data.subarray(10, 20));
    expect(long.status).toBe(400);
    expect((await errorOf(long)).code).toBe('BLOB_UPLOAD_INVALID');
    const second = await alice.send('PATCH', location, { 'content-range': '10-19' }, data.subarray(10, 20));
    expect(second.status).toBe(202);
    expect(second.headers.get('range')).toBe('0-19');
  });

  test('GET reports the session (204, Range, Location); the session is unknown in another repository', async () => {
    const status = await alice.send('GET', location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-19');
    expect(status.headers.get('location')).toBe(location);
    const elsewhere = await alice.send('GET', location.replace('/local/chunked/', '/local/other/'));
    expect(elsewhere.status).toBe(404);
    expect((await errorOf(elsewhere)).code).toBe('BLOB_UPLOAD_UNKNOWN');
  });

  test('the upload survives a frontend restart; a wrong digest commits nothing; the right one with the last chunk commits', async () => {
    await cache.stop();
    await start();
    const status = await alice.send('GET', location);
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe('0-19');
    const wrong = sha256('something else');
    const mismatch = await alice.send('PUT', `${location}?digest=${wrong}`, { 'content-range': '20-24' }, data.subarray(20));
    expect(mismatch.status).toBe(400);
    expect((await errorOf(mismatch)).code).toBe('DIGEST_INVALID');
    expect((await alice.send('HEAD', `/v2/local/chunked/blobs/${wrong}`)).status).toBe(404);
    expect((await alice.send('HEAD', `/v2/local/chunked/blobs/${digest}`)).status).toBe(404);
    // The failed PUT's chunk was appended (the session is 25 bytes now): finish with no body.
    expect((await alice.send('GET', location)).headers.get('range')).toBe('0-24');
    const done = await alice.send('PUT', `${location}?digest=${digest}`);
    expect(done.status).toBe(201);
    expect(done.headers.get('location')).toBe(`/v2/local/chunked/blobs/${digest}`);
    expect(done.headers.get('docker-content-digest')).toBe(digest);
    const back = await alice.send('GET', `/v2/local/chunked/blobs/${digest}`);
    expect(back.status).toBe(200);
    expect(Buffer.from(await back.arrayBuffer()).equals(data)).toBe(true);
    expect((await alice.send('GET', location)).status).toBe(404);
  });
});

test('a session finished in one PUT with a Content-Range chunk, a streamed PATCH, and a PUT with the whole body', async () => {
  const data = randomBytes(3 * 1024 * 1024 + 5);
  const digest = sha256(data);
  const started = await alice.send('POST', '/v2/local/streamed/blobs/uploads/');
  const location = started.headers.get('location')!;
  expect((await alice.send('PATCH', location, {}, data.subarray(0, 1024 * 1024))).headers.get('range')).toBe(`0-${1024 * 1024 - 1}`);
  const early = await alice.send('PUT', `${location}?digest=${digest}`, { 'content-range': `${1024 * 1024 + 1}-${data.length - 1}` }, data.subarray(1024 * 1024 + 1));
  expect(early.status).toBe(416);
  expect((await alice.send('PUT', `${location}?digest=${digest}`, { 'content-range': `${1024 * 1024}-${data.length - 1}` }, data.subarray(1024 * 1024))).status).toBe(201);
  const whole = Buffer.from('one body in the PUT');
  const second = await alice.send('POST', '/v2/local/streamed/blobs/uploads/');
  const put = await alice.send('PUT', `${second.headers.get('location')}?digest=${sha256(whole)}`, { 'content-type': 'application/octet-stream' }, whole);
  expect(put.status).toBe(201);
  expect(Buffer.from(await (await alice.send('GET', `/v2/local/streamed/blobs/${digest}`)).arrayBuffer()).equals(data)).toBe(true);
  expect(Buffer.from(await (await alice.send('GET', `/v2/local/streamed/blobs/${sha256(whole)}`)).arrayBuffer()).equals(whole)).toBe(true);
});

test('DELETE cancels a session: 204, then BLOB_UPLOAD_UNKNOWN for status, chunks and finish', async () => {
  const started = await alice.send('POST', '/v2/local/cancel/blobs/uploads/');
  const location = started.headers.get('location')!;
  await alice.send('PATCH', location, { 'content-range': '0-2' }, 'abc');
  expect((await alice.send('DELETE', location)).status).toBe(204);
  for (const [method, body] of [['GET'], ['PATCH', 'x'], ['DELETE']] as const) {
    const res = await alice.send(method, location, {}, body);
    expect([method, res.status, (await errorOf(res)).code]).toEqual([method, 404, 'BLOB_UPLOAD_UNKNOWN']);
  }
  expect((await alice.send('PUT', `${location}?digest=${sha256('abc')}`)).status).toBe(404);
  expect((await alice.send('GET', '/v2/local/cancel/blobs/uploads/not-a-session')).status).toBe(404);
});

test('monolithic POST ?digest=: 201; a body that does not match its digest is DIGEST_INVALID and stores nothing', async () => {
  const digest = await alice.pushBlob('local/mono', 'monolithic body');
  expect((await alice.send('HEAD', `/v2/local/mono/blobs/${digest}`)).headers.get('content-length')).toBe('15');
  const lie = sha256('what the client claims');
  const res = await alice.send('POST', `/v2/local/mono/blobs/uploads/?digest=${lie}`, {}, 'something else entirely');
  expect(res.status).toBe(400);
  expect((await errorOf(res)).code).toBe('DIGEST_INVALID');
  expect((await alice.send('HEAD', `/v2/local/mono/blobs/${lie}`)).status).toBe(404);
  expect((await alice.send('POST', '/v2/local/mono/blobs/uploads/?digest=sha256:nothex', {}, 'x')).status).toBe(400);
});

describe('cross-repository mounts', () => {
  const carol = () => new PushClient(cache, basic('carol', PASSWORDS.carol));

  test('201 from a repository the caller may pull that has the blob; the blob is then served from the target', async () => {
    const digest = await alice.pushBlob('local/mount-src', 'mounted content');
    const res = await alice.send('POST', `/v2/local/mount-dst/blobs/uploads/?mount=${digest}&from=local/mount-src`);
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/v2/local/mount-dst/blobs/${digest}`);
    expect(res.headers.get('docker-content-digest')).toBe(digest);
    expect(await (await alice.send('GET', `/v2/local/mount-dst/blobs/${digest}`)).text()).toBe('mounted content');
  });

  test('202 (an upload session) when the source lacks the blob, or the caller may not pull the source: nothing leaks', async () => {
    const digest = await alice.pushBlob('local/secret', 'secret content');
    const missing = await alice.send('POST', `/v2/local/mount-dst/blobs/uploads/?mount=${sha256('never pushed')}&from=local/mount-src`);
    expect(missing.status).toBe(202);
    expect(missing.headers.get('docker-upload-uuid')).toMatch(/^[0-9a-f-]{36}$/);
    // carol may push and pull local/carol, but not pull local/secret.
    const refused = await carol().send('POST', `/v2/local/carol/blobs/uploads/?mount=${digest}&from=local/secret`);
    expect(refused.status).toBe(202);
    expect((await carol().send('HEAD', `/v2/local/carol/blobs/${digest}`)).status).toBe(404);
    expect((await alice.send('HEAD', `/v2/local/carol/blobs/${digest}`)).status).toBe(404);
  });

  test('without from: 201 only where the blob is already in the target and the caller may pull it', async () => {
    const mine = await carol().pushBlob('local/carol', 'carol content');
    expect((await carol().send('POST', `/v2/local/carol/blobs/uploads/?mount=${mine}`)).status).toBe(201);
    // local/carol-drop: carol may push but not pull; its blobs are not revealed by a mount.
    const dropped = await carol().pushBlob('local/carol-drop', 'dropped content');
    expect((await carol().send('POST', `/v2/local/carol-drop/blobs/uploads/?mount=${dropped}`)).status).toBe(202);
  });
});

test('refusals: a pull-only user is DENIED, a pull-only token is challenged for push, an anonymous client is challenged', async () => {
  const bob = new PushClient(cache, basic('bob', PASSWORDS.bob));
  const denied = await bob.send('POST', '/v2/local/chunked/blobs/uploads/');
  expect(denied.status).toBe(403);
  expect((await errorOf(denied)).code).toBe('DENIED');
  const tokenRes = await bob.send('GET', '/token?service=pullthrough&scope=repository:local/chunked:pull,push');
  const { token } = (await tokenRes.json()) as { token: string };
  const withToken = await new PushClient(cache, `Bearer ${token}`).send('PUT', `/v2/local/chunked/manifests/v1`, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, '{}');
  expect(withToken.status).toBe(401);
  expect(withToken.headers.get('www-authenticate')).toContain('scope="repository:local/chunked:push"');
  expect((await new PushClient(cache).send('POST', '/v2/local/chunked/blobs/uploads/')).status).toBe(401);
  expect((await bob.send('DELETE', `/v2/local/chunked/blobs/${sha256('x')}`)).status).toBe(403);
});

test('abandoned sessions are purged after PULLTHROUGH_UPLOAD_MAX_AGE_HOURS; fresh ones are kept', async () => {
  const started = await alice.send('POST', '/v2/local/purged/blobs/uploads/');
  const old = started.headers.get('location')!;
  await alice.send('PATCH', old, { 'content-range': '0-2' }, 'abc');
  await cache.stop();
  await start({ PULLTHROUGH_UPLOAD_MAX_AGE_HOURS: '0.0008' }); // ~3 s, checked every second
  await waitUntil(async () => (await alice.send('GET', old)).status === 404, { what: 'the abandoned session to be purged', timeoutMs: 15_000 });
  const fresh = await alice.send('POST', '/v2/local/purged/blobs/uploads/');
  expect((await alice.send('GET', fresh.headers.get('location')!)).status).toBe(204);
}, 30_000);
