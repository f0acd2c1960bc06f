'use strict';
// The one pull client every target is measured with: keep-alive connections (http-client.js: each reads into
// one reused buffer), manifest by tag, then the config and layers, `parallel` blobs at a time (docker's default is
// 3), one connection each. Bodies are counted, not hashed: the client must not be the bottleneck on a 2-core
// machine; byte counts are checked against the manifest's sizes.
const { createHash } = require('node:crypto');
const { Connection } = require('./http-client.js');

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/**
 * GET `path` on `connection`: the bytes, when the first body byte came (process.hrtime.bigint()), the body when
 * `keep` (else each piece only goes to `hash`), the headers; throws on a status other than 200 (with the body's start).
 */
async function get(connection, path, { headers = {}, hash, keep = false } = {}) {
  let bytes = 0;
  let firstByteAt;
  const kept = [];
  const res = await connection.get(path, headers, (piece, status) => {
    if (status !== 200) {
      if (kept.length < 4) kept.push(Buffer.from(piece)); // the start of the error's body
      return;
    }
    firstByteAt ??= process.hrtime.bigint();
    bytes += piece.length;
    if (keep) kept.push(Buffer.from(piece));
    hash?.update(piece);
  });
  if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status} ${Buffer.concat(kept).toString('utf8').slice(0, 300)}`);
  return { bytes, firstByteAt, body: keep ? Buffer.concat(kept) : undefined, headers: res.headers };
}

/**
 * Pull `repository:tag` from `baseUrl` (http://host:port). Resolves with bytes moved, the wall time
 * in ms, `manifestMs` (the manifest GET) and `ttfbMs`: from the pull's start to the first body byte of
 * any blob (when a user sees the download start); throws on any non-200 or short blob (and with
 * `verify`, on a wrong digest).
 */
async function pullImage(baseUrl, repository, tag, { parallel = 3, timeoutMs = 300_000, verify = false } = {}) {
  const connections = Array.from({ length: Math.max(1, parallel) }, () => new Connection(baseUrl, { timeoutMs }));
  const started = process.hrtime.bigint();
  try {
    const manifest = await get(connections[0], `/v2/${repository}/manifests/${tag}`, { headers: { accept: MANIFEST_ACCEPT }, keep: true });
    const manifestMs = Number(process.hrtime.bigint() - started) / 1e6;
    let firstByteAt;
    const doc = JSON.parse(manifest.body.toString('utf8'));
    const blobs = [doc.config, ...(doc.layers ?? [])];
    let next = 0;
    let bytes = manifest.bytes;
    const worker = async (connection) => {
      while (next < blobs.length) {
        const blob = blobs[next++];
        const hash = verify ? createHash('sha256') : undefined;
        const got = await get(connection, `/v2/${repository}/blobs/${blob.digest}`, { hash });
        if (got.firstByteAt !== undefined && (firstByteAt === undefined || got.firstByteAt < firstByteAt)) firstByteAt = got.firstByteAt;
        if (got.bytes !== blob.size) throw new Error(`blob ${blob.digest}: got ${got.bytes} bytes, expected ${blob.size}`);
        if (hash && `sha256:${hash.digest('hex')}` !== blob.digest) throw new Error(`blob ${blob.digest}: content does not match its digest`);
        bytes += got.bytes;
      }
    };
    await Promise.all(connections.slice(0, Math.min(parallel, blobs.length)).map(worker));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const ttfbMs = firstByteAt === undefined ? undefined : Number(firstByteAt - started) / 1e6;
    return { bytes, ms, mibPerSec: bytes / 1048576 / (ms / 1000), manifestMs, ttfbMs };
  } finally {
    for (const connection of connections) connection.close();
  }
}

/** GET one URL path over a new connection and count the bytes (the loopback ceiling). */
async function fetchFile(baseUrl, path, { timeoutMs = 300_000 } = {}) {
  const connection = new Connection(baseUrl, { timeoutMs });
  const started = process.hrtime.bigint();
  try {
    const got = await get(connection, path);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    return { bytes: got.bytes, ms, mibPerSec: got.bytes / 1048576 / (ms / 1000) };
  } finally {
    connection.close();
  }
}

module.exports = { get, pullImage, fetchFile, MANIFEST_ACCEPT };
