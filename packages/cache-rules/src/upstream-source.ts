import { normalizeRegistryHost } from './docker-hub.js';
import { MAX_REPOSITORY_LENGTH, repositoryPathIssues, type RepositoryPattern } from './repository-pattern.js';

/** A parsed `sourceRepository`: `docker.io/library/node`, `docker.io/library/*`, `127.0.0.1:5001/*`. */
export interface UpstreamSource {
  /** host[:port] as the user wrote it. */
  readonly host: string;
  /** Normalized host[:port] to fetch from (lowercase, Docker Hub aliases resolved). */
  readonly registry: string;
  /** Upstream repository path; for a registry-level wildcard the prefix is ''. */
  readonly pattern: RepositoryPattern;
}

// docker/distribution reference grammar: domain name or bracketed IPv6, optional port.
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::([0-9]+))?$`);
const MAX_HOST_LENGTH = 255;

const SHAPE = 'must be registry-host[:port]/repository or registry-host[:port]/* (e.g. docker.io/library/node, docker.io/*)';

/** Docker's rule for the first path component: it is a host if it has a "." or ":" or is "localhost". */
export function looksLikeHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost';
}

export function registryHostIssues(host: string): string[] {
  if (!looksLikeHost(host)) {
    return [`must start with a registry host: "${host}" is not one (a host contains "." or ":" or is "localhost", e.g. docker.io/library/node)`];
  }
  const m = host.length <= MAX_HOST_LENGTH ? HOST.exec(host) : null;
  if (!m) return [`"${host}" is not a valid registry host[:port]`];
  const port = m[1] === undefined ? undefined : Number(m[1]);
  if (port !== undefined && (port < 1 || port > 65535)) return [`port ${m[1]} in "${host}" is out of range 1-65535`];
  return [];
}

/** Parse an upstream `sourceRepository`. Returns the source, or the problems with it. */
export function parseSourceRepository(value: string): { source?: UpstreamSource; issues: string[] } {
  if (value === '') return { issues: ['must not be empty'] };
  const slash = value.indexOf('/');
  if (slash < 0) return { issues: [SHAPE] };
  const host = value.slice(0, slash);
  const rest = value.slice(slash + 1);
  const issues = registryHostIssues(host);
  let pattern: RepositoryPattern | undefined;
  if (rest === '') {
    issues.push(`must name a repository after the host (e.g. ${host}/library/node or ${host}/*)`);
  } else if (rest === '*') {
    pattern = { path: '', wildcard: true };
  } else {
    const wildcard = rest.endsWith('/*');
    const path = wildcard ? rest.slice(0, -2) : rest;
    const pathIssues = repositoryPathIssues(path);
    if (path.length > MAX_REPOSITORY_LENGTH) pathIssues.push(`repository path must be at most ${MAX_REPOSITORY_LENGTH} characters`);
    issues.push(...pathIssues);
    if (pathIssues.length === 0) pattern = { path, wildcard };
  }
  if (issues.length > 0 || !pattern) return { issues };
  return { source: { host, registry: normalizeRegistryHost(host), pattern }, issues };
}

/** Is this source's host one of ours (case-insensitive, Docker Hub aliases resolved on both sides)? */
export function isSelfHost(source: UpstreamSource, selfHosts: readonly string[]): boolean {
  return selfHosts.some((h) => normalizeRegistryHost(h) === source.registry);
}
