import type { Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import express from 'express';
import { listen, type ListenerLimits } from './http-listener.js';

const LIMITS: ListenerLimits = { headersTimeoutMs: 1000, requestTimeoutMs: 1000, idleTimeoutMs: 2000, maxConnections: 3 };
const SLACK_MS = 3000;
const BIG = 24 * 1024 * 1024;

let server: Server;
let port: number;
const open: Socket[] = [];

beforeAll(async () => {
  const app = express();
  app.get('/small', (_req, res) => {
    res.send('ok');
  });
  // Answers after twice the idle bound, with nothing written before (like a ranged miss waiting for its upstream).
  app.get('/late', (_req, res) => {
    setTimeout(() => res.send('late'), LIMITS.idleTimeoutMs * 2);
  });
  // A large response made on the fly: more than the kernel's socket buffers hold, so a slow reader keeps it open.
  app.get('/big', (_req, res) => {
    res.setHeader('Content-Length', String(BIG));
    const chunk = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    Readable.from(
      (function* () {
        while (sent < BIG) {
          sent += chunk.length;
          yield chunk;
        }
      })(),
    ).pipe(res);
  });
  server = await listen(app, '127.0.0.1', 0, LIMITS);
  port = (server.address() as AddressInfo).port;
});

afterEach(async () => {
  for (const s of open.splice(0)) s.destroy();
  // The server sees the closes a moment later; the cap counts what it still holds.
  const held = () => new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  while ((await held()) > 0) await new Promise((r) => setTimeout(r, 10));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** A raw socket that records what it receives and when it closes (ms since it was opened). */
function rawSocket(): { socket: Socket; received: () => string; closed: Promise<number> } {
  const started = Date.now();
  const socket = connect(port, '127.0.0.1');
  open.push(socket);
  let data = '';
  socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - started)));
  return { socket, received: () => data, closed };
}

const connected = (s: Socket) => new Promise<void>((resolve) => (s.readyState === 'open' ? resolve() : s.once('connect', () => resolve())));

describe('listen() with limits, over real sockets', () => {
  test('a request line and headers trickled a byte at a time are cut at the header bound (408), not before', async () => {
    const { socket, received, closed } = rawSocket();
    await connected(socket);
    socket.write('GET /small HTTP/1.1\r\nHost: x\r\n');
    const trickle = setInterval(() => socket.writable && socket.write('X'), 200);
    const ms = await closed.finally(() => clearInterval(trickle));
    expect(ms).toBeGreaterThanOrEqual(LIMITS.headersTimeoutMs - 50);
    expect(ms).toBeLessThan(LIMITS.headersTimeoutMs + SLACK_MS);
    expect(received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  test('a connection that sends nothing is closed at the header bound', async () => {
    const { closed } = rawSocket();
    const ms = await closed;
    expect(ms).toBeGreaterThanOrEqual(LIMITS.headersTimeoutMs - 50);
    expect(ms).toBeLessThan(LIMITS.headersTimeoutMs + SLACK_MS);
  });

  test('a keep-alive connection idle after its response is closed at the idle bound', async () => {
    const { socket, received, closed } = rawSocket();
    await connected(socket);
    socket.write('GET /small HTTP/1.1\r\nHost: x\r\n\r\n');
    const answeredAt = Date.now();
    const ms = await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(received()).toMatch(/Keep-Alive: timeout=1\r\n/); // advertised 1 s under the bound, Node keeps it 1 s longer
    const idle = Date.now() - answeredAt;
    expect(idle).toBeGreaterThanOrEqual(LIMITS.idleTimeoutMs - 100);
    expect(ms).toBeLessThan(LIMITS.idleTimeoutMs + SLACK_MS);
  });

  test('over the connection cap a new connection is closed unanswered while the existing ones keep working', async () => {
    const held = [rawSocket(), rawSocket(), rawSocket()];
    for (const h of held) {
      await connected(h.socket);
      h.socket.write('GET /small HTTP/1.1\r\nHost: x\r\n\r\n');
    }
    await waitFor(() => held.every((h) => h.received().includes('\r\n\r\nok')));
    const extra = rawSocket();
    extra.socket.write('GET /small HTTP/1.1\r\nHost: x\r\n\r\n');
    const ms = await extra.closed;
    expect(extra.received()).toBe('');
    expect(ms).toBeLessThan(SLACK_MS);
    held[0]!.socket.write('GET /small HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => held[0]!.received().split('\r\n\r\nok').length === 3);
    expect(held[0]!.socket.destroyed).toBe(false);
  });

  test('a client that stops reading its response is cut at the idle bound, not before', async () => {
    // The paused client cannot see the close (it reads nothing): watch the server's side of the connection.
    const serverSide = new Promise<Socket>((resolve) => server.once('connection', resolve));
    const { socket, received } = rawSocket();
    await connected(socket);
    socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => received().length > 0);
    socket.pause(); // takes nothing more: the kernel buffers fill and the server's writes stop completing
    const pausedAt = Date.now();
    const theirs = await serverSide;
    await new Promise((resolve) => (theirs.destroyed ? resolve(undefined) : theirs.once('close', resolve)));
    expect(Date.now() - pausedAt).toBeGreaterThanOrEqual(LIMITS.idleTimeoutMs - 100);
    expect(Date.now() - pausedAt).toBeLessThan(LIMITS.idleTimeoutMs * 2 + SLACK_MS);
    socket.resume();
    await waitFor(() => socket.destroyed || socket.readableEnded);
    expect(received().length).toBeLessThan(BIG);
  }, 30_000);

  test('a response that is slow to start (the server is still working) is not cut', async () => {
    const { socket, received, closed } = rawSocket();
    await connected(socket);
    socket.write('GET /late HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => received().endsWith('late'), LIMITS.idleTimeoutMs * 3);
    expect(received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(socket.destroyed).toBe(false);
    socket.destroy();
    await closed;
  }, 30_000);

  test('a client reading slowly but steadily for longer than every bound still gets the whole response', async () => {
    const socket = connect({ port, host: '127.0.0.1' });
    open.push(socket);
    await connected(socket);
    socket.pause();
    socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    const started = Date.now();
    let bytes = 0;
    let ended = false;
    socket.on('end', () => (ended = true));
    // At most 8 MiB/s: 24 MiB takes 3 s or more, past the header, request and idle bounds.
    const reader = setInterval(() => {
      for (let budget = 160 * 1024; budget > 0; ) {
        const chunk = socket.read() as Buffer | null;
        if (chunk === null) break;
        bytes += chunk.length;
        budget -= chunk.length;
      }
    }, 20);
    await waitFor(() => ended || socket.destroyed, 60_000).finally(() => clearInterval(reader));
    const head = 'HTTP/1.1 200 OK'.length;
    expect(Date.now() - started).toBeGreaterThan(LIMITS.idleTimeoutMs + 1000);
    expect(bytes).toBeGreaterThan(BIG + head);
    expect(bytes).toBeLessThan(BIG + 1000);
  }, 90_000);
});

async function waitFor(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
