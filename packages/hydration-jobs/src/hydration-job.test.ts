import { hydrationJobId, parseHydrationJob } from './index.js';

const digest = 'sha256:' + 'ab'.repeat(32);

describe('hydration job contract', () => {
  test('job id has no colon and is stable per repository + digest', () => {
    const id = hydrationJobId('dockerhub/library/node', digest);
    expect(id).not.toContain(':');
    expect(id).toBe(hydrationJobId('dockerhub/library/node', digest));
    expect(id).not.toBe(hydrationJobId('dockerhub/library/nginx', digest));
  });
  test('payload defaults platforms to pulled and rejects bad digests', () => {
    const base = { downstreamRepository: 'a/b', ruleName: 'rule1', upstreamRegistry: 'r.example', upstreamRepository: 'b', digest, enqueuedAt: new Date().toISOString() };
    expect(parseHydrationJob(base).platforms).toBe('pulled');
    expect(() => parseHydrationJob({ ...base, digest: 'sha256:xyz' })).toThrow(/digest/);
    expect(() => parseHydrationJob({ ...base, platforms: [] })).toThrow();
  });
  test('traceparent: optional (old jobs stay valid), kept when well-formed, dropped when malformed or not a string', () => {
    const base = { downstreamRepository: 'a/b', ruleName: 'rule1', upstreamRegistry: 'r.example', upstreamRepository: 'b', digest, enqueuedAt: new Date().toISOString() };
    const traceparent = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`;
    expect(parseHydrationJob(base).traceparent).toBeUndefined();
    expect(parseHydrationJob({ ...base, traceparent }).traceparent).toBe(traceparent);
    expect(parseHydrationJob({ ...base, traceparent: '00-zz-yy-01' })).toMatchObject({ ruleName: 'rule1', traceparent: undefined });
    expect(parseHydrationJob({ ...base, traceparent: 42 })).toMatchObject({ ruleName: 'rule1', traceparent: undefined });
  });
});
