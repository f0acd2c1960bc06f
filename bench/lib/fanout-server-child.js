'use strict';
// Herd ceiling: the most any single-process cache can do for a herd on this machine. For each blob it
// fetches ONCE from the upstream (in the bench: through the shaped link, as the proxies of the herd do)
// and writes each arriving chunk to every client waiting for that blob; a client that comes later gets
// the bytes received so far, then the live rest. Nothing is hashed or stored (the received bytes are
// kept in memory for late clients), and there is no backpressure: a slow client's socket buffers it.
// Manifests are fetched once and kept; anything else is passed through. Run as its own process:
// `node fanout-server-child.js <upstreamUrl> <port>`.
const http = require('node:http');
const { passThroughTo } = require('./pass-through.js');

const [targetUrl, port] = process.argv.slice(2);
const target = new URL(targetUrl);
const agent = new http.Agent({ keepAlive: true });
const BLOB = /^\/v2\/.+\/blobs\/sha256:[0-9a-f]{64}$/;
const MANIFEST = /^\/v2\/.+\/manifests\/[^/]+$/;
const blobs = new Map(); // url -> { status, headers, chunks, ended, clients }
const manifests = new Map(); // url + accept -> Promise<{ status, headers, body }>

const upstreamGet = (url, headers, onResponse) =>
  http.get({ hostname: target.hostname, port: target.port, path: url, agent, headers: { ...headers, host: target.host } }, onResponse);

/** Headers, the bytes so far, and the rest as it arrives (or the end) for one client. */
function attach(entry, res) {
  res.writeHead(entry.status, entry.headers);
  for (const chunk of entry.chunks) res.write(chunk);
  if (entry.ended) return void res.end();
  entry.clients.add(res);
  res.once('close', () => entry.clients.delete(res));
}

function fail(entry, url) {
  blobs.delete(url);
  for (const res of entry.clients) res.destroy();
  for (const res of entry.waiting) res.headersSent ? res.destroy() : res.writeHead(502).end();
  entry.clients.clear();
  entry.waiting.clear();
}

function serveBlob(req, res) {
  let entry = blobs.get(req.url);
  if (!entry) {
    entry = { status: 0, headers: undefined, chunks: [], ended: false, clients: new Set(), waiting: new Set() };
    blobs.set(req.url, entry);
    const e = entry;
    const up = upstreamGet(req.url, {}, (upRes) => {
      e.status = upRes.statusCode;
      e.headers = upRes.headers;
      for (const w of e.waiting) attach(e, w);
      e.waiting.clear();
      upRes.on('data', (chunk) => {
        e.chunks.push(chunk);
        for (const c of e.clients) c.write(chunk);
      });
      upRes.on('end', () => {
        e.ended = true;
        for (const c of e.clients) c.end();
        e.clients.clear();
        if (e.status !== 200) blobs.delete(req.url); // only a blob is kept for later clients
      });
      upRes.on('error', () => fail(e, req.url));
    });
    up.on('error', () => fail(e, req.url));
  }
  if (entry.headers) attach(entry, res);
  else {
    entry.waiting.add(res);
    res.once('close', () => entry.waiting.delete(res));
  }
}

function serveManifest(req, res) {
  const key = `${req.url}\n${req.headers.accept ?? ''}`;
  let got = manifests.get(key);
  if (!got) {
    const headers = req.headers.accept ? { accept: req.headers.accept } : {};
    got = new Promise((resolve, reject) => {
      upstreamGet(req.url, headers, (upRes) => {
        const chunks = [];
        upRes.on('data', (c) => chunks.push(c));
        upRes.on('end', () => resolve({ status: upRes.statusCode, headers: upRes.headers, body: Buffer.concat(chunks) }));
        upRes.on('error', reject);
      }).on('error', reject);
    });
    manifests.set(key, got);
    got.then((m) => m.status !== 200 && manifests.delete(key), () => manifests.delete(key));
  }
  got.then(
    (m) => res.writeHead(m.status, m.headers).end(m.body),
    () => res.writeHead(502).end(),
  );
}

const passThrough = passThroughTo(target, agent);

const server = http.createServer((req, res) => {
  res.on('error', () => undefined);
  if (req.method === 'GET' && BLOB.test(req.url)) serveBlob(req, res);
  else if (req.method === 'GET' && MANIFEST.test(req.url)) serveManifest(req, res);
  else passThrough(req, res);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
