import { isSelfHost, parseSourceRepository } from './upstream-source.js';

describe('parseSourceRepository', () => {
  test.each([
    ['docker.io/library/node', 'docker.io', 'registry-1.docker.io', 'library/node', false],
    ['docker.io/node', 'docker.io', 'registry-1.docker.io', 'node', false],
    ['docker.io/*', 'docker.io', 'registry-1.docker.io', '', true],
    ['docker.io/library/*', 'docker.io', 'registry-1.docker.io', 'library', true],
    ['index.docker.io/bitnami/*', 'index.docker.io', 'registry-1.docker.io', 'bitnami', true],
    ['GHCR.io/owner/app', 'GHCR.io', 'ghcr.io', 'owner/app', false],
    ['127.0.0.1:5001/*', '127.0.0.1:5001', '127.0.0.1:5001', '', true],
    ['127.0.0.1:5001/team/app', '127.0.0.1:5001', '127.0.0.1:5001', 'team/app', false],
    ['localhost/app', 'localhost', 'localhost', 'app', false],
    ['localhost:5000/a/b/*', 'localhost:5000', 'localhost:5000', 'a/b', true],
    ['[::1]:5000/app', '[::1]:5000', '[::1]:5000', 'app', false],
    ['my-registry.internal.example:443/x', 'my-registry.internal.example:443', 'my-registry.internal.example:443', 'x', false],
  ])('%s', (value, host, registry, path, wildcard) => {
    expect(parseSourceRepository(value)).toEqual({ source: { host, registry, pattern: { path, wildcard } }, issues: [] });
  });

  test.each([
    ['', 'must not be empty'],
    ['docker.io', 'must be registry-host[:port]/repository'],
    ['*', 'must be registry-host[:port]/repository'],
    ['library/node', '"library" is not one'],
    ['node/*', '"node" is not one'],
    ['docker.io/', 'must name a repository after the host'],
    ['ex_ample.com/app', '"ex_ample.com" is not a valid registry host'],
    ['-bad.example/app', '"-bad.example" is not a valid registry host'],
    ['host.example:/app', '"host.example:" is not a valid registry host'],
    ['host.example:abc/app', 'is not a valid registry host'],
    ['127.0.0.1:70000/app', 'port 70000 in "127.0.0.1:70000" is out of range 1-65535'],
    ['127.0.0.1:0/app', 'port 0'],
    ['docker.io/Library/node', 'path component "Library" is invalid'],
    ['docker.io/library//node', 'empty path component'],
    ['docker.io/library/node/', 'empty path component'],
    ['docker.io/*/node', 'only allowed as a whole last path component'],
    ['docker.io/lib*', 'only allowed as a whole last path component'],
    [`docker.io/${'a'.repeat(256)}`, 'at most 255 characters'],
  ])('%s is rejected', (value, message) => {
    const { source, issues } = parseSourceRepository(value);
    expect(source).toBeUndefined();
    expect(issues.join('\n')).toContain(message);
  });

  test('host and path problems are both reported', () => {
    expect(parseSourceRepository('bad_host.example/Node').issues).toHaveLength(2);
  });
});

describe('isSelfHost', () => {
  const source = (value: string) => parseSourceRepository(value).source!;
  test.each([
    ['cache.example/*', ['cache.example'], true],
    ['CACHE.example/app', ['cache.EXAMPLE'], true],
    ['127.0.0.1:5000/*', ['127.0.0.1:5000'], true],
    ['127.0.0.1:5001/*', ['127.0.0.1:5000'], false],
    ['cache.example:5000/*', ['cache.example'], false],
    ['docker.io/*', ['cache.example', '127.0.0.1:5000'], false],
    ['docker.io/*', [], false],
  ])('%s with selfHosts %j -> %s', (value, selfHosts, expected) => {
    expect(isSelfHost(source(value), selfHosts)).toBe(expected);
  });
});
