import type { UpstreamAnswer, TagPage, UpstreamClient } from '@pullthrough/upstream';
import { MAX_UPSTREAM_TAG_PAGES, MAX_UPSTREAM_TAGS, UpstreamTagLister } from './upstream-tag-lister.js';
import type { UpstreamTarget } from './upstream-target.js';

/** A scripted upstream tag listing: `pages(query)` answers each call (the lister's own logic is what is tested). */
function targetWith(pages: (query: URLSearchParams) => UpstreamAnswer<TagPage>, credentialSetName?: string) {
  const queries: string[] = [];
  const client = {
    listTags: async (_repository: string, query: URLSearchParams) => {
      queries.push(query.toString());
      await new Promise((r) => setImmediate(r));
      return pages(query);
    },
  } as unknown as UpstreamClient;
  const target: UpstreamTarget = {
    rule: { name: 'r', ...(credentialSetName ? { credentialSetName } : {}) },
    downstreamRepository: 'up/app',
    upstreamRegistry: 'registry.example',
    upstreamRepository: 'app',
    client,
    upstreams: [{ registry: 'registry.example', repository: 'app', client }],
  };
  return { target, queries };
}

const endless = (size: number) => (query: URLSearchParams): UpstreamAnswer<TagPage> => {
  const from = Number(query.get('last')?.slice(1) ?? -1) + 1;
  const tags = Array.from({ length: size }, (_, i) => `t${from + i}`);
  return { kind: 'ok', headers: {}, value: { tags, next: new URLSearchParams({ last: tags[tags.length - 1]!, n: String(size) }) } };
};

describe('UpstreamTagLister', () => {
  it(`follows Link for at most ${MAX_UPSTREAM_TAG_PAGES} pages and says the list was cut`, async () => {
    const { target, queries } = targetWith(endless(5));
    const list = await new UpstreamTagLister().list(target, 10_000);
    expect(queries).toHaveLength(MAX_UPSTREAM_TAG_PAGES);
    expect(queries[0]).toBe('n=1000');
    expect(queries[1]).toBe('last=t4&n=5');
    expect(list).toEqual({ tags: Array.from({ length: 5 * MAX_UPSTREAM_TAG_PAGES }, (_, i) => `t${i}`), truncated: true });
  });

  it(`keeps at most ${MAX_UPSTREAM_TAGS} tags`, async () => {
    const { target, queries } = targetWith(endless(4000));
    const list = await new UpstreamTagLister().list(target, 10_000);
    expect(queries).toHaveLength(3);
    expect(list?.tags).toHaveLength(MAX_UPSTREAM_TAGS);
    expect(list?.truncated).toBe(true);
  });

  it('remembers a list for min(ttl, 30 s), per credential set; concurrent listings share one walk', async () => {
    let now = 0;
    const lister = new UpstreamTagLister(() => now);
    const one = targetWith(() => ({ kind: 'ok', headers: {}, value: { tags: ['a'] } }));
    const [x, y] = await Promise.all([lister.list(one.target, 300_000), lister.list(one.target, 300_000)]);
    expect(x).toEqual({ tags: ['a'], truncated: false });
    expect(y).toBe(x);
    expect(one.queries).toHaveLength(1);
    expect(lister.held(one.target)).toEqual(x);
    expect(lister.held(targetWith(() => ({ kind: 'not-found' }), 'other-set').target)).toBeUndefined();
    now = 29_999;
    expect(lister.held(one.target)).toEqual(x);
    now = 30_000;
    expect(lister.held(one.target)).toBeUndefined();
  });

  it('an upstream 404 is remembered as null; a 404 on a later page and 401 are errors', async () => {
    const lister = new UpstreamTagLister();
    const missing = targetWith(() => ({ kind: 'not-found' }));
    await expect(lister.list(missing.target, 5_000)).resolves.toBeNull();
    expect(lister.held(missing.target)).toBeNull();
    let calls = 0;
    const vanishing = targetWith(() => (calls++ === 0 ? { kind: 'ok', headers: {}, value: { tags: ['a'], next: new URLSearchParams({ last: 'a' }) } } : { kind: 'not-found' }), 'set-b');
    await expect(new UpstreamTagLister().list(vanishing.target, 5_000)).rejects.toMatchObject({ code: 'NAME_UNKNOWN' });
    const refused = targetWith(() => ({ kind: 'unauthorized', message: 'no' }), 'set-c');
    await expect(new UpstreamTagLister().list(refused.target, 5_000)).rejects.toMatchObject({ code: 'UPSTREAM_AUTH' });
  });
});
