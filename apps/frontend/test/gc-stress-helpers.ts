import { randomBytes } from 'node:crypto';
import { digestOf, type Digest } from '@pullthrough/oci';
import type { StorageDriver } from '@pullthrough/storage';
import type { RegistryClient } from '@pullthrough/test-support';
import { OCI_MANIFEST, type PushClient } from './push-helpers.js';

// The pieces of the GC stress test (gc-stress.test.ts): images made of fresh and re-used blobs, a chunked
// push over raw HTTP, a pull that checks every digest, and a storage driver that records what is deleted.

const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface Blob {
  digest: Digest;
  size: number;
  bytes: Buffer;
}

export const blobOf = (bytes: Buffer): Blob => ({ digest: digestOf(bytes), size: bytes.length, bytes });
export const randomBlob = (size: number): Blob => blobOf(randomBytes(size));

/** An image as the test expects to find it: `repository` is where the cache serves it. */
export interface Image {
  repository: string;
  tag: string;
  manifest: Buffer;
  digest: Digest;
  /** Config first, then the layers. */
  blobs: Blob[];
}

/** An OCI image of a unique config and these layers. */
export function makeImage(repository: string, seed: string, layers: Blob[]): Image {
  const config = blobOf(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { seed } }, rootfs: { type: 'layers', diff_ids: [] } })));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.size })),
    }),
  );
  return { repository, tag: 'v1', manifest, digest: digestOf(manifest), blobs: [config, ...layers] };
}

/** Push an image straight into the upstream registry (not through the proxy: its counts stay the cache's). */
export async function pushUpstream(client: RegistryClient, upstreamRepository: string, image: Image): Promise<void> {
  for (const b of image.blobs) await client.pushBlob(upstreamRepository, b.bytes);
  const digest = await client.pushManifest(upstreamRepository, image.tag, image.manifest, OCI_MANIFEST);
  if (digest !== image.digest) throw new Error(`upstream stored ${upstreamRepository} as ${digest}, expected ${image.digest}`);
}

async function expectStatus(res: Response, status: number, what: string): Promise<void> {
  if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

/**
 * A chunked upload (distribution spec): POST a session, PATCH `chunks` chunks in order with
 * `pauseMs` between them (each acknowledged with the Range so far), then PUT `?digest=` with no body.
 */
export async function chunkedUpload(client: PushClient, repository: string, blob: Blob, chunks: number, pauseMs: number): Promise<void> {
  const started = await client.send('POST', `/v2/${repository}/blobs/uploads/`);
  await expectStatus(started, 202, `start an upload of ${blob.digest}`);
  let location = started.headers.get('location') ?? '';
  const step = Math.ceil(blob.size / chunks);
  for (let start = 0; start < blob.size; start += step) {
    const end = Math.min(blob.size, start + step);
    const res = await client.send('PATCH', location, { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end - 1}`, 'content-length': String(end - start) }, blob.bytes.subarray(start, end));
    if (res.headers.get('range') !== `0-${end - 1}`) throw new Error(`PATCH ${start}-${end - 1} of ${blob.digest}: ${res.status} range ${res.headers.get('range')} ${await res.text()}`);
    await expectStatus(res, 202, `PATCH ${start}-${end - 1} of ${blob.digest}`);
    location = res.headers.get('location') ?? location;
    await sleep(pauseMs);
  }
  const done = await client.send('PUT', `${location}${location.includes('?') ? '&' : '?'}digest=${blob.digest}`);
  if (done.headers.get('docker-content-digest') !== blob.digest) throw new Error(`PUT ?digest=${blob.digest}: ${done.status} ${await done.text()}`);
  await expectStatus(done, 201, `finish the upload of ${blob.digest}`);
}

/** Push an image with every blob a chunked upload (all at once, as clients do), then its manifest by tag. */
export async function chunkedPush(client: PushClient, image: Image, chunks: number, pauseMs: number): Promise<void> {
  await Promise.all(image.blobs.map((b) => chunkedUpload(client, image.repository, b, chunks, pauseMs)));
  const res = await client.send('PUT', `/v2/${image.repository}/manifests/${image.tag}`, { 'content-type': OCI_MANIFEST }, image.manifest);
  if (res.headers.get('docker-content-digest') !== image.digest) throw new Error(`PUT manifest ${image.repository}:${image.tag}: ${res.status} ${await res.text()}`);
  await expectStatus(res, 201, `PUT manifest ${image.repository}:${image.tag}`);
}

/**
 * Pull an image from the cache as a client does: the manifest by `reference` (tag or digest), then
 * every blob at once; each body must hash to its digest. Throws naming what was wrong.
 */
export async function pullImage(client: PushClient, image: Image, reference: string = image.tag): Promise<void> {
  const res = await client.send('GET', `/v2/${image.repository}/manifests/${reference}`, { accept: OCI_MANIFEST });
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200 || digestOf(body) !== image.digest) throw new Error(`GET ${image.repository}:${reference}: ${res.status} ${digestOf(body)} (expected ${image.digest}) ${body.toString().slice(0, 300)}`);
  await Promise.all(
    image.blobs.map(async (b) => {
      const got = await client.send('GET', `/v2/${image.repository}/blobs/${b.digest}`);
      const bytes = Buffer.from(await got.arrayBuffer());
      if (got.status !== 200 || digestOf(bytes) !== b.digest) throw new Error(`GET ${image.repository} blob ${b.digest}: ${got.status}, ${bytes.length} bytes hashing to ${digestOf(bytes)}`);
    }),
  );
}

/** `driver`, with every path deleted through it pushed onto `deleted` (what a collection removed). */
export function recordingDeletes(driver: StorageDriver, deleted: string[]): StorageDriver {
  return new Proxy(driver, {
    get(target, property) {
      if (property === 'delete') {
        return (path: string) => {
          deleted.push(path);
          return target.delete(path);
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
