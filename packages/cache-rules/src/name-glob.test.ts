import { repositoryGlob, repositoryGlobIssues, tagGlob, tagGlobIssues } from './name-glob.js';

describe('repository globs', () => {
  // [glob, matching repositories, non-matching]
  test.each<[string, string[], string[]]>([
    ['library/nginx', ['library/nginx'], ['library/nginx2', 'library/nginxa/b', 'nginx']],
    ['library/*', ['library/nginx', 'library/node'], ['library', 'library/a/b', 'other/nginx']],
    ['bitnami/nginx*', ['bitnami/nginx', 'bitnami/nginx-ingress'], ['bitnami/redis', 'bitnami/nginx/x']],
    ['*/nginx', ['library/nginx', 'bitnami/nginx'], ['nginx', 'a/b/nginx']],
    ['bitnami/**', ['bitnami/nginx', 'bitnami/charts/nginx'], ['bitnami', 'bitnamix/nginx']],
    ['**/nginx', ['nginx', 'library/nginx', 'a/b/nginx'], ['nginx2', 'library/nginx/x']],
    ['a/**/b', ['a/b', 'a/x/b', 'a/x/y/b'], ['a/bb', 'b', 'a/x/b/c']],
    ['**', ['nginx', 'library/nginx', 'a/b/c'], []],
    ['my.org/app', ['my.org/app'], ['myxorg/app']],
  ])('%s', (glob, yes, no) => {
    expect(repositoryGlobIssues(glob)).toEqual([]);
    const re = repositoryGlob(glob);
    for (const r of yes) expect([r, re.test(r)]).toEqual([r, true]);
    for (const r of no) expect([r, re.test(r)]).toEqual([r, false]);
  });

  test.each([
    ['', 'must not be empty'],
    ['library/', 'must not contain an empty path segment'],
    ['/library', 'must not contain an empty path segment'],
    ['a//b', 'must not contain an empty path segment'],
    ['library/**x', '"**" must be a whole path segment'],
    ['Library/nginx', 'segment "Library" may hold only'],
    ['library/ng?nx', 'segment "ng?nx" may hold only'],
  ])('refuses %j', (glob, message) => {
    expect(repositoryGlobIssues(glob)).toEqual([expect.stringContaining(message)]);
  });
});

describe('tag globs', () => {
  test.each<[string, string[], string[]]>([
    ['latest', ['latest'], ['latest2', 'Latest']],
    ['1.*', ['1.25', '1.25.3-alpine', '1.'], ['1', '11.0', 'v1.2']],
    ['*-alpine', ['1.25-alpine', 'stable-alpine'], ['1.25', 'alpine']],
    ['*', ['anything', '1.0'], []],
    ['1.25.3', ['1.25.3'], ['1x25x3', 'v1.25.3']],
  ])('%s', (glob, yes, no) => {
    expect(tagGlobIssues(glob)).toEqual([]);
    const re = tagGlob(glob);
    for (const t of yes) expect([t, re.test(t)]).toEqual([t, true]);
    for (const t of no) expect([t, re.test(t)]).toEqual([t, false]);
  });

  test.each(['', 'a/b', 'tag?', 'x'.repeat(129)])('refuses %j', (glob) => {
    expect(tagGlobIssues(glob)).toHaveLength(1);
  });
});
