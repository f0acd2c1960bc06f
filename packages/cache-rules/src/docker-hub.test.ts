import { isDockerHub, normalizeRegistryHost, sameRegistry, shortDockerHubName, upstreamRepositoryFor } from './docker-hub.js';
import { ruleRegistry } from './rule-upstream-registry.js';

describe('normalizeRegistryHost', () => {
  test.each([
    ['docker.io', 'registry-1.docker.io'],
    ['index.docker.io', 'registry-1.docker.io'],
    ['Docker.IO', 'registry-1.docker.io'],
    ['registry-1.docker.io', 'registry-1.docker.io'],
    ['ghcr.io', 'ghcr.io'],
    ['MCR.Microsoft.com', 'mcr.microsoft.com'],
    ['127.0.0.1:5001', '127.0.0.1:5001'],
    ['localhost:5000', 'localhost:5000'],
    ['docker.io:5000', 'docker.io:5000'],
  ])('%s -> %s', (host, expected) => {
    expect(normalizeRegistryHost(host)).toBe(expected);
  });

  test.each([
    ['docker.io', true],
    ['index.docker.io', true],
    ['registry-1.docker.io', true],
    ['quay.io', false],
    ['docker.io:5000', false],
  ])('isDockerHub(%s) -> %s', (host, expected) => {
    expect(isDockerHub(host)).toBe(expected);
  });
});

describe('library/ prefix', () => {
  test.each([
    ['registry-1.docker.io', 'node', 'library/node'],
    ['docker.io', 'node', 'library/node'],
    ['registry-1.docker.io', 'library/node', 'library/node'],
    ['registry-1.docker.io', 'bitnami/redis', 'bitnami/redis'],
    ['ghcr.io', 'node', 'node'],
    ['127.0.0.1:5001', 'node', 'node'],
  ])('upstreamRepositoryFor(%s, %s) -> %s', (registry, repository, expected) => {
    expect(upstreamRepositoryFor(registry, repository)).toBe(expected);
  });

  test.each([
    ['registry-1.docker.io', 'library/node', 'node'],
    ['registry-1.docker.io', 'library/a/b', undefined],
    ['registry-1.docker.io', 'bitnami/redis', undefined],
    ['ghcr.io', 'library/node', undefined],
  ])('shortDockerHubName(%s, %s) -> %s', (registry, repository, expected) => {
    expect(shortDockerHubName(registry, repository)).toBe(expected);
  });
});

describe('sameRegistry (a credential set binds to its loginServer)', () => {
  test.each([
    ['docker.io', 'registry-1.docker.io', true],
    ['index.docker.io', 'docker.io', true],
    ['DOCKER.IO', 'Registry-1.Docker.Io', true],
    ['GHCR.io', 'ghcr.io', true],
    ['ghcr.io', 'docker.io', false],
    ['r.example', 'r.example:5000', false],
    ['r.example:5000', 'r.example:5001', false],
    ['127.0.0.1:5000', '127.0.0.1:5000', true],
    ['docker.io:5000', 'docker.io', false],
    ['evil.example', 'registry-1.docker.io', false],
  ])('%s vs %s -> %s', (a, b, expected) => {
    expect(sameRegistry(a, b)).toBe(expected);
    expect(sameRegistry(b, a)).toBe(expected);
  });

  test("a rule's upstream registry, normalized; undefined for an invalid source", () => {
    expect(ruleRegistry({ sourceRepository: 'docker.io/library/*' })).toBe('registry-1.docker.io');
    expect(ruleRegistry({ sourceRepository: 'Ghcr.IO/org/app' })).toBe('ghcr.io');
    expect(ruleRegistry({ sourceRepository: 'not a host/*' })).toBeUndefined();
  });
});
