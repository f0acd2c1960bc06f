import { EgressPolicy } from '@pullthrough/egress';
import { checkServiceUri, clientWriteEvent, eventId, hydratedEvents, parseWebhook, scopeMatches, signPayload, toCloudEvent, verifySignature, WebhookValidationError, wants, webhookView } from './index.js';

const base = { name: 'hook-one', serviceUri: 'https://hooks.example/in', actions: ['cache.hydrated'], secret: 's3cret-s3cret-s3cret' };

describe('webhook model', () => {
  test('defaults, and the view never carries the secret', () => {
    const w = parseWebhook(base);
    expect(w).toMatchObject({ status: 'enabled', customHeaders: {}, cloudEvents: false });
    expect(JSON.stringify(webhookView(w))).not.toContain('s3cret');
  });

  test.each([
    [{ ...base, name: 'abc' }, 'name'],
    [{ ...base, actions: [] }, 'actions'],
    [{ ...base, actions: ['cache.hydrated', 'cache.hydrated'] }, 'actions'],
    [{ ...base, actions: ['pull'] }, 'actions.0'],
    [{ ...base, secret: 'short' }, 'secret'],
    [{ ...base, scope: 'Upper/Case' }, 'scope'],
    [{ ...base, customHeaders: { 'X-Pullthrough-Signature': 'forged' } }, 'customHeaders.X-Pullthrough-Signature'],
    [{ ...base, customHeaders: { 'X-Ok': 'a\r\nInjected: 1' } }, 'customHeaders.X-Ok'],
    [{ ...base, status: 'paused' }, 'status'],
  ])('rejects %j at field %s', (input, field) => {
    try {
      parseWebhook(input);
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(WebhookValidationError);
      expect((err as WebhookValidationError).issues.map((i) => i.field)).toContain(field);
    }
  });
});

describe('scope', () => {
  test.each([
    [undefined, 'any/repo', true],
    ['hy/*', 'hy/multiplatform', true],
    ['hy/*', 'hy/a/b', true],
    ['hy/*', 'other/x', false],
    ['hy/multi*', 'hy/multiplatform', true],
    ['hy/small', 'hy/smaller', false],
    ['*/node', 'dockerhub/library/node', true],
  ])('%s covers %s: %s', (scope, repo, expected) => {
    expect(scopeMatches(scope, repo)).toBe(expected);
  });
});

describe('serviceUri policy', () => {
  const resolve = async (h: string) => (h === 'hooks.example' ? ['93.184.215.14'] : h === 'sneaky.example' ? ['93.184.215.14', '10.1.2.3'] : h === 'localhost' ? ['127.0.0.1'] : []);
  const publicOnly = new EgressPolicy({ resolve });
  test.each(['127.0.0.1', '10.0.0.1', '172.20.1.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '[::1]', '[fe80::1]', '[fd00::1]', '[::ffff:127.0.0.1]', '127.1', '0x7f.0.0.1', '2130706433'])(
    'http://%s/ is refused on save',
    async (host) => {
      await expect(checkServiceUri(`http://${host}/in`, publicOnly)).rejects.toThrow(/must not point at a refused address/);
    },
  );

  test('http(s) only; loopback, private and mixed resolutions refused unless the egress allow-list opens them', async () => {
    await expect(checkServiceUri('https://hooks.example/in', publicOnly)).resolves.toBeInstanceOf(URL);
    await expect(checkServiceUri('ftp://hooks.example/in', publicOnly)).rejects.toThrow(/http or https/);
    await expect(checkServiceUri('http://127.0.0.1:8080/in', publicOnly)).rejects.toThrow(/loopback address/);
    await expect(checkServiceUri('http://[::1]:8080/in', publicOnly)).rejects.toThrow(/loopback address/);
    await expect(checkServiceUri('https://sneaky.example/in', publicOnly)).rejects.toThrow(/10\.1\.2\.3.*private address/);
    await expect(checkServiceUri('https://nowhere.example/in', publicOnly)).rejects.toThrow(/does not resolve/);
    await expect(checkServiceUri('http://localhost:8080/in', publicOnly)).rejects.toThrow(WebhookValidationError);
    await expect(checkServiceUri('http://127.0.0.1:8080/in', new EgressPolicy({ allow: '127.0.0.1' }))).resolves.toBeInstanceOf(URL);
    await expect(checkServiceUri('http://127.0.0.1:8080/in', new EgressPolicy({ allow: '127.0.0.1:9090' }))).rejects.toThrow(/loopback address/);
    await expect(checkServiceUri('http://user:pw@hooks.example/', publicOnly)).rejects.toThrow(/credentials/);
  });
});

describe('signature', () => {
  test('verifies with the secret over the exact body; fails on another secret, a changed body, or a stale timestamp', () => {
    const body = JSON.stringify({ a: 1 });
    const t = 1_700_000_000;
    const header = signPayload('secret-0123456789', body, t);
    expect(header).toMatch(/^t=1700000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature('secret-0123456789', body, header, t + 10)).toBe(true);
    expect(verifySignature('secret-other-0000', body, header, t + 10)).toBe(false);
    expect(verifySignature('secret-0123456789', body + ' ', header, t + 10)).toBe(false);
    expect(verifySignature('secret-0123456789', body, header, t + 3600)).toBe(false);
  });
});

describe('events', () => {
  const root = { digest: 'sha256:' + 'a'.repeat(64), mediaType: 'application/vnd.oci.image.index.v1+json', size: 500 };
  const children = [
    { digest: 'sha256:' + 'b'.repeat(64), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 400 },
    { digest: 'sha256:' + 'c'.repeat(64), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 401 },
  ];
  const facts = { repository: 'hy/app', tag: 'v1', root, children, result: { manifests: 3, blobs: 4, blobsFetched: 4, bytesFetched: 99 } };

  test('a hydration yields cache.hydrated, then push by tag, by digest, then per platform; ids are stable and distinct', () => {
    const events = hydratedEvents(facts, { host: 'cache.example' });
    expect(events.map((e) => [e.action, e.target.digest, e.target.tag])).toEqual([
      ['cache.hydrated', root.digest, 'v1'],
      ['push', root.digest, 'v1'],
      ['push', root.digest, undefined],
      ['push', children[0]!.digest, undefined],
      ['push', children[1]!.digest, undefined],
    ]);
    expect(events[0]).toMatchObject({ target: { mediaType: root.mediaType, size: 500, length: 500, repository: 'hy/app' }, request: { host: 'cache.example', method: 'GET' }, hydration: facts.result });
    expect(new Set(events.map((e) => e.id)).size).toBe(5);
    const again = hydratedEvents(facts, { host: 'cache.example', timestamp: new Date(0) });
    expect(again.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(events[0]!.id).toBe(eventId('cache.hydrated', 'hy/app', root.digest, 'v1'));
    expect(events[0]!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('CloudEvents envelope keeps the id and wraps the ACR event', () => {
    const [e] = hydratedEvents(facts, { host: 'cache.example' });
    expect(toCloudEvent(e!)).toMatchObject({ specversion: '1.0', id: e!.id, type: 'io.pullthrough.cache.hydrated', subject: 'hy/app', datacontenttype: 'application/json', data: e });
  });

  test('wants: enabled, subscribed action, repository in scope', () => {
    const [hydrated, push] = hydratedEvents(facts, { host: 'h' });
    const w = parseWebhook({ ...base, scope: 'hy/*' });
    expect(wants(w, hydrated!)).toBe(true);
    expect(wants(w, push!)).toBe(false);
    expect(wants({ ...w, status: 'disabled' }, hydrated!)).toBe(false);
    expect(wants({ ...w, scope: 'other/*' }, hydrated!)).toBe(false);
  });
});

describe('client write events (push / delete on the data port)', () => {
  const facts = { repository: 'team/app', digest: `sha256:${'a'.repeat(64)}`, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 42, tag: 'v1', requestId: 'req-1', userAgent: 'skopeo/1.9' };
  test('ACR shape, the client\'s request, and a fresh id per event (two pushes are two facts)', () => {
    const push = clientWriteEvent({ action: 'push', ...facts }, { host: 'cache.example', timestamp: new Date(0) });
    expect(push).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      timestamp: '1970-01-01T00:00:00.000Z',
      action: 'push',
      target: { mediaType: facts.mediaType, size: 42, digest: facts.digest, length: 42, repository: 'team/app', tag: 'v1' },
      request: { id: 'req-1', host: 'cache.example', method: 'PUT', useragent: 'skopeo/1.9' },
    });
    expect(clientWriteEvent({ action: 'push', ...facts }, { host: 'cache.example' }).id).not.toBe(push.id);
    const gone = clientWriteEvent({ action: 'delete', repository: 'team/app', digest: facts.digest, mediaType: '', size: 0 }, { host: 'h' });
    expect(gone.request.method).toBe('DELETE');
    expect(gone.target.tag).toBeUndefined();
  });
});
