import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createTlsCertificate, pseudoRandomBytes, tempDir, type TempDir } from '@pullthrough/test-support';
import { EgressDeniedError } from './egress-denied-error.js';
import { EgressPolicy } from './egress-policy.js';
import { InvalidResponseError } from './http1-response-parser.js';
import type { PooledBody } from './pooled-body.js';
import { PooledHttpClient, type PooledHttpOptions, type PooledResponse } from './pooled-http-client.js';

jest.setTimeout(20_000);

type CodedError = Error & { code?: string };

const MiB = 1024 * 1024;
const BIG = 32 * MiB;
let big: Buffer;
/** The body of /many-chunks: 3000 chunks of 97 bytes. */
const manyChunks = Buffer.from(Array.from({ length: 3000 * 97 }, (_, i) => (i * 31 + (i >> 8)) & 0xff));
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const tick = (ms = 10) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await tick(5);
  }
}

// ---------------------------------------------------------------------------------------------
// node:http server (well-formed responses)

interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}
let http: Server;
let httpPort: number;
let httpConnections = 0;
let httpCloses = 0;
const httpRequests: SeenRequest[] = [];
const parked: ServerResponse[] = [];

function httpHandler(req: import('node:http').IncomingMessage, res: ServerResponse): void {
  httpRequests.push({ method: req.method!, url: req.url!, headers: req.headers });
  const url = new URL(req.url!, 'http://x');
  switch (url.pathname) {
    case '/big':
      res.writeHead(200, { 'content-length': String(BIG), 'content-type': 'application/octet-stream' });
      res.end(big);
      return;
    case '/sized': {
      const n = Number(url.searchParams.get('n'));
      res.writeHead(200, { 'content-length': String(n) });
      res.end(big.subarray(0, n));
      return;
    }
    case '/small':
      res.writeHead(200, { 'content-length': '5', 'x-route': 'small' });
      res.end('hello');
      return;
    case '/close':
      res.writeHead(200, { 'content-length': '5', connection: 'close' });
      res.end('bye!!');
      return;
    case '/chunked': {
      // No content-length: node frames this with chunked Transfer-Encoding.
      const parts = [Buffer.from('alpha-'), big.subarray(0, 100_000), Buffer.from('-middle-'), big.subarray(100_000, 300_000), Buffer.from('-omega')];
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      void (async () => {
        for (const p of parts) {
          res.write(p);
          await tick(5);
        }
        res.end();
      })();
      return;
    }
    case '/many-chunks': {
      // Thousands of small chunks written at once: over TLS many records arrive in one TCP read.
      res.writeHead(200, { 'content-type': 'application/octet-stream', ...(url.searchParams.has('close') ? { connection: 'close' } : {}) });
      for (let i = 0; i < 3000; i++) res.write(manyChunks.subarray(i * 97, (i + 1) * 97));
      res.end();
      return;
    }
    case '/head':
      res.writeHead(200, { 'content-length': '1234', 'x-route': 'head' });
      res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(1234, 7));
      return;
    case '/204':
      res.writeHead(204, { 'x-route': '204' });
      res.end();
      return;
    case '/echo': {
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    case '/never':
      parked.push(res); // answered never (connections are closed in afterAll)
      return;
    case '/burst-then-stall':
      // 2 MiB of a promised 4 MiB at once, then nothing.
      res.writeHead(200, { 'content-length': String(4 * MiB) });
      res.write(big.subarray(0, 2 * MiB));
      parked.push(res);
      return;
    case '/stall':
      res.writeHead(200, { 'content-length': '100' });
      res.flushHeaders();
      parked.push(res);
      return;
    default:
      res.writeHead(404, { 'content-length': '0' });
      res.end();
  }
}

// ---------------------------------------------------------------------------------------------
// node:net server writing raw bytes (edge and malformed responses). One request at a time per
// connection; a route returns and the connection stays open for the next request unless it ends it.

interface RawRequest {
  method: string;
  path: string;
  head: string;
}
type RawRoute = (socket: Socket, req: RawRequest) => Promise<void> | void;
let raw: NetServer;
let rawPort: number;
let rawConnections = 0;
let rawCloses = 0;
const rawSockets = new Set<Socket>();
const rawRequests: RawRequest[] = [];

async function writeSlowly(socket: Socket, pieces: Array<string | Buffer>, gapMs = 10): Promise<void> {
  for (const p of pieces) {
    if (socket.destroyed) return;
    socket.write(p);
    await tick(gapMs);
  }
}

const rawRoutes: Record<string, RawRoute> = {
  '/raw-ok': (s) => void s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
  '/proto-header': (s) => void s.write('HTTP/1.1 200 OK\r\n__proto__: a\r\n__proto__: b\r\nconstructor: c\r\nContent-Length: 2\r\n\r\nok'),
  '/switching': (s) => void s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
  '/many-interim': (s) => void s.write(`${'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n'.repeat(11)}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`),
  '/long-trailers': (s) => void s.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n${'x-t: 0123456789012345678901234567890123456789\r\n'.repeat(400)}\r\n`),
  '/vt-length': (s) => void s.write('HTTP/1.1 200 OK\r\nContent-Length: \x0b2\r\n\r\nok'),
  '/split-chunked': (s) =>
    writeSlowly(s, [
      'HTTP/1.1 200 OK\r\nTransfer-Enc',
      'oding: chunked\r\nX-Split: yes\r\n\r',
      '\n1',
      '0\r',
      '\n',
      '0123456789abcdef',
      '\r',
      '\na',
      '\r\n',
      'ABCDE',
      'FGHIJ',
      '\r\n',
      '3\r\nxyz\r\n0',
      '\r',
      '\n',
      '\r',
      '\n',
    ]),
  '/ext-trailers': (s) =>
    writeSlowly(s, [
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n',
      '5;name=value\r\nhello\r\n',
      '6 ;foo="bar";baz\r\n world\r\n',
      '0;last\r\nX-Trailer: yes\r\n',
      'X-Other: 2\r\n\r\n',
    ]),
  '/http10-close': async (s) => {
    await writeSlowly(s, ['HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n', big.subarray(0, 50_000), big.subarray(50_000, 200_000), big.subarray(200_000, 300_000)], 5);
    s.end();
  },
  '/http11-close': async (s) => {
    await writeSlowly(s, ['HTTP/1.1 200 OK\r\n\r\n', 'part one, ', 'part two'], 5);
    s.end();
  },
  '/early-hints': (s) =>
    writeSlowly(s, [
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: yes\r\n\r\nhello',
    ]),
  '/304': (s) => void s.write('HTTP/1.1 304 Not Modified\r\nETag: "abc"\r\nContent-Length: 1234\r\n\r\n'),
  '/bad-status': (s) => void s.write('HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok'),
  '/no-colon': (s) => void s.write('HTTP/1.1 200 OK\r\nContent-Length 5\r\n\r\nhello'),
  '/cl-and-te': (s) => void s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'),
  '/dup-cl': (s) => void s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'),
  '/dup-cl-same': (s) => void s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello'),
  '/gzip-te': (s) => void s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'),
  '/big-head': (s) => void s.write(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(8000)}\r\nContent-Length: 2\r\n\r\nok`),
  '/endless-head': (s) => writeSlowly(s, Array.from({ length: 20 }, (_, i) => `X-Line-${i}: ${'b'.repeat(500)}\r\n`).map((l, i) => (i === 0 ? `HTTP/1.1 200 OK\r\n${l}` : l)), 2),
  '/bad-chunk-one-write': (s) => void s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'),
  '/bad-chunk': (s) => writeSlowly(s, ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', '5\r\nhello\r\n', 'zz\r\nhello\r\n0\r\n\r\n']),
  '/truncated': async (s) => {
    await writeSlowly(s, ['HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n', '0123456789']);
    s.end();
  },
  '/close-before-head': (s) => void s.end(),
  '/close-inside-head': async (s) => {
    await writeSlowly(s, ['HTTP/1.1 200 OK\r\nContent-Le']);
    s.end();
  },
  // Many small chunks in one write, then the next request is answered on the same connection.
  '/many-chunks': (s) => {
    let out = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
    for (let i = 0; i < 40; i++) out += `a\r\nchunk-${String(i).padStart(4, '0')}\r\n`; // 10 bytes each
    s.write(`${out}0\r\n\r\n`);
  },
};

// ---------------------------------------------------------------------------------------------
// node:https server

let tlsDir: TempDir;
let tlsCert: string;
let https: HttpsServer;
let httpsPort: number;

const policy = new EgressPolicy({ allow: '127.0.0.1' });
const clients: PooledHttpClient[] = [];
function newClient(options: PooledHttpOptions = {}, withPolicy: EgressPolicy = policy): PooledHttpClient {
  const c = new PooledHttpClient(withPolicy, options);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  big = pseudoRandomBytes(BIG, 'pooled-http-client');

  http = createServer(httpHandler);
  http.on('connection', (socket: Socket) => {
    httpConnections++;
    socket.on('close', () => httpCloses++);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  httpPort = (http.address() as AddressInfo).port;

  raw = createNetServer((socket) => {
    rawConnections++;
    rawSockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    socket.on('close', () => {
      rawCloses++;
      rawSockets.delete(socket);
    });
    let buffered = '';
    let busy = false;
    const pump = async () => {
      while (!busy) {
        const i = buffered.indexOf('\r\n\r\n');
        if (i < 0) return;
        const head = buffered.slice(0, i);
        buffered = buffered.slice(i + 4);
        const [method = '', path = ''] = head.split('\r\n')[0]!.split(' ');
        const req = { method, path, head };
        rawRequests.push(req);
        const route = rawRoutes[path.split('?')[0]!] ?? ((s: Socket) => void s.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
        busy = true;
        try {
          await route(socket, req);
        } finally {
          busy = false;
        }
      }
    };
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      void pump();
    });
  });
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  rawPort = (raw.address() as AddressInfo).port;

  tlsDir = await tempDir('pooled-http-tls-');
  const tls = await createTlsCertificate(tlsDir.path);
  tlsCert = tls.cert;
  https = createHttpsServer({ key: tls.key, cert: tls.cert }, httpHandler);
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  httpsPort = (https.address() as AddressInfo).port;
}, 60_000);

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
});

afterAll(async () => {
  for (const res of parked.splice(0)) res.destroy();
  for (const s of rawSockets) s.destroy();
  http.closeAllConnections();
  https.closeAllConnections();
  await Promise.all([
    new Promise<void>((r) => http.close(() => r())),
    new Promise<void>((r) => https.close(() => r())),
    new Promise<void>((r) => raw.close(() => r())),
  ]);
  await tlsDir?.remove();
});

const H = (path: string) => `http://127.0.0.1:${httpPort}${path}`;
const R = (path: string) => `http://127.0.0.1:${rawPort}${path}`;

/** Read a body to its end (releasing every chunk unless told not to), or to its error. */
async function consume(body: PooledBody, options: { release?: boolean } = {}): Promise<{ data: Buffer; chunks: number; error?: CodedError }> {
  const parts: Buffer[] = [];
  let chunks = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks++;
      parts.push(options.release === false ? chunk : Buffer.from(chunk));
      if (options.release !== false) body.release(chunk);
    }
    return { data: Buffer.concat(parts), chunks };
  } catch (err) {
    return { data: Buffer.concat(parts), chunks, error: err as CodedError };
  }
}

/** The error of a request: from the request itself or, when its head was fine, from its body. */
async function failure(p: Promise<PooledResponse>): Promise<{ stage: 'request' | 'body'; error: CodedError }> {
  let res: PooledResponse;
  try {
    res = await p;
  } catch (err) {
    return { stage: 'request', error: err as CodedError };
  }
  const { error, data } = await consume(res.body);
  if (!error) throw new Error(`expected a failure, got status ${res.statusCode} and ${data.length} body bytes`);
  return { stage: 'body', error };
}

// =============================================================================================

describe('large bodies', () => {
  it('GET of 32 MiB with Content-Length: every byte in order, and released chunks keep the slab count small', async () => {
    const client = newClient();
    const res = await client.request(H('/big'));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe(String(BIG));
    const hash = createHash('sha256');
    let bytes = 0;
    let notLent = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (!client.pool.isHeld(chunk)) notLent++;
      expect(chunk.length).toBeLessThanOrEqual(client.pool.slabSize);
      hash.update(chunk);
      bytes += chunk.length;
      res.body.release(chunk);
    }
    expect(bytes).toBe(BIG);
    expect(hash.digest('hex')).toBe(sha256(big));
    expect(notLent).toBe(0);
    expect(client.pool.made).toBeLessThan(40);
    // Every read is at most one 64 KiB slab: at least 512 reads, nearly all into reused slabs.
    expect(client.pool.made + client.pool.reused).toBeGreaterThanOrEqual(BIG / client.pool.slabSize);
    expect(client.pool.reused).toBeGreaterThan(400);
  });

  it('chunks that are never released are never overwritten (slabs are not reused under a held view)', async () => {
    const client = newClient();
    const n = 4 * MiB;
    const res = await client.request(H(`/sized?n=${n}`));
    const { data, error } = await consume(res.body, { release: false });
    expect(error).toBeUndefined();
    expect(data.length).toBe(n);
    expect(sha256(data)).toBe(sha256(big.subarray(0, n)));
    // Nothing was released, so no slab could be reused.
    expect(client.pool.reused).toBe(0);
  });

  it('GET of 16 MiB over TLS (https server, private CA): body intact', async () => {
    const client = newClient({ tls: { ca: tlsCert } });
    const n = 16 * MiB;
    const res = await client.request(`https://127.0.0.1:${httpsPort}/sized?n=${n}`);
    expect(res.statusCode).toBe(200);
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      res.body.release(chunk);
    }
    expect(bytes).toBe(n);
    expect(hash.digest('hex')).toBe(sha256(big.subarray(0, n)));
    expect(client.pool.made).toBeLessThan(40);
  });

  it('TLS without the private CA is refused (certificate verified)', async () => {
    const client = newClient();
    await expect(client.request(`https://127.0.0.1:${httpsPort}/small`)).rejects.toMatchObject({ code: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY/) });
  });

  it('backpressure: a slow reader still gets every byte, and reading pauses instead of filling slabs', async () => {
    const client = newClient();
    const n = 8 * MiB;
    const res = await client.request(H(`/sized?n=${n}`));
    const hash = createHash('sha256');
    let bytes = 0;
    let chunks = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      res.body.release(chunk);
      if (++chunks % 4 === 0) await tick(3);
    }
    expect(bytes).toBe(n);
    expect(hash.digest('hex')).toBe(sha256(big.subarray(0, n)));
    // 8 MiB is at least 128 full slabs: a reader that did not pause the socket would hold far more.
    expect(client.pool.made).toBeLessThan(40);
  });

  it('a reader that stops reading for longer than bodyTimeoutMs is not timed out (the timer runs only while the reader wants bytes)', async () => {
    const client = newClient({ bodyTimeoutMs: 300 });
    const n = 8 * MiB;
    const res = await client.request(H(`/sized?n=${n}`));
    const hash = createHash('sha256');
    let bytes = 0;
    let first = true;
    let error: CodedError | undefined;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.length;
        res.body.release(chunk);
        if (first) {
          first = false;
          await tick(900); // the body is paused by backpressure meanwhile: the server has more to send
        }
      }
    } catch (err) {
      error = err as CodedError;
    }
    expect(error?.code).toBeUndefined();
    expect(bytes).toBe(n);
    expect(hash.digest('hex')).toBe(sha256(big.subarray(0, n)));
  });
});

describe('framing', () => {
  it('chunked Transfer-Encoding from node:http (several writes, no content-length): body intact', async () => {
    const client = newClient();
    const res = await client.request(H('/chunked'));
    expect(res.statusCode).toBe(200);
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.headers['content-length']).toBeUndefined();
    const { data, error } = await consume(res.body);
    expect(error).toBeUndefined();
    const expected = Buffer.concat([Buffer.from('alpha-'), big.subarray(0, 100_000), Buffer.from('-middle-'), big.subarray(100_000, 300_000), Buffer.from('-omega')]);
    expect(data.length).toBe(expected.length);
    expect(data.equals(expected)).toBe(true);
  });

  it('raw chunked response with head and chunk-size lines split across TCP writes', async () => {
    const client = newClient();
    const res = await client.request(R('/split-chunked'));
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-split']).toBe('yes');
    const { data, error } = await consume(res.body);
    expect(error).toBeUndefined();
    expect(data.toString('latin1')).toBe('0123456789abcdefABCDEFGHIJxyz');
  });

  it('chunk extensions and trailers are accepted and not part of the body', async () => {
    const client = newClient();
    const res = await client.request(R('/ext-trailers'));
    const { data, error } = await consume(res.body);
    expect(error).toBeUndefined();
    expect(data.toString('latin1')).toBe('hello world');
    expect(res.headers['x-trailer']).toBeUndefined();
  });

  it('HTTP/1.0 body framed by the connection close: body intact', async () => {
    const client = newClient();
    const res = await client.request(R('/http10-close'));
    expect(res.statusCode).toBe(200);
    const { data, error } = await consume(res.body);
    expect(error).toBeUndefined();
    expect(data.length).toBe(300_000);
    expect(data.equals(big.subarray(0, 300_000))).toBe(true);
  });

  it('HTTP/1.1 response with neither length nor chunking is framed by the close', async () => {
    const client = newClient();
    const res = await client.request(R('/http11-close'));
    const { data, error } = await consume(res.body);
    expect(error).toBeUndefined();
    expect(data.toString()).toBe('part one, part two');
  });

  it('identical duplicate Content-Length values are accepted', async () => {
    const client = newClient();
    const res = await client.request(R('/dup-cl-same'));
    expect((await consume(res.body)).data.toString()).toBe('hello');
  });

  it('HEAD: no body even with a Content-Length, the stream ends, and the connection serves the next request', async () => {
    const client = newClient();
    const before = httpConnections;
    const res = await client.request(H('/head'), { method: 'HEAD' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe('1234');
    const { data, chunks, error } = await consume(res.body);
    expect(error).toBeUndefined();
    expect(chunks).toBe(0);
    expect(data.length).toBe(0);
    expect(res.body.readableEnded).toBe(true);
    const next = await client.request(H('/head'));
    const got = await consume(next.body);
    expect(got.data.equals(Buffer.alloc(1234, 7))).toBe(true);
    expect(httpConnections - before).toBe(1);
    expect(httpRequests.at(-2)?.method).toBe('HEAD');
  });

  it('204: no body, the stream ends', async () => {
    const client = newClient();
    const res = await client.request(H('/204'));
    expect(res.statusCode).toBe(204);
    expect(res.headers['x-route']).toBe('204');
    const { data, chunks, error } = await consume(res.body);
    expect(error).toBeUndefined();
    expect(chunks).toBe(0);
    expect(data.length).toBe(0);
    expect(res.body.readableEnded).toBe(true);
  });

  it('304 with a Content-Length: no body, the stream ends, and the connection is kept', async () => {
    const client = newClient();
    const before = rawConnections;
    const res = await client.request(R('/304'));
    expect(res.statusCode).toBe(304);
    expect(res.headers.etag).toBe('"abc"');
    const { chunks, error } = await consume(res.body);
    expect(error).toBeUndefined();
    expect(chunks).toBe(0);
    expect(res.body.readableEnded).toBe(true);
    const next = await client.request(R('/raw-ok'));
    expect((await consume(next.body)).data.toString()).toBe('ok');
    expect(rawConnections - before).toBe(1);
  });

  it('1xx interim responses (100, 103 Early Hints) are skipped', async () => {
    const client = newClient();
    const res = await client.request(R('/early-hints'));
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-final']).toBe('yes');
    expect(res.headers.link).toBeUndefined();
    expect((await consume(res.body)).data.toString()).toBe('hello');
  });
});

describe('connection reuse', () => {
  it('two sequential GETs to one origin share one TCP connection once the first body was read', async () => {
    const client = newClient();
    const before = httpConnections;
    const first = await client.request(H('/small'));
    expect((await consume(first.body)).data.toString()).toBe('hello');
    const second = await client.request(H('/small'));
    expect((await consume(second.body)).data.toString()).toBe('hello');
    // A chunked response leaves the connection reusable too.
    const third = await client.request(H('/chunked'));
    expect((await consume(third.body)).error).toBeUndefined();
    const fourth = await client.request(H('/small'));
    expect((await consume(fourth.body)).data.toString()).toBe('hello');
    expect(httpConnections - before).toBe(1);
  });

  it('a response with connection: close is not reused', async () => {
    const client = newClient();
    const before = httpConnections;
    const first = await client.request(H('/close'));
    expect((await consume(first.body)).data.toString()).toBe('bye!!');
    const second = await client.request(H('/small'));
    expect((await consume(second.body)).data.toString()).toBe('hello');
    expect(httpConnections - before).toBe(2);
  });

  it('the connection is reused after a chunked body whose many chunks arrived in one read while the reader was not reading', async () => {
    const client = newClient({ headersTimeoutMs: 3000 });
    const before = rawConnections;
    const first = await client.request(R('/many-chunks'));
    await tick(100); // every chunk is in; the body's buffer (16 chunks) is full and reading paused
    const { data, error } = await consume(first.body);
    expect(error).toBeUndefined();
    expect(data.toString()).toBe(Array.from({ length: 40 }, (_, i) => `chunk-${String(i).padStart(4, '0')}`).join(''));
    const requestsBefore = rawRequests.length;
    const second = await failureOr(client.request(R('/raw-ok')));
    // The server did receive (and answer) the second request on the kept connection.
    expect(rawRequests.length - requestsBefore).toBe(1);
    expect(second.error?.code).toBeUndefined();
    expect(second.text).toBe('ok');
    expect(rawConnections - before).toBe(1);
  });

  it('destroying the body mid-way closes the connection; the next request works on a new connection', async () => {
    const client = newClient();
    const connectionsBefore = httpConnections;
    const closesBefore = httpCloses;
    const res = await client.request(H('/big'));
    let seen = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      seen += chunk.length;
      res.body.release(chunk);
      if (seen > MiB) break; // leaving the loop destroys the body
    }
    expect(res.body.destroyed).toBe(true);
    expect(seen).toBeLessThan(BIG);
    await waitFor('the server to see the connection close', () => httpCloses > closesBefore);
    const next = await client.request(H('/small'));
    expect((await consume(next.body)).data.toString()).toBe('hello');
    expect(httpConnections - connectionsBefore).toBe(2);
  });

  it('body.dump() past its limit abandons the connection; below it, keeps it', async () => {
    const client = newClient();
    const before = httpConnections;
    const small = await client.request(H('/sized?n=1000'));
    await small.body.dump();
    const again = await client.request(H('/small'));
    expect((await consume(again.body)).data.toString()).toBe('hello');
    expect(httpConnections - before).toBe(1);
    const large = await client.request(H('/big'));
    await large.body.dump({ limit: 128 * 1024 });
    expect(large.body.destroyed).toBe(true);
    const after = await client.request(H('/small'));
    expect((await consume(after.body)).data.toString()).toBe('hello');
    expect(httpConnections - before).toBe(2);
  });
});

/** A response's body text, or the error of the request or its body. */
async function failureOr(p: Promise<PooledResponse>): Promise<{ text?: string; error?: CodedError }> {
  try {
    const res = await p;
    const { data, error } = await consume(res.body);
    return error ? { error } : { text: data.toString() };
  } catch (err) {
    return { error: err as CodedError };
  }
}

describe('malformed responses', () => {
  // Either the request rejects or (head delivered first) its body is destroyed, with InvalidResponseError;
  // never an 'error' the caller had no chance to listen for (jest reports that as "Unhandled error").
  it.each([
    ['bad status line', '/bad-status'],
    ['header line without a colon', '/no-colon'],
    ['both Content-Length and Transfer-Encoding', '/cl-and-te'],
    ['conflicting duplicate Content-Length', '/dup-cl'],
    ['unknown transfer coding', '/gzip-te'],
  ])('%s: InvalidResponseError (request or body), no unhandled error, and the connection is closed', async (_what, path) => {
    const client = newClient();
    const closesBefore = rawCloses;
    const { error } = await failure(client.request(R(path)));
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect(error.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
    await waitFor('the server to see the connection close', () => rawCloses > closesBefore);
  });

  it('a head larger than maxHeadBytes rejects', async () => {
    const client = newClient({ maxHeadBytes: 4096 });
    const { stage, error } = await failure(client.request(R('/big-head')));
    expect(stage).toBe('request');
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect(error.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
    expect(error.message).toMatch(/head larger than 4096/);
  });

  it('a head that keeps growing past maxHeadBytes (never terminated) rejects without waiting for its end', async () => {
    const client = newClient({ maxHeadBytes: 4096, headersTimeoutMs: 5000 });
    const started = Date.now();
    const { stage, error } = await failure(client.request(R('/endless-head')));
    expect(stage).toBe('request');
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('the default maxHeadBytes (64 KiB) accepts an 8 KB header', async () => {
    const client = newClient();
    const res = await client.request(R('/big-head'));
    expect(res.headers['x-big']).toBe('a'.repeat(8000));
    expect((await consume(res.body)).data.toString()).toBe('ok');
  });

  it('a bad chunk size in the same TCP read as the head: InvalidResponseError (request or body), no unhandled error', async () => {
    const client = newClient();
    const { error } = await failure(client.request(R('/bad-chunk-one-write')));
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect(error.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
  });

  it('a bad chunk size destroys the body with InvalidResponseError after the good chunk', async () => {
    const client = newClient();
    const res = await client.request(R('/bad-chunk'));
    expect(res.statusCode).toBe(200);
    const { data, error } = await consume(res.body);
    expect(data.toString()).toBe('hello');
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect(error?.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
  });
});

describe('truncation', () => {
  it('Content-Length 1000 but 10 bytes and a close: the body errors with UND_ERR_RES_CONTENT_LENGTH_MISMATCH', async () => {
    const client = newClient();
    const res = await client.request(R('/truncated'));
    expect(res.statusCode).toBe(200);
    const { data, error } = await consume(res.body);
    expect(data.toString()).toBe('0123456789');
    expect(error?.code).toBe('UND_ERR_RES_CONTENT_LENGTH_MISMATCH');
  });

  it('connection closed before the head: the request rejects with UND_ERR_SOCKET', async () => {
    const client = newClient();
    await expect(client.request(R('/close-before-head'))).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
  });

  it('connection closed inside the head: the request rejects with UND_ERR_SOCKET', async () => {
    const client = newClient();
    await expect(client.request(R('/close-inside-head'))).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
  });
});

describe('timeouts and abort', () => {
  it('headersTimeoutMs: a server that never answers rejects with UND_ERR_HEADERS_TIMEOUT', async () => {
    const client = newClient({ headersTimeoutMs: 200 });
    const started = Date.now();
    await expect(client.request(H('/never'))).rejects.toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT' });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(150);
    expect(took).toBeLessThan(5000);
  });

  it('bodyTimeoutMs: a head then nothing errors the body with UND_ERR_BODY_TIMEOUT', async () => {
    const client = newClient({ bodyTimeoutMs: 200 });
    const res = await client.request(H('/stall'));
    expect(res.statusCode).toBe(200);
    const started = Date.now();
    const { error } = await consume(res.body);
    expect(error?.code).toBe('UND_ERR_BODY_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('aborting while waiting for the head rejects with UND_ERR_ABORTED', async () => {
    const client = newClient();
    const ac = new AbortController();
    const requestsBefore = httpRequests.length;
    const p = client.request(H('/never'), { signal: ac.signal });
    await waitFor('the server to receive the request', () => httpRequests.length > requestsBefore);
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'UND_ERR_ABORTED' });
  });

  it('aborting right after the call (while connecting) rejects the request', async () => {
    const client = newClient({ headersTimeoutMs: 3000 });
    const ac = new AbortController();
    const p = failureOr(client.request(H('/small'), { signal: ac.signal }));
    ac.abort();
    const { text, error } = await p;
    expect(text).toBeUndefined();
    expect(error?.code === 'UND_ERR_ABORTED' || error?.name === 'AbortError').toBe(true);
  });

  it('an already aborted signal rejects before anything is sent', async () => {
    const client = newClient();
    const before = httpConnections;
    await expect(client.request(H('/small'), { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'UND_ERR_ABORTED' });
    await tick(50);
    expect(httpConnections).toBe(before);
  });

  it('aborting during the body errors the body', async () => {
    const client = newClient();
    const ac = new AbortController();
    const res = await client.request(H('/big'), { signal: ac.signal });
    let seen = 0;
    let error: CodedError | undefined;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        seen += chunk.length;
        res.body.release(chunk);
        if (seen > MiB && !ac.signal.aborted) ac.abort();
      }
    } catch (err) {
      error = err as CodedError;
    }
    expect(error?.code).toBe('UND_ERR_ABORTED');
    expect(seen).toBeLessThan(BIG);
  });
});

describe('request validation', () => {
  it.each<[string, Record<string, string>]>([
    ['a value with CRLF', { 'x-evil': 'a\r\nx-injected: 1' }],
    ['a value with a bare LF', { 'x-evil': 'a\nb' }],
    ['a value with NUL', { 'x-evil': 'a\0b' }],
    ['host', { host: 'elsewhere.example' }],
    ['Host (any case)', { Host: 'elsewhere.example' }],
    ['connection', { connection: 'close' }],
    ['transfer-encoding', { 'transfer-encoding': 'chunked' }],
    ['content-length', { 'content-length': '5' }],
    ['a header name with a space', { 'bad name': 'x' }],
    ['a header name with a colon', { 'x:y': 'x' }],
    ['an empty header name', { '': 'x' }],
  ])('%s throws TypeError and nothing is sent', async (_what, headers) => {
    const client = newClient();
    const connections = httpConnections;
    const requests = httpRequests.length;
    await expect(client.request(H('/echo'), { headers })).rejects.toThrow(TypeError);
    await tick(30);
    expect(httpConnections).toBe(connections);
    expect(httpRequests.length).toBe(requests);
  });

  it('a URL with credentials throws TypeError and nothing is sent', async () => {
    const client = newClient();
    const connections = httpConnections;
    await expect(client.request(`http://u:p@127.0.0.1:${httpPort}/small`)).rejects.toThrow(TypeError);
    await expect(client.request(`http://u@127.0.0.1:${httpPort}/small`)).rejects.toThrow(TypeError);
    await tick(30);
    expect(httpConnections).toBe(connections);
  });

  it('an ftp: URL throws TypeError', async () => {
    const client = newClient();
    await expect(client.request('ftp://127.0.0.1/file')).rejects.toThrow(TypeError);
  });

  it('the server receives the method, path with query, host header and custom headers asked for', async () => {
    const client = newClient();
    const res = await client.request(H('/echo?a=1&b=two%20words'), { headers: { 'x-custom': 'v1', Accept: 'application/json', 'user-agent': 'pooled-test' } });
    const seen = JSON.parse((await consume(res.body)).data.toString()) as SeenRequest;
    expect(seen.method).toBe('GET');
    expect(seen.url).toBe('/echo?a=1&b=two%20words');
    expect(seen.headers.host).toBe(`127.0.0.1:${httpPort}`);
    expect(seen.headers['x-custom']).toBe('v1');
    expect(seen.headers.accept).toBe('application/json');
    expect(seen.headers['user-agent']).toBe('pooled-test');
    expect(seen.headers['content-length']).toBeUndefined();
    expect(seen.headers['transfer-encoding']).toBeUndefined();

    const head = await client.request(H('/echo?x=y'), { method: 'HEAD' });
    await consume(head.body);
    expect(httpRequests.at(-1)).toMatchObject({ method: 'HEAD', url: '/echo?x=y' });
  });

  it('the request line on the wire is exactly "GET <path?query> HTTP/1.1" with a host header', async () => {
    const client = newClient();
    const res = await client.request(R('/raw-ok?q=1&r=%2F'), { headers: { 'X-Case': 'Kept' } });
    expect((await consume(res.body)).data.toString()).toBe('ok');
    const req = rawRequests.at(-1)!;
    const lines = req.head.split('\r\n');
    expect(lines[0]).toBe('GET /raw-ok?q=1&r=%2F HTTP/1.1');
    expect(lines.map((l) => l.toLowerCase())).toContain(`host: 127.0.0.1:${rawPort}`);
    expect(lines).toContain('x-case: Kept');
  });
});

describe('egress policy', () => {
  it('a policy that refuses loopback rejects an IP-literal URL with EgressDeniedError; the server sees no connection', async () => {
    const client = newClient({}, new EgressPolicy());
    const before = httpConnections;
    const err = await client.request(H('/small')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EgressDeniedError);
    expect((err as EgressDeniedError).code).toBe('EGRESS_DENIED');
    expect((err as EgressDeniedError).detail).toMatchObject({ host: '127.0.0.1', address: '127.0.0.1', port: httpPort, addressCategory: 'loopback' });
    await tick(50);
    expect(httpConnections).toBe(before);
  });

  it('a name is resolved through the policy: localhost -> 127.0.0.1 is refused; the server sees no connection', async () => {
    const asked: string[] = [];
    const refusing = new EgressPolicy({ resolve: async (h) => (asked.push(h), h === 'localhost' ? ['127.0.0.1'] : []) });
    const client = newClient({}, refusing);
    const before = httpConnections;
    const err = await client.request(`http://localhost:${httpPort}/small`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EgressDeniedError);
    expect((err as EgressDeniedError).detail).toMatchObject({ host: 'localhost', address: '127.0.0.1', addressCategory: 'loopback' });
    expect(asked).toContain('localhost');
    await tick(50);
    expect(httpConnections).toBe(before);
  });

  it('localhost with the system resolver and no allow-list is refused too', async () => {
    const client = newClient({}, new EgressPolicy());
    const before = httpConnections;
    const err = await client.request(`http://localhost:${httpPort}/small`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EgressDeniedError);
    await tick(50);
    expect(httpConnections).toBe(before);
  });

  it('an allowed name is dialled at the address the policy resolved', async () => {
    const named = new EgressPolicy({ allow: '127.0.0.1', resolve: async (h) => (h === 'upstream.test' ? ['127.0.0.1'] : []) });
    const client = newClient({}, named);
    const res = await client.request(`http://upstream.test:${httpPort}/echo`);
    const seen = JSON.parse((await consume(res.body)).data.toString()) as SeenRequest;
    expect(seen.headers.host).toBe(`upstream.test:${httpPort}`);
  });
});

describe('review fixes (nineteenth session)', () => {
  /** Read a body slowly (a turn of the event loop per chunk, like a disk writer), releasing each chunk. */
  async function readSlowly(body: PooledBody): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Buffer>) {
      parts.push(Buffer.from(chunk));
      body.release(chunk);
      await new Promise((r) => setImmediate(r));
    }
    return Buffer.concat(parts);
  }

  it('TLS, chunked, a slow reader: every byte in order (records decrypted after a pause are queued, not fed ahead)', async () => {
    const client = newClient({ tls: { ca: tlsCert } });
    for (let i = 0; i < 3; i++) {
      const res = await client.request(`https://127.0.0.1:${httpsPort}/many-chunks`);
      expect(res.statusCode).toBe(200);
      expect((await readSlowly(res.body)).equals(manyChunks)).toBe(true);
    }
    await client.close();
  });

  it('TLS, chunked, connection: close, a slow reader: the whole body, then the end', async () => {
    const client = newClient({ tls: { ca: tlsCert } });
    const res = await client.request(`https://127.0.0.1:${httpsPort}/many-chunks?close`);
    expect((await readSlowly(res.body)).equals(manyChunks)).toBe(true);
    await client.close();
  });

  it('the body timeout still fires after the body paused once (a reader that waited, then an upstream that stalls)', async () => {
    const client = newClient({ bodyTimeoutMs: 300 });
    const res = await client.request(H('/burst-then-stall'));
    // Nobody reads for a while: the body's buffer fills and the read pauses.
    await tick(200);
    let got = 0;
    const started = Date.now();
    const read = (async () => {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        got += chunk.length;
        res.body.release(chunk);
      }
    })();
    await expect(read).rejects.toMatchObject({ code: 'UND_ERR_BODY_TIMEOUT' });
    expect(got).toBe(2 * MiB);
    expect(Date.now() - started).toBeLessThan(3000);
    await client.close();
  });

  it('packs a socket\'s reads into shared slabs: a TLS body of 16 KiB records does not take a slab per read', async () => {
    const client = newClient({ tls: { ca: tlsCert } });
    const res = await client.request(`https://127.0.0.1:${httpsPort}/sized?n=${4 * MiB}`);
    let reads = 0;
    const slabs = new Set<ArrayBufferLike>();
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      reads++;
      slabs.add(chunk.buffer);
      // Held, not released: every slab the body used stays its own.
    }
    // 4 MiB in records of at most 16 KiB: at least 256 reads, in about a quarter as many slabs.
    expect(reads).toBeGreaterThanOrEqual(256);
    expect(slabs.size).toBeLessThan(reads / 2);
    await client.close();
  });

  it('TLS options cannot loosen verification: rejectUnauthorized false is not taken', async () => {
    const client = newClient({ tls: { rejectUnauthorized: false } as unknown as PooledHttpOptions['tls'] });
    await expect(client.request(`https://127.0.0.1:${httpsPort}/small`)).rejects.toMatchObject({ code: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY/) });
    await client.close();
  });

  it('refuses a method other than GET or HEAD at run time, a header given twice in any case, and port 0', async () => {
    const client = newClient();
    const before = rawRequests.length;
    await expect(client.request(R('/raw-ok'), { method: 'GET / HTTP/1.1\r\nx: y' as 'GET' })).rejects.toThrow(TypeError);
    await expect(client.request(R('/raw-ok'), { headers: { Authorization: 'a', authorization: 'b' } })).rejects.toThrow(/given twice/);
    await expect(client.request(`http://127.0.0.1:0/raw-ok`)).rejects.toThrow(/port 0/);
    await tick(30);
    expect(rawRequests.length).toBe(before);
    await client.close();
  });

  it('takes __proto__ and constructor headers as plain headers', async () => {
    const client = newClient();
    const res = await client.request(R('/proto-header'));
    expect(Object.getPrototypeOf(res.headers)).toBeNull();
    expect(res.headers['__proto__']).toEqual(['a', 'b']);
    expect(res.headers['constructor']).toBe('c');
    expect(await res.body.text()).toBe('ok');
    await client.close();
  });

  it('refuses 101, more than 10 interim responses, trailers beyond the head limit and a length with a vertical tab', async () => {
    const client = newClient({ maxHeadBytes: 8 * 1024 });
    await expect(client.request(R('/switching'))).rejects.toBeInstanceOf(InvalidResponseError);
    await expect(client.request(R('/many-interim'))).rejects.toBeInstanceOf(InvalidResponseError);
    await expect(client.request(R('/vt-length'))).rejects.toBeInstanceOf(InvalidResponseError);
    const res = await client.request(R('/long-trailers'));
    await expect(res.body.text()).rejects.toBeInstanceOf(InvalidResponseError);
    await client.close();
  });
});
