'use strict';
// The shaped link as the bench runs it (its own process): it limits bandwidth, adds round trips, and
// streams (a reader that stops reading stops the upstream too). Generous bounds: the machine is shared.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { createHash, randomBytes } = require('node:crypto');
const { mkdtemp, rm } = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { Client } = require('undici');
const { startShapingProxy } = require('../lib/servers.js');

const MiB = 1024 * 1024;
const BLOB = randomBytes(MiB);
let upstream;
let written = 0; // bytes the upstream has handed to its socket for /endless
let logDir;
let shaped;
let unlimited;

async function timedGet(client, path) {
  const t0 = performance.now();
  const res = await client.request({ path, method: 'GET' });
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of res.body) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { status: res.statusCode, ms: performance.now() - t0, bytes, sha256: hash.digest('hex') };
}

test.before(async () => {
  upstream = http.createServer((req, res) => {
    if (req.url === '/v2/' || req.url === '/small') return res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    if (req.url.startsWith('/blob')) return res.writeHead(200, { 'content-length': BLOB.length }).end(BLOB);
    if (req.url === '/endless') {
      res.writeHead(200, { 'content-length': 256 * MiB });
      const chunk = Buffer.alloc(64 * 1024, 7);
      const pump = () => {
        while (written < 256 * MiB && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      return pump();
    }
    res.writeHead(404).end();
  });
  await new Promise((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${upstream.address().port}`;
  logDir = await mkdtemp(path.join(os.tmpdir(), 'bench-shaper-test-'));
  [shaped, unlimited] = await Promise.all([
    startShapingProxy(url, { bytesPerSecond: 2 * MiB, rttMs: 100, logDir }),
    startShapingProxy(url, { bytesPerSecond: 0, rttMs: 0, logDir }),
  ]);
});

test.after(async () => {
  await Promise.all([shaped?.stop(), unlimited?.stop()]);
  upstream?.closeAllConnections();
  await new Promise((resolve) => upstream?.close(resolve));
  if (logDir) await rm(logDir, { recursive: true, force: true });
});

test('a new connection pays a round trip to open and one per request; a kept-alive one only the latter', async () => {
  const client = new Client(shaped.url);
  try {
    const first = await timedGet(client, '/small');
    assert.equal(first.status, 200);
    assert.ok(first.ms >= 190, `first request on a new connection took ${first.ms} ms, expected >= 2 RTT (200 ms)`);
    assert.ok(first.ms < 3_000, `first request took ${first.ms} ms`);
    const again = await timedGet(client, '/small');
    assert.ok(again.ms >= 95, `request on a kept-alive connection took ${again.ms} ms, expected >= 1 RTT (100 ms)`);
    assert.ok(again.ms < first.ms, `kept-alive ${again.ms} ms, new connection ${first.ms} ms`);
  } finally {
    await client.close();
  }
});

test('bodies leave at the link bandwidth, shared by concurrent bodies, bytes intact', async () => {
  const client = new Client(shaped.url, { pipelining: 0 });
  const other = new Client(shaped.url);
  try {
    await Promise.all([timedGet(client, '/small'), timedGet(other, '/small')]); // open both connections
    const one = await timedGet(client, '/blob');
    assert.equal(one.bytes, MiB);
    assert.equal(one.sha256, createHash('sha256').update(BLOB).digest('hex'));
    // 1 MiB at 2 MiB/s is 500 ms (+ 100 ms RTT); the link lets 5 ms through at once after idle.
    assert.ok(one.ms >= 480, `1 MiB at 2 MiB/s took ${one.ms} ms, expected >= 500 ms`);
    assert.ok(one.ms < 6_000, `1 MiB at 2 MiB/s took ${one.ms} ms`);
    const t0 = performance.now();
    const both = await Promise.all([timedGet(client, '/blob?a'), timedGet(other, '/blob?b')]);
    const ms = performance.now() - t0;
    assert.deepEqual(both.map((b) => b.bytes), [MiB, MiB]);
    assert.ok(ms >= 950, `2 x 1 MiB at once over a 2 MiB/s link took ${ms} ms, expected >= 1000 ms`);
  } finally {
    await Promise.all([client.close(), other.close()]);
  }
});

test('streams: a client that stops reading stops the upstream (nothing is buffered whole)', async () => {
  const client = new Client(unlimited.url);
  try {
    const res = await client.request({ path: '/endless', method: 'GET' });
    assert.equal(res.statusCode, 200);
    await new Promise((r) => setTimeout(r, 600)); // read nothing: an unbounded proxy would take all 256 MiB meanwhile
    const stalled = written;
    assert.ok(stalled > 0 && stalled < 32 * MiB, `the upstream wrote ${stalled / MiB} MiB while the client read nothing`);
    let read = 0;
    for await (const chunk of res.body) {
      read += chunk.length;
      if (read >= 4 * MiB) break;
    }
    assert.ok(read >= 4 * MiB);
  } finally {
    await client.destroy();
  }
});
