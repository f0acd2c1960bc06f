import { get, type IncomingMessage } from 'node:http';
import { digestOf, MediaType } from '@pullthrough/oci';
import { faultFor, pushFixtures, startCountingProxy, startRegistry, type CountingProxy, type Fixtures, type UpstreamRegistry } from './index.js';

let registry: UpstreamRegistry;
let proxy: CountingProxy;
let fixtures: Fixtures;
let layerPath: string;
let layer: { digest: string; size: number };

beforeAll(async () => {
  registry = await startRegistry();
  fixtures = await pushFixtures(registry);
  proxy = await startCountingProxy(registry.url);
  const big = fixtures.multiLayer.blobs.filter((b) => b.mediaType !== MediaType.OciConfig).reduce((a, b) => (b.size > a.size ? b : a));
  layer = big;
  layerPath = `/v2/${fixtures.multiLayer.repository}/blobs/${big.digest}`;
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
});
beforeEach(() => {
  proxy.reset();
  proxy.setFault(null);
});

/** GET through the proxy with node:http: the declared length, the bytes received, and how the body ended. */
function fetchRaw(path: string): Promise<{ status: number; declared: number; body: Buffer; ended: 'complete' | 'aborted' | 'error' }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = get(`${proxy.url}${path}`, { agent: false }, (res: IncomingMessage) => {
      answered = true;
      const chunks: Buffer[] = [];
      let ended: 'complete' | 'aborted' | 'error' | undefined;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (ended ??= 'complete'));
      res.on('aborted', () => (ended ??= 'aborted'));
      res.on('error', () => (ended ??= 'error'));
      res.on('close', () =>
        resolve({ status: res.statusCode ?? 0, declared: Number(res.headers['content-length']), body: Buffer.concat(chunks), ended: ended ?? (res.complete ? 'complete' : 'aborted') }),
      );
    });
    req.on('error', (err) => (answered ? undefined : reject(err)));
  });
}

test('reset: half the body, then the connection is reset', async () => {
  proxy.setFault(faultFor({ kind: 'blob' }, { kind: 'reset' }));
  const res = await fetchRaw(layerPath);
  expect(res.status).toBe(200);
  expect(res.declared).toBe(layer.size);
  expect(res.body.length).toBeLessThan(layer.size);
  expect(res.ended).not.toBe('complete');
  expect(proxy.requests).toEqual([expect.objectContaining({ kind: 'blob', status: 200, faulted: true })]);
});

test('truncate: fewer bytes than Content-Length, then a clean close', async () => {
  proxy.setFault({ kind: 'truncate', afterBytes: 1000 });
  const res = await fetchRaw(layerPath);
  expect(res.declared).toBe(layer.size);
  expect(res.body.length).toBe(1000);
  expect(res.ended).not.toBe('complete');
});

test('corrupt: every byte arrives, one of them flipped', async () => {
  proxy.setFault({ kind: 'corrupt' });
  const res = await fetchRaw(layerPath);
  expect(res.ended).toBe('complete');
  expect(res.body.length).toBe(layer.size);
  expect(digestOf(res.body)).not.toBe(layer.digest);
  proxy.setFault(null);
  const clean = await fetchRaw(layerPath);
  expect(digestOf(clean.body)).toBe(layer.digest);
  const diff = [...res.body].filter((b, i) => b !== clean.body[i]).length;
  expect(diff).toBe(1);
});

test('trickle: the body arrives a few bytes per tick', async () => {
  const manifestPath = `/v2/${fixtures.small.repository}/manifests/v1`;
  proxy.setFault(faultFor({ kind: 'manifest' }, { kind: 'trickle', bytesPerTick: 64, tickMs: 20 }));
  const chunks: number[] = [];
  await new Promise<void>((resolve, reject) => {
    get(`${proxy.url}${manifestPath}`, { headers: { accept: MediaType.OciManifest } }, (res) => {
      res.on('data', (c: Buffer) => chunks.push(c.length));
      res.on('end', () => resolve());
      res.on('error', reject);
    }).on('error', reject);
  });
  expect(chunks.length).toBeGreaterThan(1);
  expect(Math.max(...chunks)).toBeLessThanOrEqual(64);
});

test('hold: the first atByte bytes arrive, the rest only once released', async () => {
  let release!: () => void;
  const until = new Promise<void>((r) => (release = r));
  proxy.setFault(faultFor({ kind: 'blob' }, { kind: 'hold', atByte: 1000, until }));
  const received: Buffer[] = [];
  let heldBytes = -1;
  const done = new Promise<void>((resolve, reject) => {
    get(`${proxy.url}${layerPath}`, { agent: false }, (res) => {
      res.on('data', (c: Buffer) => {
        received.push(c);
        const total = received.reduce((n, b) => n + b.length, 0);
        if (total === 1000 && heldBytes < 0) {
          heldBytes = total;
          // Nothing more comes while held: release after a moment and check nothing had arrived.
          setTimeout(() => {
            heldBytes = received.reduce((n, b) => n + b.length, 0);
            release();
          }, 200);
        }
      });
      res.on('end', () => resolve());
      res.on('error', reject);
    }).on('error', reject);
  });
  await done;
  expect(heldBytes).toBe(1000);
  expect(Buffer.concat(received).length).toBe(layer.size);
  expect(digestOf(Buffer.concat(received))).toBe(layer.digest);
});

test('hold with thenReset: the first atByte bytes arrive, then the connection is reset instead of the rest', async () => {
  let release!: () => void;
  const until = new Promise<void>((r) => (release = r));
  proxy.setFault(faultFor({ kind: 'blob' }, { kind: 'hold', atByte: 1000, until, thenReset: true }));
  let received = 0;
  const outcome = await new Promise<string>((resolve) => {
    get(`${proxy.url}${layerPath}`, { agent: false }, (res) => {
      res.on('data', (c: Buffer) => {
        received += c.length;
        if (received === 1000) setTimeout(release, 100);
      });
      res.on('end', () => resolve('end'));
      res.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    }).on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  expect({ outcome, received }).toEqual({ outcome: 'ECONNRESET', received: 1000 });
});

test('refuseConnections: connection refused until acceptConnections', async () => {
  await proxy.refuseConnections();
  await expect(fetch(`${proxy.url}/v2/`)).rejects.toMatchObject({ cause: expect.objectContaining({ code: 'ECONNREFUSED' }) });
  await proxy.acceptConnections();
  const res = await fetch(`${proxy.url}/v2/`);
  await res.arrayBuffer();
  expect(res.status).toBe(200);
});
