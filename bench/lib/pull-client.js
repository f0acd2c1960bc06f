'use strict';
// The one pull client every target is measured with: undici keep-alive Pool, manifest by tag,
// then the config and layers, `parallel` blobs at a time (docker's default is 3). Bodies are
// counted, not hashed: the client must not be the bottleneck on a 2-core machine; byte counts
// are checked against the manifest's sizes.
const { createHash } = require('node:crypto');
const { Pool } = require('undici');

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

async function get(pool, path, headers = {}, hash = undefined) {
  const res = await pool.request({ path, method: 'GET', headers });
  let bytes = 0;
  let firstByteAt;
  const chunks = headers.accept ? [] : undefined;
  for await (const chunk of res.body) {
    firstByteAt ??= process.hrtime.bigint();
    bytes += chunk.length;
    chunks?.push(chunk);
    hash?.update(chunk);
  }
  if (res.statusCode !== 200) {
    const text = chunks ? Buffer.concat(chunks).toString('utf8').slice(0, 300) : '';
    throw new Error(`GET ${path}: HTTP ${res.statusCode} ${text}`);
  }
  return { bytes, firstByteAt, body: chunks ? Buffer.concat(chunks) : undefined, headers: res.headers };
}

/**
 * Pull `repository:tag` from `baseUrl` (http://host:port). Resolves with bytes moved, the wall time
 * in ms, `manifestMs` (the manifest GET) and `ttfbMs`: from the pull's start to the first body byte of
 * any blob (when a user sees the download start); throws on any non-200 or short blob (and with
 * `verify`, on a wrong digest).
 */
async function pullImage(baseUrl, repository, tag, { parallel = 3, timeoutMs = 300_000, verify = false } = {}) {
  const pool = new Pool(baseUrl, { connections: parallel, pipelining: 1, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const started = process.hrtime.bigint();
  try {
    const manifest = await get(pool, `/v2/${repository}/manifests/${tag}`, { accept: MANIFEST_ACCEPT });
    const manifestMs = Number(process.hrtime.bigint() - started) / 1e6;
    let firstByteAt;
    const doc = JSON.parse(manifest.body.toString('utf8'));
    const blobs = [doc.config, ...(doc.layers ?? [])];
    let next = 0;
    let bytes = manifest.bytes;
    const worker = async () => {
      while (next < blobs.length) {
        const blob = blobs[next++];
        const hash = verify ? createHash('sha256') : undefined;
        const got = await get(pool, `/v2/${repository}/blobs/${blob.digest}`, {}, hash);
        if (got.firstByteAt !== undefined && (firstByteAt === undefined || got.firstByteAt < firstByteAt)) firstByteAt = got.firstByteAt;
        if (got.bytes !== blob.size) throw new Error(`blob ${blob.digest}: got ${got.bytes} bytes, expected ${blob.size}`);
        if (hash && `sha256:${hash.digest('hex')}` !== blob.digest) throw new Error(`blob ${blob.digest}: content does not match its digest`);
        bytes += got.bytes;
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, blobs.length) }, worker));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const ttfbMs = firstByteAt === undefined ? undefined : Number(firstByteAt - started) / 1e6;
    return { bytes, ms, mibPerSec: bytes / 1048576 / (ms / 1000), manifestMs, ttfbMs };
  } finally {
    await pool.close();
  }
}

/** GET one URL path over a fresh keep-alive pool and count the bytes (the loopback ceiling). */
async function fetchFile(baseUrl, path, { timeoutMs = 300_000 } = {}) {
  const pool = new Pool(baseUrl, { connections: 1, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  const started = process.hrtime.bigint();
  try {
    const got = await get(pool, path);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    return { bytes: got.bytes, ms, mibPerSec: got.bytes / 1048576 / (ms / 1000) };
  } finally {
    await pool.close();
  }
}

module.exports = { pullImage, fetchFile, MANIFEST_ACCEPT };
