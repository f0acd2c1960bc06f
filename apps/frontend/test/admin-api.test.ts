import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RedisServer } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putRule, startCache, startRedis, type Cache } from './harness.js';

let redis: RedisServer;
let dataDir: string;
let cache: Cache;

beforeAll(async () => {
  redis = await startRedis();
  dataDir = await mkdtemp(join(tmpdir(), 'pullthrough-admin-'));
  cache = await startCache(redis, [], { PULLTHROUGH_PUBLIC_HOSTS: 'cache.example' }, {}, dataDir);
});
afterAll(async () => {
  await cache?.stop();
  await redis?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const admin = (path: string, init: RequestInit = {}) =>
  fetch(`${cache.adminUrl}/api/v1/${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });

type Problem = { status: number; title: string; detail?: string; errors?: Array<{ field: string; message: string }> };

describe('admin API: cache rules', () => {
  test('without the bearer token: 401 problem JSON', async () => {
    const res = await fetch(`${cache.adminUrl}/api/v1/cache-rules`);
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const wrong = await fetch(`${cache.adminUrl}/api/v1/cache-rules`, { headers: { authorization: 'Bearer not-the-token' } });
    expect(wrong.status).toBe(401);
  });

  test('PUT creates (201) then replaces (200); GET one and all; DELETE 204 then 404', async () => {
    const rule = { name: 'dockerhub', sourceRepository: 'docker.io/*', targetRepository: 'dockerhub/*' };
    expect((await putRule(cache, rule)).status).toBe(201);
    const replaced = await putRule(cache, { ...rule, platforms: 'all' });
    expect(replaced.status).toBe(200);
    expect(await replaced.json()).toEqual({ ...rule, platforms: 'all' });
    expect(await (await admin('cache-rules/dockerhub')).json()).toEqual({ ...rule, platforms: 'all' });
    const list = (await (await admin('cache-rules')).json()) as { cacheRules: Array<{ name: string }> };
    expect(list.cacheRules.map((r) => r.name)).toContain('dockerhub');
    expect((await admin('cache-rules/dockerhub', { method: 'DELETE' })).status).toBe(204);
    expect((await admin('cache-rules/dockerhub', { method: 'DELETE' })).status).toBe(404);
    expect((await admin('cache-rules/dockerhub')).status).toBe(404);
  });

  test.each<[string, Record<string, unknown>, number, string]>([
    ['a wildcard on one side only', { sourceRepository: 'docker.io/*', targetRepository: 'hub/library/node' }, 422, 'targetRepository'],
    ['a bad upstream', { sourceRepository: 'not a host/*', targetRepository: 'bad/*' }, 422, 'sourceRepository'],
    ['an upstream that is this registry', { sourceRepository: 'cache.example/*', targetRepository: 'self/*' }, 422, 'sourceRepository'],
    ['a bad platform list', { sourceRepository: 'quay.io/*', targetRepository: 'quay/*', platforms: ['linux'] }, 422, 'platforms[0]'],
    ['a name that differs from the path', { name: 'other-name', sourceRepository: 'quay.io/*', targetRepository: 'quay/*' }, 422, 'name'],
  ])('%s is refused with the field named', async (_label, body, status, field) => {
    const res = await admin('cache-rules/some-rule', { method: 'PUT', body: JSON.stringify(body) });
    expect(res.status).toBe(status);
    const problem = (await res.json()) as Problem;
    expect(problem.errors?.map((e) => e.field)).toContain(field);
    expect((await admin('cache-rules/some-rule')).status).toBe(404);
  });

  test('overlapping wildcard targets conflict (409) and the first rule is untouched', async () => {
    expect((await putRule(cache, { name: 'ghcr-wide', sourceRepository: 'ghcr.io/*', targetRepository: 'ghcr/*' })).status).toBe(201);
    const res = await putRule(cache, { name: 'ghcr-narrow', sourceRepository: 'ghcr.io/org/*', targetRepository: 'ghcr/org/*' });
    expect(res.status).toBe(409);
    expect(((await res.json()) as Problem).errors?.[0]?.message).toMatch(/ghcr-wide/);
    expect(await (await admin('cache-rules/ghcr-wide')).json()).toEqual({ name: 'ghcr-wide', sourceRepository: 'ghcr.io/*', targetRepository: 'ghcr/*' });
    expect((await admin('cache-rules/ghcr-narrow')).status).toBe(404);
    const staticInside = await putRule(cache, { name: 'ghcr-static', sourceRepository: 'ghcr.io/org/app', targetRepository: 'ghcr/org/app' });
    expect(staticInside.status).toBe(201);
  });

  test('a bad rule name in the path, malformed JSON and a non-object body are 400', async () => {
    expect((await admin('cache-rules/ab', { method: 'PUT', body: '{}' })).status).toBe(400);
    expect((await admin('cache-rules/good-name', { method: 'PUT', body: '{not json' })).status).toBe(400);
    expect((await admin('cache-rules/good-name', { method: 'PUT', body: '[1]' })).status).toBe(400);
  });

  test('rules are durable: a restarted frontend on the same data dir serves them', async () => {
    expect((await putRule(cache, { name: 'quay-durable', sourceRepository: 'quay.io/*', targetRepository: 'quay/*' })).status).toBe(201);
    await cache.stop();
    cache = await startCache(redis, [], { PULLTHROUGH_PUBLIC_HOSTS: 'cache.example' }, {}, dataDir);
    const res = await admin('cache-rules/quay-durable');
    expect(res.status).toBe(200);
    expect(cache.frontend.rules.rules.match('quay/org/app')).toMatchObject({ upstreamRegistry: 'quay.io', upstreamRepository: 'org/app' });
  });
});

describe('rules file (GitOps)', () => {
  test('applied at start; an invalid file stops the start with the field path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pullthrough-rulesfile-'));
    try {
      const good = join(dir, 'good.yaml');
      await writeFile(good, 'cacheRules:\n  - name: k8s-registry\n    sourceRepository: registry.k8s.io/*\n    targetRepository: k8s/*\n');
      const started = await startCache(redis, [], { PULLTHROUGH_RULES_FILE: good });
      expect(started.frontend.rules.rules.match('k8s/pause')).toMatchObject({ upstreamRegistry: 'registry.k8s.io', upstreamRepository: 'pause' });
      await started.stop();
      const bad = join(dir, 'bad.yaml');
      await writeFile(bad, 'cacheRules:\n  - name: x\n    sourceRepository: docker.io/*\n    targetRepository: hub/*\n');
      await expect(startCache(redis, [], { PULLTHROUGH_RULES_FILE: bad })).rejects.toThrow(/cacheRules\[0\]\.name/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('takes allow-lists and fallback registries, and names a bad entry by its path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pullthrough-rulesfile-'));
    try {
      const good = join(dir, 'vetted.yaml');
      await writeFile(
        good,
        [
          'cacheRules:',
          '  - name: vetted-hub',
          '    sourceRepository: docker.io/*',
          '    targetRepository: hub/*',
          '    fallbackRegistries: [mirror.gcr.io]',
          '    allow:',
          '      repositories: ["library/*"]',
          '      tags: ["latest", ">=1.25 <2"]',
          '',
        ].join('\n'),
      );
      const started = await startCache(redis, [], { PULLTHROUGH_RULES_FILE: good });
      expect(started.frontend.rules.rules.get('vetted-hub')).toEqual({
        name: 'vetted-hub',
        sourceRepository: 'docker.io/*',
        targetRepository: 'hub/*',
        fallbackRegistries: ['mirror.gcr.io'],
        allow: { repositories: ['library/*'], tags: ['latest', '>=1.25 <2'] },
      });
      await started.stop();
      const bad = join(dir, 'bad-filter.yaml');
      await writeFile(bad, 'cacheRules:\n  - name: vetted-hub\n    sourceRepository: docker.io/*\n    targetRepository: hub/*\n    allow: { tags: ["<x"] }\n');
      await expect(startCache(redis, [], { PULLTHROUGH_RULES_FILE: bad })).rejects.toThrow(/cacheRules\[0\]\.allow\.tags\[0\]: is not a valid semver range: "<x" matches no version/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
