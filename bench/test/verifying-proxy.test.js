'use strict';
// The verifying write-through proxy ceiling (bench/lib/verifying-proxy-child.js, its own process as the
// bench runs it) in front of a small local upstream: a blob is served whole only when its digest holds,
// and what it stored is a file of the blob's size and digest until the bench clears it.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { createHash, randomBytes } = require('node:crypto');
const { readFile, readdir } = require('node:fs/promises');
const path = require('node:path');
const { request } = require('undici');
const { tempDir, listenOnLoopback, closeServer } = require('@pullthrough/test-support');
const { startVerifyingProxy } = require('../lib/servers.js');

const MiB = 1024 * 1024;
const BLOB = randomBytes(3 * MiB + 12_345);
const DIGEST = `sha256:${createHash('sha256').update(BLOB).digest('hex')}`;
const WRONG = `sha256:${'0'.repeat(64)}`; // served with BLOB's bytes: the digest cannot hold
const MANIFEST = JSON.stringify({ schemaVersion: 2, layers: [] });
let upstream;
let upstreamPort;
let logDir;
let proxy;

/** Sends `body` in 64 KiB writes, as a registry's socket would. */
function sendChunked(res, body) {
  res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
  let offset = 0;
  const pump = () => {
    while (offset < body.length) {
      const chunk = body.subarray(offset, offset + 64 * 1024);
      offset += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

test.before(async () => {
  upstream = http.createServer((req, res) => {
    if (req.url === '/v2/') return res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    if (req.url === '/v2/t/manifests/v1') return res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(MANIFEST);
    if (req.url === `/v2/t/blobs/${DIGEST}` || req.url === `/v2/t/blobs/${WRONG}`) return sendChunked(res, BLOB);
    res.writeHead(404).end();
  });
  const port = await listenOnLoopback(upstream);
  upstreamPort = port;
  logDir = await tempDir('bench-verifying-test-');
  proxy = await startVerifyingProxy(`http://127.0.0.1:${port}`, logDir.path);
});

test.after(async () => {
  await proxy?.stop();
  if (upstream) await closeServer(upstream);
  await logDir?.remove();
});

async function get(url) {
  const res = await request(url);
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of res.body) {
      hash.update(chunk);
      bytes += chunk.length;
    }
  } catch (err) {
    return { status: res.statusCode, bytes, error: err };
  }
  return { status: res.statusCode, bytes, digest: `sha256:${hash.digest('hex')}` };
}

test('a verified blob reaches the client whole and leaves an fsynced file of its size and digest until cleared', async () => {
  const got = await get(`${proxy.url}/v2/t/blobs/${DIGEST}`);
  assert.deepEqual(got, { status: 200, bytes: BLOB.length, digest: DIGEST });
  const { stored, errors } = await proxy.settle();
  assert.deepEqual(errors, []);
  assert.equal(stored.length, 1);
  assert.equal(stored[0].digest, DIGEST);
  assert.equal(stored[0].size, BLOB.length);
  assert.equal(path.dirname(stored[0].file), proxy.dir);
  const onDisk = await readFile(stored[0].file);
  assert.equal(onDisk.length, BLOB.length);
  assert.equal(`sha256:${createHash('sha256').update(onDisk).digest('hex')}`, DIGEST);
  const cleared = await proxy.clear();
  assert.equal(cleared.stored.length, 1);
  assert.deepEqual(await readdir(proxy.dir), []);
});

test('a blob whose bytes do not match its digest never reaches the client whole and leaves no file', async () => {
  const got = await get(`${proxy.url}/v2/t/blobs/${WRONG}`);
  assert.equal(got.status, 200);
  assert.ok(got.error, 'the body should end in an error');
  assert.ok(got.bytes < BLOB.length, `the client got ${got.bytes} of ${BLOB.length} bytes`);
  const { stored, errors } = await proxy.clear();
  assert.deepEqual(stored, []);
  assert.deepEqual(errors, [`${WRONG}: content does not match the digest`]);
  assert.deepEqual(await readdir(proxy.dir), []);
});

test('manifests pass through unchanged', async () => {
  const res = await request(`${proxy.url}/v2/t/manifests/v1`);
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), MANIFEST);
  assert.deepEqual((await proxy.settle()).stored, []);
});

test('with a bounded file queue the read waits for the file: no more than the bound and one chunk ever wait, and the blob is stored whole', async () => {
  const lagBytes = 256 * 1024;
  const bounded = await startVerifyingProxy(`http://127.0.0.1:${upstreamPort}`, logDir.path, { lagBytes });
  try {
    const got = await get(`${bounded.url}/v2/t/blobs/${DIGEST}`);
    assert.deepEqual(got, { status: 200, bytes: BLOB.length, digest: DIGEST });
    const { stored, errors, maxPending } = await bounded.clear();
    assert.deepEqual(errors, []);
    assert.equal(stored.length, 1);
    assert.equal(stored[0].size, BLOB.length);
    // Unbounded, the first 1 MiB is gathered before any write: more than the bound would wait.
    assert.ok(maxPending > 0 && maxPending <= lagBytes + 64 * 1024, `at most ${maxPending} bytes waited for the file`);
  } finally {
    await bounded.stop();
  }
  // The unbounded proxy gathers a whole MiB before its first write.
  await get(`${proxy.url}/v2/t/blobs/${DIGEST}`);
  assert.ok((await proxy.clear()).maxPending >= 1024 * 1024);
});
