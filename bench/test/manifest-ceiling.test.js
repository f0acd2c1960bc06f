'use strict';
// The manifest-hit ceiling (bench/lib/manifest-ceiling-child.js, its own process as the bench runs it):
// every manifest GET gets the given bytes with their content type, digest and length; HEAD the headers alone.
const test = require('node:test');
const assert = require('node:assert/strict');
const { createHash } = require('node:crypto');
const { request } = require('undici');
const { tempDir } = require('@pullthrough/test-support');
const { startManifestCeiling } = require('../lib/servers.js');

const TYPE = 'application/vnd.oci.image.manifest.v1+json';
const BODY = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: TYPE, config: {}, layers: [] }));
const DIGEST = `sha256:${createHash('sha256').update(BODY).digest('hex')}`;
let dir;
let ceiling;

test.before(async () => {
  dir = await tempDir('bench-manifest-ceiling-');
  ceiling = await startManifestCeiling({ body: BODY, contentType: TYPE, digest: DIGEST }, dir.path);
});
test.after(async () => {
  await ceiling?.stop();
  await dir?.remove();
});

test('a manifest GET gets the bytes, type, digest and length; HEAD the headers; outside /v2/ a 404', async () => {
  const get = await request(`${ceiling.url}/v2/any/repo/manifests/latest`);
  const bytes = Buffer.from(await get.body.arrayBuffer());
  assert.equal(get.statusCode, 200);
  assert.ok(bytes.equals(BODY));
  assert.deepEqual([get.headers['content-type'], get.headers['docker-content-digest'], get.headers['content-length']], [TYPE, DIGEST, String(BODY.length)]);
  const head = await request(`${ceiling.url}/v2/any/repo/manifests/latest`, { method: 'HEAD' });
  await head.body.dump();
  assert.deepEqual([head.statusCode, head.headers['docker-content-digest'], head.headers['content-length']], [200, DIGEST, String(BODY.length)]);
  const other = await request(`${ceiling.url}/elsewhere`);
  await other.body.dump();
  assert.equal(other.statusCode, 404);
});
