import type { Request } from 'express';
import { CacheRuleSet } from '@pullthrough/cache-rules';
import { EgressDeniedError } from '@pullthrough/egress';
import {
  ClientThrottledError,
  DeniedError,
  ManifestUnknownError,
  RangeInvalidError,
  RegistryError,
  toWireError,
  UnauthorizedError,
  UpstreamThrottledError,
  UpstreamUnavailableError,
} from '@pullthrough/oci';
import { memoryLogger } from '../../test/memory-logger.js';
import { mirrorFallback, mirrorRequest, withinBudget, type MirrorRequest } from './mirror-request.js';

const rules = CacheRuleSet.create([{ name: 'dockerhub', sourceRepository: 'docker.io/*', targetRepository: 'dockerhub/*' }]);
const options = { rules: () => rules, selfHosts: ['cache.example:5000'], manifestBudgetMs: 100 };
const req = (url: string, host = '127.0.0.1:5000') => ({ originalUrl: url, headers: { host } }) as unknown as Request;

describe('mirrorRequest', () => {
  test.each<[string, string, MirrorRequest | undefined]>([
    ['no ns: path routing', '/v2/dockerhub/node/manifests/1', undefined],
    ['ns of Docker Hub, URL-encoded', '/v2/library/node/manifests/1?ns=docker.io', { ns: 'docker.io', form: 'ns', downstreamRepository: 'dockerhub/node' }],
    ['ns naming this cache (its Host) is no mirror request', '/v2/library/node/manifests/1?ns=127.0.0.1%3A5000', undefined],
    ['ns naming a public host of this cache', '/v2/library/node/manifests/1?ns=Cache.Example%3A5000', undefined],
    ['override_path form', '/v2/dockerhub/library/node/manifests/1?ns=docker.io', { ns: 'docker.io', form: 'path', downstreamRepository: 'dockerhub/library/node' }],
    ['a registry no rule covers', '/v2/library/node/manifests/1?ns=quay.io', { ns: 'quay.io', reason: 'no-rule' }],
    ['two ns values', '/v2/library/node/manifests/1?ns=docker.io&ns=quay.io', { ns: 'docker.io', reason: 'invalid-namespace' }],
    ['an empty ns', '/v2/library/node/manifests/1?ns=', { ns: '', reason: 'invalid-namespace' }],
  ])('%s', (_what, url, expected) => {
    const path = url.split('?')[0]!.replace(/^\/v2\//, '').replace(/\/manifests\/.*$/, '');
    expect(mirrorRequest(req(url), path, options)).toEqual(expected);
  });
});

describe('mirrorFallback: containerd falls back only on a 404', () => {
  const mirror: MirrorRequest = { ns: 'docker.io', form: 'ns', downstreamRepository: 'dockerhub/node' };
  const upstream = { rule: 'dockerhub', upstream: 'registry-1.docker.io/library/node' };
  test.each<[string, unknown, string, number, Record<string, unknown>]>([
    ['upstream down or breaker open', new UpstreamUnavailableError('breaker open').annotate(upstream), 'MANIFEST_UNKNOWN', 404, { reason: 'UNAVAILABLE', status: 503, rule: 'dockerhub', category: 'upstream-unavailable' }],
    ['upstream throttled', new UpstreamThrottledError('429', { retryAfterSeconds: 30 }).annotate(upstream), 'MANIFEST_UNKNOWN', 404, { reason: 'TOOMANYREQUESTS', category: 'upstream-throttled' }],
    ['client over its miss rate', new ClientThrottledError('slow down', { retryAfterSeconds: 1 }), 'MANIFEST_UNKNOWN', 404, { reason: 'TOOMANYREQUESTS', status: 429 }],
    ['a user not permitted', new DeniedError('denied'), 'MANIFEST_UNKNOWN', 404, { reason: 'DENIED', status: 403 }],
    ['egress refused', new EgressDeniedError('refused', { host: '10.0.0.1', port: 443, addressCategory: 'private' }), 'MANIFEST_UNKNOWN', 404, { reason: 'DENIED', category: 'rule-config', addressCategory: 'private' }],
    ['a bug', new Error('boom'), 'MANIFEST_UNKNOWN', 404, { reason: 'UNKNOWN', status: 500 }],
  ])('%s -> 404 naming it', (_what, err, code, status, detail) => {
    const log = memoryLogger();
    const out = mirrorFallback(err, 'manifest', mirror, log.logger);
    const wire = toWireError(out);
    expect([wire.code, wire.status, wire.retryAfterSeconds]).toEqual([code, status, undefined]);
    expect(wire.detail).toMatchObject({ ns: 'docker.io', ...detail });
    expect(log.lines.length).toBe(err instanceof RegistryError ? 0 : 1);
  });

  test('blobs and tags say so in their own codes', () => {
    expect(toWireError(mirrorFallback(new UpstreamUnavailableError('down'), 'blob', mirror, memoryLogger().logger)).code).toBe('BLOB_UNKNOWN');
    expect(toWireError(mirrorFallback(new UpstreamUnavailableError('down'), 'tags', mirror, memoryLogger().logger)).code).toBe('NAME_UNKNOWN');
  });

  test.each<[string, RegistryError, number]>([
    ['401 keeps its challenge (authenticating helps)', new UnauthorizedError('log in'), 401],
    ['404 stays, annotated', new ManifestUnknownError('not upstream'), 404],
    ['416 stays (the blob is here, the range is not)', new RangeInvalidError('bad range', { size: 10 }), 416],
  ])('%s', (_what, err, status) => {
    const out = mirrorFallback(err, 'manifest', mirror, memoryLogger().logger);
    expect(out).toBe(err);
    expect(toWireError(out).status).toBe(status);
  });
});

describe('withinBudget', () => {
  test('work done in time is its answer; late work is a 404 naming the budget, and its failure is not unhandled', async () => {
    await expect(withinBudget(Promise.resolve('ok'), 50)).resolves.toBe('ok');
    let fail: (err: Error) => void = () => undefined;
    const late = new Promise<string>((_r, reject) => (fail = reject));
    await expect(withinBudget(late, 20)).rejects.toMatchObject({ code: 'MANIFEST_UNKNOWN', detail: { reason: 'mirror-budget', budgetMs: 20 } });
    fail(new Error('upstream gave up later'));
    await new Promise((r) => setImmediate(r));
  });
});
