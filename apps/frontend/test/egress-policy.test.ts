import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RedisServer } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putRule, startCache, startRedis, type Cache } from './harness.js';

// A cache with no egress exceptions (`strict`) and one that allows 127.0.0.1 like every test harness (`loopback`).
// `receiver` is a loopback HTTP server standing in for an upstream: it counts what reaches it.

type Problem = { status: number; errors?: Array<{ field: string; message: string }> };
type OciErrors = { errors: Array<{ code: string; message: string; detail: Record<string, unknown> }> };

let redis: RedisServer;
let strict: Cache;
let loopback: Cache;
let receiver: Server;
let receiverPort: number;
const received: string[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    received.push(req.url ?? '');
    if (req.url === '/v2/') return void res.end('{}');
    // Every blob is "on a CDN" at the cloud metadata address.
    res.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/' });
    res.end();
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverPort = (receiver.address() as AddressInfo).port;
  redis = await startRedis();
  const insecure = [`127.0.0.1:${receiverPort}`, `localhost:${receiverPort}`];
  strict = await startCache(redis, insecure, { PULLTHROUGH_EGRESS_ALLOW: '' });
  loopback = await startCache(redis, insecure);
}, 60_000);
afterAll(async () => {
  await strict?.stop();
  await loopback?.stop();
  await redis?.stop();
  await new Promise<void>((r) => receiver.close(() => r()));
});

const admin = (cache: Cache, path: string) => fetch(`${cache.adminUrl}/api/v1/${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

describe('rules: an upstream host the egress policy refuses is a field-level problem on save', () => {
  test.each([
    ['169.254.169.254/*', /169\.254\.169\.254:443 is a link-local address/],
    ['10.0.0.1/x', /10\.0\.0\.1:443 is a private address/],
    ['[::ffff:127.0.0.1]:5000/*', /not a valid registry host/],
    ['[::ffff:7f00:1]:5000/*', /::ffff:7f00:1:5000 is a loopback address/],
    ['2130706433/*', /must start with a registry host/],
    ['2130706433:5000/*', /127\.0\.0\.1:5000 is a loopback address/],
    ['127.1:5000/*', /127\.0\.0\.1:5000 is a loopback address/],
    ['0x7f.0.0.1/app', /127\.0\.0\.1:443 is a loopback address/],
    ['0x7g.0.0.1/app', /is not a valid host/],
  ])('%s', async (sourceRepository, message) => {
    const res = await putRule(strict, { name: 'refused-rule', sourceRepository, targetRepository: sourceRepository.endsWith('/*') ? 'refused/*' : 'refused/app' });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await res.json()) as Problem;
    expect(problem.errors).toEqual([{ field: 'sourceRepository', message: expect.stringMatching(message) }]);
    expect((await admin(strict, 'cache-rules/refused-rule')).status).toBe(404);
  });

  test("the cache's own data and admin ports are refused even though 127.0.0.1 is allowed; another loopback port is fine", async () => {
    for (const url of [loopback.dataUrl, loopback.adminUrl]) {
      const port = new URL(url).port;
      for (const host of [`127.0.0.1:${port}`, `2130706433:${port}`]) {
        const res = await putRule(loopback, { name: 'self-rule', sourceRepository: `${host}/*`, targetRepository: 'self/*' });
        expect(res.status).toBe(422);
        expect(((await res.json()) as Problem).errors).toEqual([{ field: 'sourceRepository', message: expect.stringContaining(`127.0.0.1:${port} is this cache's own listener`) }]);
      }
    }
    expect((await putRule(loopback, { name: 'receiver-rule', sourceRepository: `127.0.0.1:${receiverPort}/*`, targetRepository: 'recv/*' })).status).toBe(201);
  });

  test('fallback registries pass the same checks, each named by its index', async () => {
    const own = `127.0.0.1:${new URL(loopback.dataUrl).port}`;
    const res = await putRule(loopback, {
      name: 'mirrored-rule',
      sourceRepository: `127.0.0.1:${receiverPort}/*`,
      targetRepository: 'mirrored/*',
      fallbackRegistries: [`localhost:${receiverPort}`, '169.254.169.254', own],
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as Problem).errors).toEqual([
      { field: 'fallbackRegistries[1]', message: expect.stringMatching(/169\.254\.169\.254:443 is a link-local address/) },
      { field: 'fallbackRegistries[2]', message: expect.stringContaining(`${own} is this cache's own listener`) },
    ]);
    expect((await admin(loopback, 'cache-rules/mirrored-rule')).status).toBe(404);
  });
});

describe('pulls: refused at connect time, answered as DENIED naming the rule, the address and its range', () => {
  test('a rule by name whose name resolves to loopback: 403 DENIED, nothing reaches the receiver, rule health says rule-config', async () => {
    expect((await putRule(strict, { name: 'named-loopback', sourceRepository: `localhost:${receiverPort}/*`, targetRepository: 'named/*' })).status).toBe(201);
    const before = received.length;
    const res = await fetch(`${strict.dataUrl}/v2/named/app/manifests/v1`);
    expect(res.status).toBe(403);
    const body = (await res.json()) as OciErrors;
    expect(body.errors[0]).toMatchObject({
      code: 'DENIED',
      detail: { rule: 'named-loopback', host: 'localhost', port: receiverPort, addressCategory: 'loopback', category: 'rule-config' },
    });
    expect(String(body.errors[0]!.detail.address)).toMatch(/^(127\.0\.0\.1|::1)$/);
    expect(body.errors[0]!.message).toMatch(/is a loopback address, not allowed by the egress policy/);
    expect(received.length).toBe(before);
    const health = (await (await admin(strict, 'cache-rules/named-loopback/health')).json()) as { lastFailure?: { category: string } };
    expect(health.lastFailure).toMatchObject({ category: 'rule-config' });
  });

  test('a blob redirect from an allowed upstream to the metadata endpoint is refused at that hop', async () => {
    expect((await putRule(loopback, { name: 'redirecting', sourceRepository: `127.0.0.1:${receiverPort}/team/*`, targetRepository: 'redir/*' })).status).toBe(201);
    const digest = `sha256:${'a'.repeat(64)}`;
    const res = await fetch(`${loopback.dataUrl}/v2/redir/app/blobs/${digest}`);
    expect(res.status).toBe(403);
    const body = (await res.json()) as OciErrors;
    expect(body.errors[0]).toMatchObject({
      code: 'DENIED',
      detail: { rule: 'redirecting', host: '169.254.169.254', address: '169.254.169.254', port: 80, addressCategory: 'link-local', category: 'rule-config' },
    });
    expect(JSON.stringify(body)).not.toContain('security-credentials');
    expect(received).toContain(`/v2/team/app/blobs/${digest}`);
  });
});

describe('rules file: a refused upstream stops the start with the field path', () => {
  test('169.254.169.254 in the seed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pullthrough-egress-rules-'));
    try {
      const file = join(dir, 'rules.yaml');
      await writeFile(file, 'cacheRules:\n  - name: metadata\n    sourceRepository: 169.254.169.254/*\n    targetRepository: meta/*\n');
      await expect(startCache(redis, [], { PULLTHROUGH_RULES_FILE: file })).rejects.toThrow(/cacheRules\[0\]\.sourceRepository: upstream "169\.254\.169\.254" is refused: .*link-local/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
