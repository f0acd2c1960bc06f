import { parseDigest, isRepositoryName, parseReference, parseRepositoryName, DigestInvalidError, NameInvalidError, TagInvalidError, toWireError } from './index.js';

describe('repository names', () => {
  test.each([
    ['library/node', true],
    ['a', true],
    ['dockerhub/library/node', true],
    ['my-org/my__repo.v2', true],
    ['a--b/c', true],
    ['Library/node', false],
    ['library/../etc', false],
    ['..', false],
    ['library%2Fnode', false],
    ['library//node', false],
    ['/library', false],
    ['library/', false],
    ['a_', false],
    ['a'.repeat(256), false],
  ])('%s -> %s', (name, ok) => {
    expect(isRepositoryName(name)).toBe(ok);
    if (!ok) expect(() => parseRepositoryName(name)).toThrow(NameInvalidError);
  });
});

describe('references', () => {
  test('tag', () => expect(parseReference('20-alpine')).toEqual({ kind: 'tag', tag: '20-alpine' }));
  test('digest', () => {
    const d = 'sha256:' + 'a'.repeat(64);
    expect(parseReference(d)).toEqual({ kind: 'digest', digest: d });
  });
  test.each(['-bad', '.bad', 'a'.repeat(129), 'with/slash', ''])('bad tag %s', (t) => {
    expect(() => parseReference(t)).toThrow(TagInvalidError);
  });
  test.each(['sha256:abc', 'md5:' + 'a'.repeat(32), 'sha256:' + 'A'.repeat(64), 'sha256:' + 'g'.repeat(64), 'nocolon:'])('bad digest %s', (d) => {
    expect(() => parseDigest(d)).toThrow(DigestInvalidError);
  });
  test('wire mapping of a bad digest is 400 DIGEST_INVALID', () => {
    const err = (() => { try { parseDigest('sha256:zz'); } catch (e) { return e; } })();
    expect(toWireError(err)).toMatchObject({ status: 400, code: 'DIGEST_INVALID' });
    expect(toWireError(new Error('boom'))).toEqual({ status: 500, code: 'UNKNOWN', message: 'unknown error' });
  });
});
