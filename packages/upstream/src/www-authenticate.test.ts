import { parseChallenges } from './www-authenticate.js';

describe('parseChallenges', () => {
  it.each([
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/node:pull"',
      [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/node:pull' } }],
    ],
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    [
      'Bearer realm="https://r.example/t", scope="repository:a:pull,push"',
      [{ scheme: 'bearer', params: { realm: 'https://r.example/t', scope: 'repository:a:pull,push' } }],
    ],
    [
      'Basic realm="a", Bearer realm="https://b/t",service=svc',
      [
        { scheme: 'basic', params: { realm: 'a' } },
        { scheme: 'bearer', params: { realm: 'https://b/t', service: 'svc' } },
      ],
    ],
    ['Bearer Realm="x\\"y"', [{ scheme: 'bearer', params: { realm: 'x"y' } }]],
    ['', []],
  ])('%s', (header, expected) => {
    expect(parseChallenges(header)).toEqual(expected);
  });

  it('reads repeated headers', () => {
    expect(parseChallenges(['Basic realm="a"', 'Bearer realm="b"']).map((c) => c.scheme)).toEqual(['basic', 'bearer']);
    expect(parseChallenges(undefined)).toEqual([]);
  });
});
