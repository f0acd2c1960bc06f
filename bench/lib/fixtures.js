'use strict';
// Benchmark images: incompressible pseudo-random layers (uncompressed tar, so diff_id = digest)
// generated chunk by chunk straight to disk while hashed, never whole in memory, then pushed to the
// upstream with plain HTTP uploads (POST a session, PUT the file as a stream).
const { createCipheriv, createHash } = require('node:crypto');
const { createReadStream, createWriteStream } = require('node:fs');
const { once } = require('node:events');
const path = require('node:path');
const { request } = require('undici');

const MiB = 1024 * 1024;
const BLOCK = 512;
const CHUNK = MiB;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';

/** A ustar header for one regular file `name` of `size` bytes (fixed mtime, root owner). */
function tarHeader(name, size) {
  const h = Buffer.alloc(BLOCK);
  const octal = (offset, length, value) => h.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'latin1');
  h.write(name, 0, 100, 'utf8');
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 1_700_000_000);
  h.write('0', 156, 1, 'latin1');
  h.write('ustar\u000000', 257, 8, 'latin1');
  h.write('root', 265, 32, 'latin1');
  h.write('root', 297, 32, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return h;
}

/**
 * Write a one-file tar layer holding `payload` pseudo-random bytes (AES-128-CTR keystream of
 * `seed`) to `file`. Returns its descriptor (digest computed on the way) and path.
 */
async function writeRandomLayer(file, payload, seed) {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  const hash = createHash('sha256');
  const out = createWriteStream(file, { highWaterMark: CHUNK });
  let size = 0;
  const put = async (buf) => {
    hash.update(buf);
    size += buf.length;
    if (!out.write(buf)) await once(out, 'drain');
  };
  const zeros = Buffer.alloc(CHUNK);
  await put(tarHeader('data.bin', payload));
  for (let left = payload; left > 0; left -= CHUNK) {
    await put(cipher.update(left >= CHUNK ? zeros : zeros.subarray(0, left)));
  }
  const pad = (BLOCK - (payload % BLOCK)) % BLOCK;
  await put(Buffer.alloc(pad + 2 * BLOCK)); // padding, then the end-of-archive marker
  out.end();
  await once(out, 'finish');
  return { mediaType: OCI_LAYER_TAR, digest: `sha256:${hash.digest('hex')}`, size, file };
}

async function drainBody(res) {
  for await (const _ of res.body) void _;
}

/** Monolithic upload of a file or buffer: POST a session, PUT the bytes with ?digest=. */
async function pushBlob(baseUrl, repository, blob) {
  const start = await request(`${baseUrl}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  await drainBody(start);
  if (start.statusCode !== 202) throw new Error(`start upload to ${repository}: HTTP ${start.statusCode}`);
  const location = new URL(start.headers.location, baseUrl);
  location.searchParams.set('digest', blob.digest);
  const body = blob.bytes ?? createReadStream(blob.file, { highWaterMark: CHUNK });
  const put = await request(location, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) },
    body,
  });
  const text = await put.body.text();
  if (put.statusCode !== 201) throw new Error(`upload ${blob.digest} to ${repository}: HTTP ${put.statusCode} ${text.slice(0, 300)}`);
}

function jsonBlob(mediaType, doc) {
  const bytes = Buffer.from(JSON.stringify(doc));
  return { mediaType, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, size: bytes.length, bytes };
}

/**
 * Generate `layerSizes.length` random layers under `dir`, push them, the config and the manifest
 * to `<baseUrl>/<repository>:<tag>`. Returns the image description (no layer bytes in memory).
 */
async function pushRandomImage(baseUrl, dir, { repository, tag, layerSizes, seed }) {
  const layers = [];
  for (const [i, payload] of layerSizes.entries()) {
    const file = path.join(dir, `${repository.replace(/\//g, '_')}-${i}.tar`);
    const layer = await writeRandomLayer(file, payload, `${seed}/${repository}/${i}`);
    await pushBlob(baseUrl, repository, layer);
    layers.push(layer);
  }
  const config = jsonBlob(OCI_CONFIG, {
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  });
  await pushBlob(baseUrl, repository, config);
  const descriptor = (b) => ({ mediaType: b.mediaType, digest: b.digest, size: b.size });
  const manifest = jsonBlob(OCI_MANIFEST, {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptor(config),
    layers: layers.map(descriptor),
  });
  const res = await request(`${baseUrl}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': OCI_MANIFEST },
    body: manifest.bytes,
  });
  const text = await res.body.text();
  if (res.statusCode !== 201) throw new Error(`push manifest ${repository}:${tag}: HTTP ${res.statusCode} ${text.slice(0, 300)}`);
  const blobs = [config, ...layers].map((b) => ({ digest: b.digest, size: b.size, ...(b.file ? { file: b.file } : {}) }));
  return {
    repository,
    tag,
    manifestDigest: manifest.digest,
    blobs,
    layerCount: layers.length,
    /** Bytes a full pull moves: manifest + config + layers. */
    totalBytes: manifest.size + blobs.reduce((n, b) => n + b.size, 0),
  };
}

/** The bench's 60-layer image: layers of 1 to 16 `unit`s (256 KiB: 256 KiB .. 4 MiB, about 130 MiB in all). */
function sixtyLayerSizes(unit = 256 * 1024) {
  return Array.from({ length: 60 }, (_, i) => unit * (1 + ((i * 7) % 16)));
}

module.exports = { MiB, tarHeader, writeRandomLayer, pushRandomImage, sixtyLayerSizes, OCI_MANIFEST };
