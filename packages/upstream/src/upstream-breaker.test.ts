import { UpstreamThrottledError, UpstreamUnavailableError } from '@pullthrough/oci';
import { EgressPolicy } from '@pullthrough/egress';
import { sendJson, sleep, startFakeUpstream, type FakeUpstream } from '../test/fake-upstream.js';
import { UpstreamBreaker } from './upstream-breaker.js';
import { UpstreamClient } from './upstream-client.js';

/** Test upstreams listen on loopback: the egress policy lets them through explicitly. */
const LOOPBACK = new EgressPolicy({ allow: '127.0.0.1' });

describe('UpstreamBreaker', () => {
  const breakers: UpstreamBreaker[] = [];
  const make = (options: ConstructorParameters<typeof UpstreamBreaker>[1] = {}): UpstreamBreaker => {
    const b = new UpstreamBreaker('upstream.example', options);
    breakers.push(b);
    return b;
  };
  afterEach(() => breakers.splice(0).forEach((b) => b.shutdown()));

  it('passes results through and counts only rejections', async () => {
    const breaker = make({ volumeThreshold: 1 });
    await expect(breaker.fire(async () => ({ kind: 'not-found' }))).resolves.toEqual({ kind: 'not-found' });
    expect(breaker.state()).toBe('closed');
    await expect(breaker.fire(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(breaker.state()).toBe('closed'); // 50% is not above the 50% threshold
    await expect(breaker.fire(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(breaker.state()).toBe('open');
    expect(breaker.stats()).toMatchObject({ upstream: 'upstream.example', state: 'open', fires: 3, successes: 1, failures: 2 });
  });

  it('fireStreamed hands the value over at once and counts the call when its body settles', async () => {
    const breaker = make({ volumeThreshold: 1 });
    let fail!: (err: Error) => void;
    const settled = new Promise<void>((_, reject) => (fail = reject));
    await expect(breaker.fireStreamed(async () => ({ value: 'headers', settled }))).resolves.toBe('headers');
    expect(breaker.stats()).toMatchObject({ state: 'closed', successes: 0, failures: 0 });
    fail(new Error('reset mid-body'));
    await sleep(10);
    expect(breaker.stats()).toMatchObject({ state: 'open', successes: 0, failures: 1, totals: { requests: 1, failures: 1, rejects: 0 } });
    await expect(breaker.fireStreamed(async () => ({ value: 'never', settled: Promise.resolve() }))).rejects.toThrow(/is open/);
    expect(breaker.stats().totals.rejects).toBe(1);
    expect(breaker.stats().openUntil).toEqual(expect.any(String));
  });

  it('a half-open streamed probe closes the breaker at its headers; a later body failure still counts', async () => {
    const breaker = make({ volumeThreshold: 1, resetTimeoutMs: 200 });
    await breaker.fire(() => Promise.reject(new Error('boom'))).catch(() => undefined);
    expect(breaker.state()).toBe('open');
    await sleep(250);
    expect(breaker.state()).toBe('half-open');
    let fail!: (err: Error) => void;
    const settled = new Promise<void>((_, reject) => (fail = reject));
    await expect(breaker.fireStreamed(async () => ({ value: 'probe headers', settled }))).resolves.toBe('probe headers');
    await sleep(10);
    // Not held half-open for the whole body: other calls go through meanwhile.
    expect(breaker.state()).toBe('closed');
    await expect(breaker.fire(async () => 'other call')).resolves.toBe('other call');
    fail(new Error('reset mid-body'));
    await sleep(10);
    expect(breaker.stats().totals).toEqual({ requests: 3, failures: 2, rejects: 0 });
  });

  it('refuses while open with the time until half-open, then lets one trial call through', async () => {
    const breaker = make({ volumeThreshold: 1, resetTimeoutMs: 300 });
    await breaker.fire(() => Promise.reject(new Error('boom'))).catch(() => undefined);
    let called = false;
    const err = await breaker.fire(async () => (called = true)).catch((e: unknown) => e);
    expect(called).toBe(false);
    expect(err).toBeInstanceOf(UpstreamUnavailableError);
    expect(err).toMatchObject({ message: 'circuit breaker for upstream upstream.example is open', retryAfterSeconds: 1 });
    await sleep(400);
    expect(breaker.state()).toBe('half-open');
    await expect(breaker.fire(async () => 'ok')).resolves.toBe('ok');
    expect(breaker.state()).toBe('closed');
  });

  it('holdOpen refuses calls for at least that long, then allows one trial', async () => {
    const breaker = make();
    breaker.holdOpen(1);
    expect(breaker.state()).toBe('open');
    await expect(breaker.fire(async () => 'x')).rejects.toMatchObject({ retryAfterSeconds: 1 });
    await sleep(1100);
    expect(breaker.state()).toBe('half-open');
    let release: () => void = () => undefined;
    const trial = breaker.fire(() => new Promise<string>((r) => (release = () => r('trial'))));
    await expect(breaker.fire(async () => 'second')).rejects.toBeInstanceOf(UpstreamUnavailableError);
    release();
    await expect(trial).resolves.toBe('trial');
    expect(breaker.state()).toBe('closed');
    await expect(breaker.fire(async () => 'after')).resolves.toBe('after');
  });

  it('holds itself open for a throttled rejection carrying Retry-After', async () => {
    const breaker = make();
    const throttled = new UpstreamThrottledError('slow down', { retryAfterSeconds: 30 });
    await expect(breaker.fire(() => Promise.reject(throttled))).rejects.toBe(throttled);
    expect(breaker.stats()).toMatchObject({ state: 'open', retryAfterSeconds: 30 });
  });
});

describe('UpstreamBreaker around an UpstreamClient', () => {
  let upstream: FakeUpstream;
  let client: UpstreamClient;
  let breaker: UpstreamBreaker;

  async function start(handler: Parameters<typeof startFakeUpstream>[0]): Promise<void> {
    upstream = await startFakeUpstream(handler);
    breaker = new UpstreamBreaker(upstream.host, { volumeThreshold: 5, errorThresholdPercentage: 50 });
    client = new UpstreamClient({ registry: upstream.host, insecure: true, breaker, egress: LOOPBACK });
  }

  afterEach(async () => {
    breaker.shutdown();
    await client.close();
    await upstream.close();
  });

  it('never opens for 404, 401 and 403 answers', async () => {
    await start((req, res) => sendJson(res, req.url!.includes('/a/') ? 404 : req.url!.includes('/b/') ? 401 : 403, {}));
    for (let i = 0; i < 4; i++) {
      await expect(client.getManifest('a/app', 'v1')).resolves.toEqual({ kind: 'not-found' });
      await expect(client.headManifest('b/app', 'v1')).resolves.toMatchObject({ kind: 'unauthorized' });
      await expect(client.getManifest('c/app', 'v1')).resolves.toMatchObject({ kind: 'forbidden' });
    }
    expect(breaker.state()).toBe('closed');
    expect(breaker.stats()).toMatchObject({ fires: 12, failures: 0 });
  });

  it('opens after the volume threshold of 500s, then rejects without reaching the server', async () => {
    await start((_req, res) => sendJson(res, 500, {}));
    for (let i = 0; i < 5; i++) {
      await expect(client.getManifest('library/node', '20')).rejects.toMatchObject({ detail: { status: 500 } });
    }
    expect(upstream.requests).toHaveLength(5);
    expect(breaker.state()).toBe('open');
    const err = await client.getBlob('library/node', 'sha256:' + 'a'.repeat(64)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamUnavailableError);
    expect((err as UpstreamUnavailableError).message).toMatch(/breaker .* is open/);
    expect((err as UpstreamUnavailableError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(upstream.requests).toHaveLength(5);
  });

  it('holds open for Retry-After on a 429: no request reaches the server until it passes', async () => {
    let throttle = true;
    await start((_req, res) => (throttle ? sendJson(res, 429, {}, { 'retry-after': '2' }) : sendJson(res, 404, {})));
    const first = await client.getManifest('library/node', '20').catch((e: unknown) => e);
    expect(first).toBeInstanceOf(UpstreamThrottledError);
    expect(first).toMatchObject({ retryAfterSeconds: 2, detail: { upstream: upstream.host, status: 429 } });
    throttle = false;

    const started = Date.now();
    while (Date.now() - started < 1800) {
      // Held for a 429: refusals say TOOMANYREQUESTS and why.
      await expect(client.getManifest('library/node', '20')).rejects.toMatchObject({
        code: 'UPSTREAM_THROTTLED',
        detail: { reason: 'circuit breaker open: upstream asked us to wait (429 Retry-After)', lastFailure: 'upstream answered 429' },
      });
      expect(breaker.state()).toBe('open');
      await sleep(300);
    }
    expect(upstream.requests).toHaveLength(1);

    await sleep(2100 - (Date.now() - started));
    await expect(client.getManifest('library/node', '20')).resolves.toEqual({ kind: 'not-found' });
    expect(upstream.requests).toHaveLength(2);
    expect(breaker.state()).toBe('closed');
  });
});
