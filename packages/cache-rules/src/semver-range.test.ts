import { compareVersions, parseSemverRange, parseTagVersion, tagSatisfies } from './semver-range.js';

describe('parseTagVersion', () => {
  test.each<[string, ReturnType<typeof parseTagVersion>]>([
    ['1.2.3', { major: 1, minor: 2, patch: 3, prerelease: [] }],
    ['v1.2.3', { major: 1, minor: 2, patch: 3, prerelease: [] }],
    ['V2', { major: 2, minor: 0, patch: 0, prerelease: [] }],
    ['1.25', { major: 1, minor: 25, patch: 0, prerelease: [] }],
    ['1.25.3-rc.1', { major: 1, minor: 25, patch: 3, prerelease: ['rc', 1] }],
    ['1.25-alpine', { major: 1, minor: 25, patch: 0, prerelease: ['alpine'] }],
    ['latest', undefined],
    ['stable-slim', undefined],
    ['1.2.3.4', undefined],
    ['01.2', undefined],
    ['1..2', undefined],
    ['v', undefined],
  ])('%s', (tag, version) => {
    expect(parseTagVersion(tag)).toEqual(version);
  });
});

test.each([
  ['1.0.0-alpha', '1.0.0-alpha.1'],
  ['1.0.0-alpha.1', '1.0.0-alpha.beta'],
  ['1.0.0-alpha.beta', '1.0.0-beta'],
  ['1.0.0-beta.2', '1.0.0-beta.11'],
  ['1.0.0-rc.1', '1.0.0'],
  ['1.9.9', '1.10.0'],
  ['1.10.0', '2.0.0'],
])('semver precedence: %s < %s', (a, b) => {
  expect(compareVersions(parseTagVersion(a)!, parseTagVersion(b)!)).toBeLessThan(0);
  expect(compareVersions(parseTagVersion(b)!, parseTagVersion(a)!)).toBeGreaterThan(0);
});

describe('tagSatisfies', () => {
  // [range, tags that satisfy it, tags that do not]
  test.each<[string, string[], string[]]>([
    ['>=1.25 <2', ['1.25', '1.25.0', '1.25.3', 'v1.26.0', '1.99.99'], ['1.24.9', '2', '2.0.0', '2.0.0-rc.1', '1.25.3-rc.1', '1.25-alpine', 'latest']],
    ['>= 1.25 < 2', ['1.25.1'], ['2.0.0']],
    ['1.25.x', ['1.25', '1.25.0', '1.25.17', 'v1.25.2'], ['1.24.9', '1.26.0', '1.25.1-rc.1']],
    ['1.x', ['1.0.0', '1.99.1'], ['2.0.0', '0.9.0']],
    ['=1.25', ['1.25.0', '1.25.9'], ['1.26.0']],
    ['=1.25.3', ['1.25.3', 'v1.25.3'], ['1.25.4']],
    ['>1.25', ['1.26.0'], ['1.25.9', '1.25.0']],
    ['>1.25.3', ['1.25.4'], ['1.25.3']],
    ['<1.25', ['1.24.99', '0.1.0'], ['1.25.0', '1.25.0-rc.1']],
    ['<=1.25', ['1.25.99', '1.0.0'], ['1.26.0']],
    ['<=1.25.3', ['1.25.3'], ['1.25.4']],
    ['^1.2.3', ['1.2.3', '1.9.0'], ['1.2.2', '2.0.0']],
    ['^0.2.3', ['0.2.3', '0.2.9'], ['0.3.0']],
    ['^0.0.3', ['0.0.3'], ['0.0.4']],
    ['^1.2', ['1.2.0', '1.5.0'], ['2.0.0', '1.1.9']],
    ['~1.2.3', ['1.2.3', '1.2.9'], ['1.3.0', '1.2.2']],
    ['~1.2', ['1.2.0', '1.2.9'], ['1.3.0']],
    ['~1', ['1.0.0', '1.9.9'], ['2.0.0']],
    ['1.20.x || >=1.25 <1.27', ['1.20.3', '1.25.0', '1.26.1'], ['1.21.0', '1.27.0']],
    ['*', ['0.0.1', '99.0.0'], ['1.0.0-rc.1', 'latest']],
    ['x', ['1.0.0'], ['1.0.0-beta']],
    // A range that names a pre-release admits pre-releases of that MAJOR.MINOR.PATCH only.
    ['>=1.25.0-rc.1 <2', ['1.25.0-rc.1', '1.25.0-rc.2', '1.25.0', '1.30.0'], ['1.25.0-beta.9', '1.26.0-rc.1']],
    ['^1.2.3-beta.2', ['1.2.3-beta.2', '1.2.3-beta.10', '1.2.3', '1.9.9'], ['1.2.3-beta.1', '1.2.4-beta.3']],
  ])('%s', (range, yes, no) => {
    const parsed = parseSemverRange(range);
    for (const tag of yes) expect([tag, tagSatisfies(tag, parsed)]).toEqual([tag, true]);
    for (const tag of no) expect([tag, tagSatisfies(tag, parsed)]).toEqual([tag, false]);
  });
});

describe('parseSemverRange refuses', () => {
  test.each([
    ['', 'must not be empty'],
    ['>=1.25 ||', 'an alternative between "||" is empty'],
    ['>=1.a', '">=1.a" is not a version comparator'],
    ['latest', '"latest" is not a version comparator'],
    ['1.x.3', 'a number cannot follow a wildcard'],
    ['>=1.2-rc.1', 'a pre-release needs a full MAJOR.MINOR.PATCH'],
    ['>x', 'matches no version'],
    ['<*', 'matches no version'],
    ['>>1', 'is not a version comparator'],
  ])('%s', (range, message) => {
    expect(() => parseSemverRange(range)).toThrow(message);
  });
});
