'use strict';
// The herd's fan-out ceiling (bench/lib/fanout-server-child.js, its own process as the bench runs it) in
// front of a small local upstream that sends a blob slowly: clients at once and a client that comes
// late all get the same bytes from one upstream GET; a manifest is fetched once. The verifying one (`verify`)
// does the same while it hashes and stores each blob, and cuts its clients when the bytes do not match.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { readdir } = require('node:fs/promises');
const { createHash, randomBytes } = require('node:crypto');
const { request } = require('undici');
const { tempDir, listenOnLoopback, closeServer } = require('@pullthrough/test-support');
const { startFanoutServer } = require('../lib/servers.js');

const KiB = 1024;
const BLOB = randomBytes(2 * 1024 * KiB + 777);
const DIGEST = `sha256:${createHash('sha256').update(BLOB).digest('hex')}`;
const MANIFEST = JSON.stringify({ schemaVersion: 2, layers: [] });
// A blob whose upstream bytes are not what its digest says.
const WRONG = `sha256:${'0'.repeat(64)}`;
const gets = new Map(); // upstream GETs per path
let upstream;
let logDir;
let server;
let verifying;

test.before(async () => {
  upstream = http.createServer((req, res) => {
    gets.set(req.url, (gets.get(req.url) ?? 0) + 1);
    if (req.url === '/v2/') return res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    if (req.url === '/v2/t/manifests/v1') return res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(MANIFEST);
    if (req.url !== `/v2/t/blobs/${DIGEST}` && req.url !== `/v2/t/blobs/${WRONG}`) return res.writeHead(404).end();
    // 64 KiB every 15 ms: about half a second for the blob, so a second client joins mid-body.
    res.writeHead(200, { 'content-length': BLOB.length, 'content-type': 'application/octet-stream' });
    let offset = 0;
    const timer = setInterval(() => {
      res.write(BLOB.subarray(offset, offset + 64 * KiB));
      offset += 64 * KiB;
      if (offset >= BLOB.length) {
        clearInterval(timer);
        res.end();
      }
    }, 15);
    res.on('close', () => clearInterval(timer));
  });
  const port = await listenOnLoopback(upstream);
  logDir = await tempDir('bench-fanout-test-');
  server = await startFanoutServer(`http://127.0.0.1:${port}`, logDir.path);
  verifying = await startFanoutServer(`http://127.0.0.1:${port}`, logDir.path, { verify: true });
});

test.after(async () => {
  await server?.stop();
  await verifying?.stop();
  if (upstream) await closeServer(upstream);
  await logDir?.remove();
});

/** GET a URL; `onBytes(n)` after each chunk. Resolves the status, byte count and digest (and `error` when the body was cut). */
async function get(url, onBytes = () => undefined) {
  const res = await request(url);
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of res.body) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes(bytes);
    }
  } catch (err) {
    return { status: res.statusCode, bytes, error: err.code ?? err.message };
  }
  return { status: res.statusCode, bytes, digest: `sha256:${hash.digest('hex')}` };
}

test('clients of one blob, at once and mid-body, get the same bytes from one upstream GET', async () => {
  const url = `${server.url}/v2/t/blobs/${DIGEST}`;
  let lateStartedAt;
  let firstDoneAt;
  let startLate;
  const lateStarts = new Promise((resolve) => (startLate = resolve));
  const first = get(url, (n) => {
    if (n >= 256 * KiB && lateStartedAt === undefined) {
      lateStartedAt = performance.now();
      startLate();
    }
  }).then((got) => ((firstDoneAt = performance.now()), got));
  const atOnce = get(url);
  await lateStarts;
  const late = get(url);
  const want = { status: 200, bytes: BLOB.length, digest: DIGEST };
  assert.deepEqual(await first, want);
  assert.deepEqual(await atOnce, want);
  assert.deepEqual(await late, want);
  assert.ok(lateStartedAt < firstDoneAt, 'the late client started before the first one had the whole blob');
  // One after the end is served from what was received.
  assert.deepEqual(await get(url), want);
  assert.equal(gets.get(`/v2/t/blobs/${DIGEST}`), 1);
});

test('a manifest is fetched once through the upstream and served again from memory', async () => {
  for (let i = 0; i < 3; i++) {
    const res = await request(`${server.url}/v2/t/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), MANIFEST);
  }
  assert.equal(gets.get('/v2/t/manifests/v1'), 1);
});

test('the verifying one serves a blob from one upstream GET while it hashes, stores and fsyncs it, then removes the file', async () => {
  const url = `${verifying.url}/v2/t/blobs/${DIGEST}`;
  const before = gets.get(`/v2/t/blobs/${DIGEST}`) ?? 0;
  const want = { status: 200, bytes: BLOB.length, digest: DIGEST };
  const clients = await Promise.all([get(url), get(url), get(url)]);
  for (const got of clients) assert.deepEqual(got, want);
  assert.deepEqual(await get(url), want);
  assert.equal(gets.get(`/v2/t/blobs/${DIGEST}`), before + 1);
  assert.deepEqual(await verifying.settle(), { stored: 1, errors: [] });
  // Its directory is empty again: the file was written, fsynced and removed.
  assert.deepEqual(await readdir(verifying.dir), []);
});

test('the verifying one never completes a blob whose bytes do not match its digest: its clients are cut', async () => {
  const url = `${verifying.url}/v2/t/blobs/${WRONG}`;
  const clients = await Promise.all([get(url), get(url)]);
  for (const got of clients) {
    assert.equal(got.status, 200);
    assert.ok(got.error, 'the body was cut');
    assert.ok(got.bytes < BLOB.length, `got ${got.bytes} of ${BLOB.length} bytes`);
  }
  const settled = await verifying.settle();
  assert.equal(settled.stored, 1);
  assert.deepEqual(settled.errors, [`${WRONG}: content does not match the digest`]);
});
