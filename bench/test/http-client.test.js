'use strict';
// The bench's HTTP/1.1 client (bench/lib/http-client.js) against real servers on 127.0.0.1: node's http server
// for ordinary responses, and a raw TCP server that writes responses byte by byte where the framing matters.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const { createHash } = require('node:crypto');
const { Connection } = require('../lib/http-client.js');
const { pullImage, fetchFile } = require('../lib/pull-client.js');

const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}`)));
const close = (server) => new Promise((resolve) => (server.closeAllConnections?.(), server.close(() => resolve())));

/** GET `path` on `connection` and collect the body (a copy: the pieces are views of a reused buffer). */
async function collect(connection, path, headers) {
  const pieces = [];
  const res = await connection.get(path, headers, (piece) => pieces.push(Buffer.from(piece)));
  return { ...res, body: Buffer.concat(pieces) };
}

/** A raw server that answers each request on a connection with the next of `replies` (written in `pieceSize` pieces). */
async function rawServer(replies, { pieceSize = 1, closeAfter = false } = {}) {
  const connections = [];
  const server = net.createServer((socket) => {
    connections.push(socket);
    let pending = '';
    socket.on('data', async (data) => {
      pending += data.toString('latin1');
      while (pending.includes('\r\n\r\n')) {
        pending = pending.slice(pending.indexOf('\r\n\r\n') + 4);
        const reply = Buffer.from(replies.shift() ?? 'HTTP/1.1 500 No More\r\ncontent-length: 0\r\n\r\n', 'latin1');
        for (let at = 0; at < reply.length; at += pieceSize) {
          socket.write(reply.subarray(at, at + pieceSize));
          await new Promise((r) => setImmediate(r));
        }
        if (closeAfter) socket.end();
      }
    });
    socket.on('error', () => undefined);
  });
  const url = await listen(server);
  return { url, connections, stop: () => (connections.forEach((s) => s.destroy()), close(server)) };
}

test('a Content-Length body over one kept-alive connection, request after request', async () => {
  const body = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
  const sockets = new Set();
  const seen = [];
  const server = http.createServer((req, res) => {
    sockets.add(req.socket);
    seen.push({ url: req.url, accept: req.headers.accept, host: req.headers.host });
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
  const url = await listen(server);
  const connection = new Connection(url);
  try {
    for (const path of ['/a', '/b']) {
      const got = await collect(connection, path, { accept: 'x/y' });
      assert.equal(got.status, 200);
      assert.equal(got.headers['content-length'], String(body.length));
      assert.ok(got.body.equals(body), 'the body arrives whole and in order');
    }
    assert.equal(sockets.size, 1, 'both requests went over one connection');
    assert.deepEqual(seen.map((s) => s.url), ['/a', '/b']);
    assert.equal(seen[0].accept, 'x/y');
    assert.equal(seen[0].host, new URL(url).host);
  } finally {
    connection.close();
    await close(server);
  }
});

test('a chunked body, its head and chunk lines split across reads', async () => {
  const reply = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nTrailer: t\r\n\r\n';
  const server = await rawServer([reply, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'], { pieceSize: 3 });
  const connection = new Connection(server.url);
  try {
    const got = await collect(connection, '/x');
    assert.equal(got.status, 200);
    assert.equal(got.headers['x-a'], '1');
    assert.equal(got.body.toString(), 'hello world');
    const next = await collect(connection, '/y');
    assert.equal(next.body.toString(), 'ok', 'the connection is reusable after the chunked body and its trailer');
    assert.equal(server.connections.length, 1);
  } finally {
    connection.close();
    await server.stop();
  }
});

test('a body that runs to the end of the connection, then a new connection for the next request', async () => {
  const server = await rawServer(['HTTP/1.0 200 OK\r\n\r\nuntil the end', 'HTTP/1.1 204 No Content\r\n\r\n'], { pieceSize: 4, closeAfter: true });
  const connection = new Connection(server.url);
  try {
    const got = await collect(connection, '/x');
    assert.equal(got.body.toString(), 'until the end');
    const next = await collect(connection, '/y');
    assert.equal(next.status, 204);
    assert.equal(next.body.length, 0);
    assert.equal(server.connections.length, 2);
  } finally {
    connection.close();
    await server.stop();
  }
});

test('a connection that ends inside the body rejects; a kept-alive connection the server closed is replaced', async () => {
  const short = await rawServer(['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part'], { pieceSize: 64, closeAfter: true });
  const connection = new Connection(short.url);
  try {
    await assert.rejects(collect(connection, '/x'), /closed before the response ended/);
  } finally {
    connection.close();
    await short.stop();
  }

  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-length': 2 });
    res.end('ok');
  });
  server.keepAliveTimeout = 50; // closes the idle connection between the two requests
  const url = await listen(server);
  const again = new Connection(url);
  try {
    assert.equal((await collect(again, '/1')).body.toString(), 'ok');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await collect(again, '/2')).body.toString(), 'ok');
  } finally {
    again.close();
    await close(server);
  }
});

test('framing errors and a silent server reject with a clear message', async () => {
  const cases = [
    ['SSH-2.0-OpenSSH\r\n\r\n', /not an HTTP\/1\.x status line/],
    ['HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n', /bad content-length/],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /bad chunk size line/],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab', /bytes after the response body/],
  ];
  for (const [reply, error] of cases) {
    const server = await rawServer([reply], { pieceSize: 1024 });
    const connection = new Connection(server.url);
    try {
      await assert.rejects(collect(connection, '/x'), error);
    } finally {
      connection.close();
      await server.stop();
    }
  }
  const accepted = [];
  const silent = net.createServer((socket) => accepted.push(socket)); // reads nothing, answers nothing
  const url = await listen(silent);
  const connection = new Connection(url, { timeoutMs: 100 });
  try {
    await assert.rejects(collect(connection, '/x'), /no bytes for 100 ms/);
  } finally {
    connection.close();
    accepted.forEach((socket) => socket.destroy());
    await new Promise((r) => silent.close(r));
  }
});

test('pullImage and fetchFile: a whole image over the client, digests checked, and an error status with its body', async () => {
  const layer = Buffer.alloc(2 * 1024 * 1024 + 5, 3);
  const config = Buffer.from('{"architecture":"amd64"}');
  const digest = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digest(layer), size: layer.length }],
  }));
  const blobs = new Map([[digest(config), config], [digest(layer), layer]]);
  const server = http.createServer((req, res) => {
    if (req.url === '/v2/r/manifests/t') {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': manifest.length });
      return res.end(manifest);
    }
    const blob = blobs.get(req.url.split('/').pop());
    if (!blob) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return res.end('{"errors":[{"code":"BLOB_UNKNOWN"}]}');
    }
    // chunked (no content-length) for the layer, to go through that framing in a whole pull too
    res.writeHead(200, blob === layer ? {} : { 'content-length': blob.length });
    res.end(blob);
  });
  const url = await listen(server);
  try {
    const pulled = await pullImage(url, 'r', 't', { verify: true });
    assert.equal(pulled.bytes, manifest.length + config.length + layer.length);
    assert.ok(pulled.ttfbMs > 0 && pulled.ttfbMs <= pulled.ms);
    const file = await fetchFile(url, `/v2/r/blobs/${digest(layer)}`);
    assert.equal(file.bytes, layer.length);
    await assert.rejects(fetchFile(url, '/v2/r/blobs/sha256:00'), /HTTP 404 \{"errors":\[\{"code":"BLOB_UNKNOWN"\}\]\}/);
    blobs.set(digest(layer), Buffer.alloc(layer.length, 4)); // same size, other bytes
    await assert.rejects(pullImage(url, 'r', 't', { verify: true }), /does not match its digest/);
  } finally {
    await close(server);
  }
});
