import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { CONSOLE_CSP, consoleRoutes } from './console-routes.js';

// The console's static files on a real HTTP server: a built folder, and one that is not built yet.

let dir: string;
let server: ReturnType<express.Express['listen']>;
let base: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'console-dist-'));
  const app = express();
  app.use('/console', consoleRoutes(dir));
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

test('not built: /console/ is a 503 problem saying how to build it', async () => {
  const res = await fetch(`${base}/console/`);
  expect(res.status).toBe(503);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as { status: number; detail: string };
  expect(body.status).toBe(503);
  expect(body.detail).toMatch(/not built: run `npx turbo run build`/);
});

test('built: index.html is no-store under the strict CSP, hashed assets are immutable, anything else is a 404 problem', async () => {
  await mkdir(join(dir, 'assets'));
  await writeFile(join(dir, 'index.html'), '<!doctype html><script type="module" src="assets/main-ABC.js"></script>');
  await writeFile(join(dir, 'assets', 'main-ABC.js'), 'console.log(1)');
  const index = await fetch(`${base}/console/`);
  expect(index.status).toBe(200);
  expect(index.headers.get('cache-control')).toBe('no-store');
  expect(index.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
  expect(CONSOLE_CSP).toContain("script-src 'self'");
  expect(CONSOLE_CSP).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
  expect(index.headers.get('x-content-type-options')).toBe('nosniff');
  expect(await index.text()).toContain('assets/main-ABC.js');

  const asset = await fetch(`${base}/console/assets/main-ABC.js`);
  expect(asset.status).toBe(200);
  expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  expect(asset.headers.get('content-type')).toMatch(/javascript/);

  const bare = await fetch(`${base}/console`, { redirect: 'manual' });
  expect([bare.status, bare.headers.get('location')]).toEqual([301, '/console/']);

  for (const path of ['/console/assets/nope.js', '/console/index.html/x', '/console/../package.json', '/console/assets/../index.html/..%2f..%2fetc']) {
    const res = await fetch(`${base}${path}`);
    expect([path, res.status]).toEqual([path, 404]);
  }
});
