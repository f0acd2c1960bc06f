import {
  formatPattern,
  isRepositoryPath,
  matchRepositoryPattern,
  parseTargetRepository,
  wildcardPrefixesOverlap,
} from './repository-pattern.js';

describe('parseTargetRepository', () => {
  test.each([
    ['dockerhub/library/node', { path: 'dockerhub/library/node', wildcard: false }],
    ['node', { path: 'node', wildcard: false }],
    ['dockerhub/*', { path: 'dockerhub', wildcard: true }],
    ['a/b/c/*', { path: 'a/b/c', wildcard: true }],
    ['my-org/my__repo.v2', { path: 'my-org/my__repo.v2', wildcard: false }],
    ['a--b/c', { path: 'a--b/c', wildcard: false }],
  ])('%s is valid', (value, pattern) => {
    expect(parseTargetRepository(value)).toEqual({ pattern, issues: [] });
  });

  test.each([
    ['', 'must not be empty'],
    ['*', '"*" alone is not allowed'],
    ['a/*/b', 'only allowed as a whole last path component'],
    ['a/b*', 'only allowed as a whole last path component'],
    ['a/**', 'only allowed as a whole last path component'],
    ['Dockerhub/node', 'path component "Dockerhub" is invalid'],
    ['a_/b', 'path component "a_" is invalid'],
    ['../etc', 'path component ".." is invalid'],
    ['a//b', 'empty path component'],
    ['/a', 'empty path component'],
    ['a/', 'empty path component'],
    ['/*', 'empty path component'],
    ['a'.repeat(256), 'at most 255 characters'],
  ])('%s is rejected', (value, message) => {
    const { pattern, issues } = parseTargetRepository(value);
    expect(pattern).toBeUndefined();
    expect(issues.join('\n')).toContain(message);
  });

  test('every bad component is reported', () => {
    expect(parseTargetRepository('A/b/C').issues).toHaveLength(2);
  });
});

describe('matchRepositoryPattern', () => {
  const wild = { path: 'dockerhub', wildcard: true };
  const stat = { path: 'dockerhub/node', wildcard: false };
  const root = { path: '', wildcard: true };
  test.each([
    [stat, 'dockerhub/node', ''],
    [stat, 'dockerhub/node/x', undefined],
    [stat, 'dockerhub', undefined],
    [wild, 'dockerhub/x', 'x'],
    [wild, 'dockerhub/x/y', 'x/y'],
    [wild, 'dockerhub', undefined],
    [wild, 'dockerhubx/y', undefined],
    [wild, 'other/x', undefined],
    [root, 'x/y', 'x/y'],
    [root, '', undefined],
  ])('%o matches %s -> %s', (pattern, repository, rest) => {
    expect(matchRepositoryPattern(pattern, repository)).toBe(rest);
  });
});

describe('wildcardPrefixesOverlap', () => {
  test.each([
    ['a', 'a', true],
    ['a', 'a/b', true],
    ['a/b', 'a', true],
    ['a/b/c', 'a', true],
    ['a', 'ab', false],
    ['ab', 'a', false],
    ['a/b', 'a/c', false],
    ['dockerhub', 'quay', false],
  ])('%s/* vs %s/* -> %s', (a, b, overlap) => {
    expect(wildcardPrefixesOverlap(a, b)).toBe(overlap);
  });
});

test.each([
  [{ path: 'a/b', wildcard: false }, 'a/b'],
  [{ path: 'a', wildcard: true }, 'a/*'],
  [{ path: '', wildcard: true }, '*'],
])('formatPattern(%o) -> %s', (pattern, text) => {
  expect(formatPattern(pattern)).toBe(text);
});

test.each([
  ['library/node', true],
  ['', false],
  ['Library/node', false],
  ['a'.repeat(256), false],
])('isRepositoryPath(%s) -> %s', (path, ok) => {
  expect(isRepositoryPath(path)).toBe(ok);
});
