import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { tempDir, type RedisServer, type TempDir } from '@pullthrough/test-support';
import { startCache, startRedis, type Cache } from './harness.js';
import { memoryLogger } from './memory-logger.js';

// Failed password logins are limited per client address, on /v2 (Basic) and /token alike. Two
// loopback addresses stand for two clients: 127.0.0.1 fails too often, 127.0.0.2 is someone else.
// (How long bcrypt takes is not asserted: the unit tests in packages/auth show that a throttled
// login runs no compare and that unknown users are checked against a hash of the same cost.)

const PASSWORD = 'alice-password-1';
const OTHER = '127.0.0.2';
const log = memoryLogger();
let redis: RedisServer;
let work: TempDir;
let cache: Cache;

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

interface Answer {
  status: number;
  retryAfter: string | undefined;
  body: { errors?: Array<{ code: string; message: string }>; token?: string };
}

/** A request from `from` (a local source address), answered in full. */
function send(from: string, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const url = new URL(path, cache.dataUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: init.method ?? 'GET', headers: init.headers, localAddress: from }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const retryAfter = res.headers['retry-after'];
        resolve({ status: res.statusCode!, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined, body: text ? (JSON.parse(text) as Answer['body']) : {} });
      });
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

const passwordGrant = (from: string, password: string) =>
  send(from, '/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', service: 'pullthrough', username: 'alice', password }).toString(),
  });

beforeAll(async () => {
  redis = await startRedis();
  work = await tempDir('login-limits-');
  const htpasswd = join(work.path, 'htpasswd');
  // htpasswd -B's default cost.
  await writeFile(htpasswd, execFileSync('htpasswd', ['-nbB', 'alice', PASSWORD]).toString());
  cache = await startCache(
    redis,
    [],
    { PULLTHROUGH_HTPASSWD_FILE: htpasswd, PULLTHROUGH_LOGIN_FAILURE_BURST: '3', PULLTHROUGH_LOGIN_FAILURES_PER_MINUTE: '1' },
    {},
    undefined,
    log.logger,
  );
}, 60_000);

afterAll(async () => {
  await cache?.stop();
  await work?.remove();
  await redis?.stop();
});

describe('an address over its failed-login limit', () => {
  let earlierToken: string;

  beforeAll(async () => {
    // A token fetched before the trouble starts.
    const got = await send('127.0.0.1', '/token?service=pullthrough', { headers: { authorization: basic('alice', PASSWORD) } });
    expect(got.status).toBe(200);
    earlierToken = got.body.token!;
    // Three wrong logins, one per way in: Basic on /v2, Basic on /token, the password grant; an unknown user counts too.
    expect((await send('127.0.0.1', '/v2/', { headers: { authorization: basic('alice', 'wrong-1') } })).status).toBe(401);
    expect((await send('127.0.0.1', '/token', { headers: { authorization: basic('mallory', 'wrong-2') } })).status).toBe(401);
    expect((await passwordGrant('127.0.0.1', 'wrong-3')).status).toBe(401);
  });

  test('gets 429 TOOMANYREQUESTS with Retry-After on /v2 (OCI error body), for a wrong password and the right one alike', async () => {
    for (const password of ['wrong-4', PASSWORD]) {
      const res = await send('127.0.0.1', '/v2/', { headers: { authorization: basic('alice', password) } });
      expect(res.status).toBe(429);
      expect(Number(res.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(res.retryAfter)).toBeLessThanOrEqual(60);
      expect(res.body.errors).toEqual([expect.objectContaining({ code: 'TOOMANYREQUESTS', message: 'too many failed logins from this address; retry later' })]);
    }
  });

  test('gets 429 with Retry-After on /token (Basic and the password grant), in the token endpoint error shape', async () => {
    for (const res of [await send('127.0.0.1', '/token', { headers: { authorization: basic('alice', PASSWORD) } }), await passwordGrant('127.0.0.1', PASSWORD)]) {
      expect(res.status).toBe(429);
      expect(Number(res.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(res.body).toEqual({ errors: [{ code: 'TOOMANYREQUESTS', message: 'too many failed logins from this address; retry later' }] });
    }
  });

  test('still uses the bearer token it got before; anonymous requests are not affected', async () => {
    expect((await send('127.0.0.1', '/v2/', { headers: { authorization: `Bearer ${earlierToken}` } })).status).toBe(200);
    expect((await send('127.0.0.1', '/v2/')).status).toBe(401);
  });

  test('another address logs in as usual, and fails as usual', async () => {
    expect((await send(OTHER, '/v2/', { headers: { authorization: basic('alice', PASSWORD) } })).status).toBe(200);
    expect((await send(OTHER, '/token', { headers: { authorization: basic('alice', PASSWORD) } })).status).toBe(200);
    expect((await passwordGrant(OTHER, PASSWORD)).status).toBe(200);
    expect((await send(OTHER, '/v2/', { headers: { authorization: basic('alice', 'wrong') } })).status).toBe(401);
  });

  test('each throttled login is one audit line (reason login-throttled, 429), with no password in any log line', () => {
    const throttled = log.lines.filter((l) => l.event === 'access.denied' && l.reason === 'login-throttled');
    expect(throttled).toHaveLength(4);
    expect(throttled[0]).toEqual(expect.objectContaining({ plane: 'data', actor: { kind: 'anonymous' }, status: 429, address: '127.0.0.1', outcome: 'denied' }));
    expect(throttled.map((l) => l.route)).toEqual(['/v2/', '/v2/', '/token', '/token']);
    for (const line of log.raw) for (const secret of [PASSWORD, 'wrong-4', basic('alice', PASSWORD).slice(6)]) expect(line).not.toContain(secret);
  });
});
