import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Agent, request } from './undici.js';

// A real HTTP server: request() sends what undici's own request() sends (origin, path with the query,
// GET by default, PUT with a body), through the global dispatcher or the one given.
let server: Server;
let base: string;
const seen: Array<{ method: string; url: string; body: string }> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, body });
      res.setHeader('content-type', 'text/plain');
      res.end(`ok ${req.method} ${req.url}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

test('request(): path and query, GET by default, PUT with a body, through the dispatcher given or the global one', async () => {
  const agent = new Agent();
  try {
    const a = await request(`${base}/v2/x?n=1&last=b`, { dispatcher: agent });
    expect([a.statusCode, await a.body.text()]).toEqual([200, 'ok GET /v2/x?n=1&last=b']);
    const b = await request(new URL(`${base}/put-me`), { body: 'abc', dispatcher: agent });
    expect([b.statusCode, await b.body.text()]).toEqual([200, 'ok PUT /put-me']);
    const c = await request(`${base}/global`, { method: 'POST', body: 'z' });
    expect([c.statusCode, await c.body.text()]).toEqual([200, 'ok POST /global']);
    expect(seen).toEqual([
      { method: 'GET', url: '/v2/x?n=1&last=b', body: '' },
      { method: 'PUT', url: '/put-me', body: 'abc' },
      { method: 'POST', url: '/global', body: 'z' },
    ]);
  } finally {
    await agent.close();
  }
});

test('options.path is refused rather than half-supported', () => {
  expect(() => request(base, { path: '/x' } as never)).toThrow('options.path and options.agent are not supported');
});

// A real node process on the built package (the test task builds first): undici's index (fetch,
// WebSocket, caches, mocks) is not loaded.
test('the built package loads undici without its index', () => {
  const dist = join(__dirname, '..', 'dist', 'index.js');
  const out = execFileSync(
    process.execPath,
    ['-e', `require(${JSON.stringify(dist)}); const files = Object.keys(require.cache).filter((p) => p.includes('/node_modules/undici/')); console.log(JSON.stringify({ index: files.some((p) => p.endsWith('/undici/index.js')), fetch: files.some((p) => p.includes('/lib/web/')), agent: files.some((p) => p.endsWith('/lib/dispatcher/agent.js')), count: files.length }));`],
    { encoding: 'utf8', timeout: 30_000 },
  );
  const loaded = JSON.parse(out.trim()) as { index: boolean; fetch: boolean; agent: boolean; count: number };
  expect(loaded).toEqual({ index: false, fetch: false, agent: true, count: loaded.count });
  expect(loaded.count).toBeLessThan(50);
});
