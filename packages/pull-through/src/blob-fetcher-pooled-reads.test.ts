import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Reference } from '@pullthrough/oci';
import { BufferPool } from '@pullthrough/egress';
import { Agent, request } from 'undici';
import { readStream, startRegistry, type RegistryFixture } from '../test/registry-fixture.js';
import type { PushedImage } from '../test/tiny-upstream.js';

// Upstream bodies are read into pooled slabs (the fixture's UpstreamClientPool reads blobs with its
// PooledHttpClient): a slab is read into again only once the store's writer, the kept prefix and every
// client are done with it. These pull blobs through an HTTP server that sends them the way the
// frontend does (`sendTo(res)`: a client's slices are given back on their write callbacks) and check
// every byte each client and the store got, while slabs are being reused.
const MiB = 1024 * 1024;
const latest: Reference = { kind: 'tag', tag: 'latest' };
let f: RegistryFixture;
let server: Server;
let base: string;
let agent: Agent;

beforeEach(async () => {
  f = await startRegistry({ clientBufferBytes: 2 * MiB, clientBuffersTotalBytes: 64 * MiB });
  server = createServer((req, res) => {
    const digest = req.url!.slice(1) as PushedImage['layers'][number]['digest'];
    f.registry.openBlob('up/foo', digest).then(
      (blob) => blob.sendTo(res).catch(() => res.destroy()),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  agent = new Agent({ connections: 16 });
});

afterEach(async () => {
  await agent.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await f.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Upstream GETs of one blob (the manifest's config is fetched too, on its own). */
const layerGets = (digest: string) => f.upstream.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`)).length;

/** The stored blob's bytes, once the fetch has committed it (clients may finish before the commit). */
async function storedBytes(digest: PushedImage['layers'][number]['digest']): Promise<Buffer> {
  for (let i = 0; i < 200 && !(await f.store.statBlob(digest)); i++) await sleep(25);
  const read = await readStream(await f.store.openBlob(digest));
  expect(read.error).toBeUndefined();
  return read.bytes;
}

/** GET a blob through the server; `pauseMs` after each of the first `slowChunks` chunks. Resolves with its sha256 and size. */
async function pull(digest: string, slow?: { pauseMs: number; slowChunks: number }): Promise<{ digest: string; size: number }> {
  const res = await request(`${base}/${digest}`, { dispatcher: agent });
  expect(res.statusCode).toBe(200);
  const hash = createHash('sha256');
  let size = 0;
  let n = 0;
  for await (const chunk of res.body) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (slow && n++ < slow.slowChunks) await sleep(slow.pauseMs);
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

describe('a miss read into pooled slabs', () => {
  it('gives every client and the store the exact blob while slabs are reused, fast and slow clients alike', async () => {
    const layer = f.upstream.pushImage('foo', ['latest'], 'pooled-herd', [12 * MiB]).layers[0]!;
    await f.registry.getManifest('up/foo', latest);
    const clients = [pull(layer.digest), pull(layer.digest), pull(layer.digest, { pauseMs: 20, slowChunks: 30 }), pull(layer.digest), pull(layer.digest, { pauseMs: 5, slowChunks: 200 }), pull(layer.digest)];
    for (const got of await Promise.all(clients)) expect(got).toEqual({ digest: layer.digest, size: layer.bytes.length });
    expect(layerGets(layer.digest)).toBe(1);
    expect((await storedBytes(layer.digest)).equals(layer.bytes)).toBe(true);
    // 12 MiB in 64 KiB reads is about 190 reads: many went into a slab read into before (slow clients
    // hold theirs longer, so fewer than in a pull with one fast client).
    expect(f.pool.blobReadSlabs()!.reused).toBeGreaterThan(40);
  });

  it('stores each of many blobs fetched one after another from reused slabs byte for byte', async () => {
    const layers = f.upstream.pushImage('foo', ['latest'], 'pooled-sequence', [3 * MiB, 5 * MiB, 1 * MiB + 17, 4 * MiB - 3, 2 * MiB]).layers;
    await f.registry.getManifest('up/foo', latest);
    for (const layer of layers) expect(await pull(layer.digest)).toEqual({ digest: layer.digest, size: layer.bytes.length });
    for (const layer of layers) expect((await storedBytes(layer.digest)).equals(layer.bytes)).toBe(true);
    const slabs = f.pool.blobReadSlabs()!;
    expect(slabs.reused).toBeGreaterThan(slabs.made);
  });

  it('replays the kept first bytes intact to a client that joins late, after their slabs could have been reused', async () => {
    const layer = f.upstream.pushImage('foo', ['latest'], 'pooled-late', [6 * MiB]).layers[0]!;
    await f.registry.getManifest('up/foo', latest);
    // 128 KiB every 10 ms: the fetch is still inside its kept 2 MiB when the late client comes.
    f.upstream.blobTrickle = { bytes: 128 * 1024, everyMs: 10 };
    const first = pull(layer.digest);
    await sleep(80);
    const late = pull(layer.digest);
    for (const got of await Promise.all([first, late])) expect(got).toEqual({ digest: layer.digest, size: layer.bytes.length });
    expect(layerGets(layer.digest)).toBe(1);
    expect((await storedBytes(layer.digest)).equals(layer.bytes)).toBe(true);
    expect(f.pool.blobReadSlabs()!.reused).toBeGreaterThan(0);
  });

  it('sends clients that fell behind the rest from the stored blob in blocks read into idle 64 KiB buffers, byte for byte', async () => {
    await f.close();
    // The store's own pool, holding idle 64 KiB buffers as a fetch's slabs are left once it ended (its idle time long,
    // so none goes while the slow clients pause); read sizes of a herd (up to 1 MiB).
    const buffers = new BufferPool(64 * MiB, { idleMs: 60_000, releasableFrom: 128 * 1024 });
    const idle = Array.from({ length: 320 }, () => buffers.acquire(64 * 1024));
    idle.forEach((slab) => buffers.release(slab));
    f = await startRegistry({ clientBufferBytes: 2 * MiB, clientBuffersTotalBytes: 64 * MiB, buffers, storeReads: { budget: 2 * MiB, min: 64 * 1024, max: MiB } });
    const layer = f.upstream.pushImage('foo', ['latest'], 'pooled-resume', [12 * MiB]).layers[0]!;
    await f.registry.getManifest('up/foo', latest);
    const clients = [pull(layer.digest), pull(layer.digest, { pauseMs: 20, slowChunks: 30 }), pull(layer.digest, { pauseMs: 30, slowChunks: 25 })];
    for (const got of await Promise.all(clients)) expect(got).toEqual({ digest: layer.digest, size: layer.bytes.length });
    expect(layerGets(layer.digest)).toBe(1);
    expect(f.driver.sharedReads.inParts).toBeGreaterThan(0);
    expect(buffers.made).toBe(320); // every block the slow clients were sent was read into the idle buffers
    expect(f.driver.sharedReads.held).toBe(0);
  });

  it('leaves nothing held when a client goes away mid-blob: the others and the store still get it whole', async () => {
    const layer = f.upstream.pushImage('foo', ['latest'], 'pooled-gone', [8 * MiB]).layers[0]!;
    await f.registry.getManifest('up/foo', latest);
    const leaving = (async () => {
      const res = await request(`${base}/${layer.digest}`, { dispatcher: agent });
      let seen = 0;
      for await (const chunk of res.body) {
        seen += (chunk as Buffer).length;
        if (seen > MiB) {
          res.body.destroy();
          break;
        }
        await sleep(2);
      }
      return seen;
    })();
    const staying = [pull(layer.digest), pull(layer.digest, { pauseMs: 10, slowChunks: 20 })];
    expect(await leaving).toBeGreaterThan(MiB);
    for (const got of await Promise.all(staying)) expect(got).toEqual({ digest: layer.digest, size: layer.bytes.length });
    expect((await storedBytes(layer.digest)).equals(layer.bytes)).toBe(true);
  });
});
