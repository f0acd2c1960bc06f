'use strict';
// Ceiling: the most any cache that verifies and stores a miss while serving it can reach on this
// machine, with the client on the same cores. A minimal node proxy in front of the upstream that, for
// a blob GET, sends the upstream's bytes on to the client while hashing each one (sha256) and queueing
// it for a new file (gathered 1 MiB `writev`s at their own offsets, two in flight; the queue is
// unbounded, so the client never waits for the file), holds the last chunk back until the digest is
// verified, and fsyncs the file once the client is done (the client's time does not include it).
// Everything else is passed through. Run as its own process:
// `node verifying-proxy-child.js <upstreamUrl> <port> <dir> [<lagBytes>]` (files go to <dir>). With
// `lagBytes` the file's queue is bounded like pullthrough's write lag: once more than that many bytes
// wait for the file (queued or being written), the upstream read pauses until half of them are written
// (the client then gets the bytes at the file's pace).
// Control (the bench's parent only, on 127.0.0.1): `GET /_ceiling/settle` waits until every store has
// been written and fsynced and lists them (and the most bytes that ever waited for a file at once); `DELETE /_ceiling/files` does the same, then removes them.
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { createHash } = require('node:crypto');
const { passThroughTo } = require('./pass-through.js');
const { FileSink } = require('./file-sink.js');

const BLOB = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})$/;

const [targetUrl, port, dir, lagArg] = process.argv.slice(2);
const lagBytes = lagArg === undefined ? Number.POSITIVE_INFINITY : Number(lagArg);
const target = new URL(targetUrl);
const agent = new http.Agent({ keepAlive: true });
const stored = []; // { digest, size, file } of every verified, fsynced blob
let maxPending = 0; // the most bytes that waited for a file at once (queued or being written), over every blob so far
const errors = [];
const pending = new Set();
let seq = 0;

const upstreamRequest = (req, onResponse) =>
  http.request({ hostname: target.hostname, port: target.port, method: req.method, path: req.url, agent, headers: { ...req.headers, host: target.host } }, onResponse);

const passThrough = passThroughTo(target, agent);

function track(promise) {
  pending.add(promise);
  promise.finally(() => pending.delete(promise));
}

async function serveBlob(req, res, digest) {
  const file = path.join(dir, `blob-${++seq}`);
  const fd = await new Promise((resolve, reject) => fs.open(file, 'wx', (err, d) => (err ? reject(err) : resolve(d))));
  const sink = new FileSink(fd);
  sink.onPending = (bytes) => (maxPending = Math.max(maxPending, bytes));
  let settled = false; // stored or dropped: once per request
  const discard = (why) => {
    if (settled) return;
    settled = true;
    if (why) errors.push(`${digest}: ${why}`);
    track(sink.finish().catch(() => undefined).then(() => fs.promises.rm(file, { force: true })));
  };
  res.on('error', () => undefined);
  const up = upstreamRequest(req, (upRes) => {
    if (upRes.statusCode !== 200) {
      discard();
      res.writeHead(upRes.statusCode, upRes.headers);
      return void upRes.pipe(res);
    }
    res.writeHead(200, upRes.headers);
    // A client that leaves does not stop the store (the upstream is read on without it).
    res.once('close', () => upRes.resume());
    const hash = createHash('sha256');
    let held; // the last chunk so far: sent only once the digest is verified
    let size = 0;
    // Paused for the client's socket, for the file's queue (bounded mode), or both: resumed when neither holds it.
    let forClient = false;
    let forFile = false;
    const resume = () => {
      if (!forClient && !forFile) upRes.resume();
    };
    sink.onWritten = () => {
      if (forFile && sink.pending <= lagBytes / 2) {
        forFile = false;
        resume();
      }
    };
    upRes.on('data', (chunk) => {
      hash.update(chunk);
      size += chunk.length;
      sink.write(chunk);
      if (sink.pending > lagBytes) {
        // What is gathered goes to the file now (a lag under the 1 MiB batch would otherwise wait forever).
        sink.flush();
        forFile = true;
        upRes.pause();
      }
      if (held !== undefined && !res.destroyed && !res.write(held)) {
        forClient = true;
        upRes.pause();
        res.once('drain', () => {
          forClient = false;
          resume();
        });
      }
      held = chunk;
    });
    upRes.on('end', () => {
      if (`sha256:${hash.digest('hex')}` !== digest) {
        res.destroy();
        return discard('content does not match the digest');
      }
      settled = true;
      // fsync once the client has its last byte (or is gone): the client's time does not include it.
      const clientDone = res.destroyed ? Promise.resolve() : new Promise((resolve) => res.once('close', resolve));
      if (!res.destroyed) res.end(held);
      track(clientDone.then(() => sink.finish()).then(
        () => void stored.push({ digest, size, file }),
        (err) => {
          errors.push(`${digest}: storing failed: ${err.message}`);
          return fs.promises.rm(file, { force: true });
        },
      ));
    });
    const cut = () => {
      res.destroy();
      discard('upstream body cut short');
    };
    upRes.on('aborted', cut);
    upRes.on('error', cut);
  });
  up.on('error', (err) => {
    if (res.headersSent) res.destroy();
    else res.writeHead(502).end();
    discard(`upstream: ${err.message}`);
  });
  up.end();
}

async function settle() {
  while (pending.size > 0) await Promise.allSettled([...pending]);
}

async function control(req, res) {
  await settle();
  const body = { stored: stored.slice(), errors: errors.slice(), maxPending };
  if (req.method === 'DELETE') {
    await Promise.all(stored.map((s) => fs.promises.rm(s.file, { force: true })));
    stored.length = 0;
    errors.length = 0;
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  const blob = req.method === 'GET' ? BLOB.exec(req.url) : null;
  if (req.url === '/_ceiling/settle' || req.url === '/_ceiling/files') {
    control(req, res).catch((err) => res.writeHead(500).end(err.message));
  } else if (blob) {
    serveBlob(req, res, blob[1]).catch((err) => (res.headersSent ? res.destroy() : res.writeHead(500).end(err.message)));
  } else {
    passThrough(req, res);
  }
});
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  settle()
    .then(() => Promise.all(stored.map((s) => fs.promises.rm(s.file, { force: true }))))
    .finally(() => process.exit(0));
});
