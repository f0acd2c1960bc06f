'use strict';
// Herd ceiling: the most any single-process cache can do for a herd on this machine. For each blob it
// fetches ONCE from the upstream (in the bench: through the shaped link, as the proxies of the herd do)
// and writes each arriving chunk to every client waiting for that blob; a client that comes later gets
// the bytes received so far, then the live rest. Nothing is hashed or stored (the received bytes are
// kept in memory for late clients), and there is no backpressure: a slow client's socket buffers it.
// Manifests are fetched once and kept; anything else is passed through. Run as its own process:
// `node fanout-server-child.js <upstreamUrl> <port> [<dir>]`.
// With `<dir>`, the verifying herd ceiling: each blob is also hashed as it arrives (sha256), its latest chunk
// held back from the clients until the digest is verified (a mismatch cuts them), and written to a new file
// in <dir> (bench/lib/file-sink.js: 1 MiB writes, two in flight), fsynced once the body is in, then removed:
// the most a cache that verifies and stores each blob can do for the herd, still with every byte in memory
// for late clients. `GET /_ceiling/settle` (the bench's parent only, on 127.0.0.1) waits for the files and
// says how many were stored and what failed.
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { createHash } = require('node:crypto');
const { passThroughTo } = require('./pass-through.js');
const { FileSink } = require('./file-sink.js');

const [targetUrl, port, dir] = process.argv.slice(2);
const target = new URL(targetUrl);
const agent = new http.Agent({ keepAlive: true });
const BLOB = /^\/v2\/.+\/blobs\/sha256:[0-9a-f]{64}$/;
const MANIFEST = /^\/v2\/.+\/manifests\/[^/]+$/;
const blobs = new Map(); // url -> { status, headers, chunks, ended, clients }
const manifests = new Map(); // url + accept -> Promise<{ status, headers, body }>
const files = { seq: 0, stored: 0, errors: [], pending: new Set() };

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

/** Verifying mode: the blob at `url` hashed and written to a new file as it arrives; `verified()` at its end (then fsynced and removed, or dropped). */
function storeOf(url) {
  const digest = /(sha256:[0-9a-f]{64})$/.exec(url)[1];
  const file = path.join(dir, `blob-${++files.seq}`);
  const sink = new FileSink(fs.openSync(file, 'wx'));
  const hash = createHash('sha256');
  const finish = (ok) => {
    const done = sink
      .finish()
      .then(() => ok && files.stored++, (err) => void files.errors.push(`${digest}: storing failed: ${err.message}`))
      .finally(() => fs.promises.rm(file, { force: true }));
    files.pending.add(done);
    done.finally(() => files.pending.delete(done));
  };
  return {
    take(chunk) {
      hash.update(chunk);
      sink.write(chunk);
    },
    verified() {
      const ok = `sha256:${hash.digest('hex')}` === digest;
      if (!ok) files.errors.push(`${digest}: content does not match the digest`);
      finish(ok);
      return ok;
    },
    /** The body failed before its end: the file is dropped. */
    abandon() {
      files.errors.push(`${digest}: upstream body failed`);
      finish(false);
    },
  };
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
      const store = dir && e.status === 200 ? storeOf(req.url) : undefined;
      const send = (chunk) => {
        e.chunks.push(chunk);
        for (const c of e.clients) c.write(chunk);
      };
      let held; // verifying: the latest chunk, sent once the digest matched
      upRes.on('data', (chunk) => {
        if (!store) return send(chunk);
        store.take(chunk);
        if (held) send(held);
        held = chunk;
      });
      upRes.on('end', () => {
        if (store && !store.verified()) return fail(e, req.url);
        if (held) send(held);
        e.ended = true;
        for (const c of e.clients) c.end();
        e.clients.clear();
        if (e.status !== 200) blobs.delete(req.url); // only a blob is kept for later clients
      });
      upRes.on('error', () => {
        store?.abandon();
        fail(e, req.url);
      });
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

async function settled() {
  while (files.pending.size > 0) await Promise.allSettled([...files.pending]);
  return { stored: files.stored, errors: files.errors.slice() };
}

const server = http.createServer((req, res) => {
  res.on('error', () => undefined);
  if (req.url === '/_ceiling/settle') settled().then((body) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)));
  else if (req.method === 'GET' && BLOB.test(req.url)) serveBlob(req, res);
  else if (req.method === 'GET' && MANIFEST.test(req.url)) serveManifest(req, res);
  else passThrough(req, res);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  settled().finally(() => process.exit(0));
});
