// Servers and helpers shared by pooled-http-client*.test.ts: a node:http server (well-formed responses), a
// node:net server writing raw bytes (edge and malformed responses) and a node:https one, started once per
// test file (its beforeAll/afterAll), counting connections and requests.
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createTlsCertificate, pseudoRandomBytes, tempDir, type TempDir } from '@pullthrough/test-support';
import { EgressPolicy } from '../src/egress-policy.js';
import type { PooledBody } from '../src/pooled-body.js';
import { BufferPool } from '../src/buffer-pool.js';
import { PooledHttpClient, type PooledHttpOptions, type PooledResponse } from '../src/pooled-http-client.js';
import { SlabPool } from '../src/slab-pool.js';


export type CodedError = Error & { code?: string };

export const MiB = 1024 * 1024;
export const BIG = 32 * MiB;
export let big: Buffer;
/** The body of /many-chunks: 3000 chunks of 97 bytes. */
export const manyChunks = Buffer.from(Array.from({ length: 3000 * 97 }, (_, i) => (i * 31 + (i >> 8)) & 0xff));
export const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
export const tick = (ms = 10) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await tick(5);
  }
}

// ---------------------------------------------------------------------------------------------
// node:http server (well-formed responses)

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}
let http: Server;
export let httpPort: number;
export let httpConnections = 0;
export let httpCloses = 0;
export const httpRequests: SeenRequest[] = [];
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
export let rawPort: number;
export let rawConnections = 0;
export let rawCloses = 0;
const rawSockets = new Set<Socket>();
export const rawRequests: RawRequest[] = [];

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
export let tlsCert: string;
let https: HttpsServer;
export let httpsPort: number;

const policy = new EgressPolicy({ allow: '127.0.0.1' });
const clients: PooledHttpClient[] = [];
/** A client with a slab pool of its own (the default one takes its slabs from the process's pool, which every test here shares). */
export function newClient(options: PooledHttpOptions = {}, withPolicy: EgressPolicy = policy): PooledHttpClient {
  const c = new PooledHttpClient(withPolicy, { pool: new SlabPool(64 * 1024, new BufferPool(64 * 1024 * 1024)), ...options });
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

export const H = (path: string) => `http://127.0.0.1:${httpPort}${path}`;
export const R = (path: string) => `http://127.0.0.1:${rawPort}${path}`;

/** Read a body to its end (releasing every chunk unless told not to), or to its error. */
export async function consume(body: PooledBody, options: { release?: boolean } = {}): Promise<{ data: Buffer; chunks: number; error?: CodedError }> {
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
export async function failure(p: Promise<PooledResponse>): Promise<{ stage: 'request' | 'body'; error: CodedError }> {
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

export async function failureOr(p: Promise<PooledResponse>): Promise<{ text?: string; error?: CodedError }> {
  try {
    const res = await p;
    const { data, error } = await consume(res.body);
    return error ? { error } : { text: data.toString() };
  } catch (err) {
    return { error: err as CodedError };
  }
}
