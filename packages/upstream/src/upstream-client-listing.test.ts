import { MediaType, UpstreamUnavailableError } from '@pullthrough/oci';
import { EgressPolicy } from '@pullthrough/egress';
import { sendJson, startFakeUpstream, type FakeUpstream, type Handler } from '../test/fake-upstream.js';
import { UpstreamBreaker } from './upstream-breaker.js';
import { UpstreamClient } from './upstream-client.js';

const LOOPBACK = new EgressPolicy({ allow: '127.0.0.1' });
const SUBJECT = `sha256:${'c'.repeat(64)}`;
const REFERRER = { mediaType: MediaType.OciManifest, digest: `sha256:${'d'.repeat(64)}`, size: 321, artifactType: 'application/x-sig' };

let upstream: FakeUpstream;
let client: UpstreamClient;
let breaker: UpstreamBreaker;

async function start(handler: Handler): Promise<void> {
  upstream = await startFakeUpstream(handler);
  breaker = new UpstreamBreaker(upstream.host, { volumeThreshold: 1, errorThresholdPercentage: 1 });
  client = new UpstreamClient({ registry: upstream.host, insecure: true, egress: LOOPBACK, breaker });
}

afterEach(async () => {
  await client.close();
  await upstream.close();
});

describe('UpstreamClient.listTags', () => {
  it('reads a page and the query of its Link to the next one', async () => {
    await start((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.searchParams.get('last') === 'b') return sendJson(res, 200, { name: 'app', tags: ['c'] });
      sendJson(res, 200, { name: 'app', tags: ['a', 'b'] }, { link: '</v2/app/tags/list?last=b&n=2>; rel="next"' });
    });
    const first = await client.listTags('app', new URLSearchParams({ n: '2' }));
    expect(first.kind === 'ok' && first.value.tags).toEqual(['a', 'b']);
    const next = first.kind === 'ok' ? first.value.next : undefined;
    expect(next?.toString()).toBe('last=b&n=2');
    const second = await client.listTags('app', next);
    expect(second).toMatchObject({ kind: 'ok', value: { tags: ['c'] } });
    expect(second.kind === 'ok' && second.value.next).toBeUndefined();
    expect(upstream.requests.map((r) => r.url)).toEqual(['/v2/app/tags/list?n=2', '/v2/app/tags/list?last=b&n=2']);
  });

  it('404 is an answer; 503 and a body that is not a tag list are failures', async () => {
    let status = 404;
    await start((_req, res) => (status === 200 ? void res.end('not json') : sendJson(res, status, { errors: [{ code: 'NAME_UNKNOWN', message: 'x' }] })));
    await expect(client.listTags('app')).resolves.toEqual({ kind: 'not-found' });
    status = 200;
    await expect(client.listTags('app')).rejects.toBeInstanceOf(UpstreamUnavailableError);
    status = 503;
    await expect(client.listTags('app')).rejects.toBeInstanceOf(UpstreamUnavailableError);
  });
});

describe('UpstreamClient.listReferrers', () => {
  it('reads the referrers index and the filters the upstream applied', async () => {
    await start((_req, res) =>
      sendJson(res, 200, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [REFERRER] }, { 'content-type': MediaType.OciIndex, 'oci-filters-applied': 'artifactType' }),
    );
    const answer = await client.listReferrers('app', SUBJECT, new URLSearchParams({ artifactType: 'application/x-sig' }));
    expect(answer).toMatchObject({ kind: 'ok', value: { manifests: [REFERRER], filtersApplied: ['artifacttype'] } });
    expect(upstream.requests.map((r) => r.url)).toEqual([`/v2/app/referrers/${SUBJECT}?artifactType=application%2Fx-sig`]);
  });

  it.each([404, 400, 405, 406])('a registry without the API (%i) answers not-found, which is no breaker failure', async (status) => {
    await start((_req, res) => {
      res.statusCode = status;
      res.end('404 page not found');
    });
    for (let i = 0; i < 3; i++) await expect(client.listReferrers('app', SUBJECT)).resolves.toEqual({ kind: 'not-found' });
    expect(breaker.stats()).toMatchObject({ state: 'closed', failures: 0 });
  });

  it('a 200 that is not an image index is no referrers API either', async () => {
    await start((_req, res) => sendJson(res, 200, { hello: 'world' }));
    await expect(client.listReferrers('app', SUBJECT)).resolves.toEqual({ kind: 'not-found' });
  });
});
