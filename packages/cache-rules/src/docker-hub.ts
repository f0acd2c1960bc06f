/** Where Docker Hub is actually fetched from; `docker.io` is only a name. */
export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io';

const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set(['docker.io', 'index.docker.io', DOCKER_HUB_REGISTRY]);

/**
 * The host[:port] to fetch from: lowercased, with Docker Hub's aliases (`docker.io`,
 * `index.docker.io`) mapped to `registry-1.docker.io`.
 */
export function normalizeRegistryHost(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB_REGISTRY : lower;
}

/**
 * Do two host[:port] names name the same registry? Case-insensitive, Docker Hub's aliases are one
 * registry, ports are significant (`r.example` and `r.example:5000` differ). A credential set may
 * be used only by rules whose upstream is the same registry as its `loginServer`.
 */
export function sameRegistry(a: string, b: string): boolean {
  return normalizeRegistryHost(a.replace(/\.$/, '')) === normalizeRegistryHost(b.replace(/\.$/, ''));
}

export function isDockerHub(registry: string): boolean {
  return normalizeRegistryHost(registry) === DOCKER_HUB_REGISTRY;
}

/** Docker Hub's official images live under `library/`: `node` -> `library/node`. Other registries: unchanged. */
export function upstreamRepositoryFor(registry: string, repository: string): string {
  return isDockerHub(registry) && !repository.includes('/') ? `library/${repository}` : repository;
}

/**
 * Inverse of the `library/` rule: the short name a registry-level Docker Hub wildcard serves
 * `library/node` under (`node`), or undefined when there is no short form.
 */
export function shortDockerHubName(registry: string, repository: string): string | undefined {
  if (!isDockerHub(registry) || !repository.startsWith('library/')) return undefined;
  const rest = repository.slice('library/'.length);
  return rest.includes('/') ? undefined : rest;
}
