import { isDockerHub, normalizeRegistryHost, shortDockerHubName, upstreamRepositoryFor } from './docker-hub.js';

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
