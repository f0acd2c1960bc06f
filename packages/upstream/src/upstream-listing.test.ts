import { MediaType } from '@pullthrough/oci';
import { nextQuery, parseReferrerIndex, parseTagList } from './upstream-listing.js';

const D1 = `sha256:${'a'.repeat(64)}`;
const D2 = `sha256:${'b'.repeat(64)}`;

describe('nextQuery', () => {
  const path = '/v2/library/app/tags/list';
  test.each([
    ['relative link', `<${path}?last=t9&n=10>; rel="next"`, 'last=t9&n=10'],
    ['absolute link, same path', `<https://other.example${path}?last=t9&n=10>; rel="next"`, undefined],
    ['another repository', '</v2/library/other/tags/list?last=t9>; rel="next"', undefined],
    ['not rel=next', `<${path}?last=t9>; rel="prev"`, undefined],
    ['second of two links', `<${path}?last=a>; rel="prev", <${path}?last=b>; rel=next`, 'last=b'],
    ['no link', undefined, undefined],
  ])('%s', (_label, link, expected) => {
    const q = nextQuery(link === undefined ? {} : { link }, path);
    expect(q?.toString()).toBe(expected);
  });
});

describe('parseTagList', () => {
  test.each([
    ['tags', '{"name":"a","tags":["v2","v1"]}', ['v2', 'v1']],
    ['null tags (distribution, no tags)', '{"name":"a","tags":null}', []],
    ['invalid tags dropped', '{"name":"a","tags":["ok","-bad","../x",7,"' + 'x'.repeat(129) + '"]}', ['ok']],
    ['not JSON', 'nope', undefined],
    ['tags not a list', '{"tags":"v1"}', undefined],
  ])('%s', (_label, body, expected) => {
    expect(parseTagList(Buffer.from(body))).toEqual(expected);
  });
});

describe('parseReferrerIndex', () => {
  const index = (manifests: unknown[], mediaType: string | null = MediaType.OciIndex) =>
    Buffer.from(JSON.stringify({ schemaVersion: 2, ...(mediaType ? { mediaType } : {}), manifests }));
  test('keeps well-formed descriptors with artifactType and string annotations', () => {
    const got = parseReferrerIndex(
      index([
        { mediaType: MediaType.OciManifest, digest: D1, size: 10, artifactType: 'application/x', annotations: { a: 'b', n: 1 } },
        { mediaType: MediaType.OciManifest, digest: 'sha256:short', size: 1 },
        { mediaType: MediaType.OciManifest, digest: D2, size: -1 },
      ]),
      {},
    );
    expect(got).toEqual([{ mediaType: MediaType.OciManifest, digest: D1, size: 10, artifactType: 'application/x', annotations: { a: 'b' } }]);
  });
  test('an index without its own mediaType is one by Content-Type', () => {
    expect(parseReferrerIndex(index([], null), { 'content-type': `${MediaType.OciIndex}; charset=utf-8` })).toEqual([]);
  });
  test('anything else is not an index', () => {
    expect(parseReferrerIndex(index([], MediaType.OciManifest), {})).toBeUndefined();
    expect(parseReferrerIndex(Buffer.from('404 page not found'), {})).toBeUndefined();
    expect(parseReferrerIndex(index([], null), { 'content-type': 'text/plain' })).toBeUndefined();
  });
});
