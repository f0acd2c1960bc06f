/** OCI distribution-spec grammar for one repository path component. */
export const REPOSITORY_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
/** Longest repository name the distribution spec lets registries rely on. */
export const MAX_REPOSITORY_LENGTH = 255;

/**
 * A repository path, either static (`dockerhub/library/node`) or a trailing wildcard
 * (`dockerhub/*`, stored as prefix `dockerhub`). A source's registry-level wildcard has prefix ''.
 */
export interface RepositoryPattern {
  readonly path: string;
  readonly wildcard: boolean;
}

export function isRepositoryPath(path: string): boolean {
  return path.length > 0 && path.length <= MAX_REPOSITORY_LENGTH && path.split('/').every((c) => REPOSITORY_COMPONENT.test(c));
}

/** Problems with a `/`-separated path (no wildcard in it): one message per bad component. */
export function repositoryPathIssues(path: string): string[] {
  const issues: string[] = [];
  for (const component of path.split('/')) {
    if (component === '') {
      if (!issues.includes(EMPTY_COMPONENT)) issues.push(EMPTY_COMPONENT);
    } else if (component.includes('*')) {
      if (!issues.includes(WILDCARD_NOT_LAST)) issues.push(WILDCARD_NOT_LAST);
    } else if (!REPOSITORY_COMPONENT.test(component)) {
      issues.push(
        `path component "${component}" is invalid: use lowercase letters and digits, separated by ".", "_", "__" or "-"`,
      );
    }
  }
  return issues;
}

const EMPTY_COMPONENT = 'must not contain an empty path component (leading, trailing or double "/")';
const WILDCARD_NOT_LAST = 'a wildcard is only allowed as a whole last path component ("prefix/*")';

export function hasTrailingWildcard(value: string): boolean {
  return value === '*' || value.endsWith('/*');
}

/** Parse a downstream `targetRepository`. Returns the pattern, or the problems with it. */
export function parseTargetRepository(value: string): { pattern?: RepositoryPattern; issues: string[] } {
  if (value === '') return { issues: ['must not be empty'] };
  if (value === '*') return { issues: ['"*" alone is not allowed: a wildcard needs a prefix (e.g. dockerhub/*)'] };
  if (value.length > MAX_REPOSITORY_LENGTH) return { issues: [`must be at most ${MAX_REPOSITORY_LENGTH} characters`] };
  const wildcard = value.endsWith('/*');
  const path = wildcard ? value.slice(0, -2) : value;
  const issues = repositoryPathIssues(path);
  return issues.length > 0 ? { issues } : { pattern: { path, wildcard }, issues };
}

/**
 * What `repository` adds to the pattern: '' for an exact static match, the remainder for a
 * wildcard (`dockerhub/*` + `dockerhub/x/y` -> `x/y`), undefined when it does not match.
 * A wildcard never matches its bare prefix (`dockerhub/*` does not match `dockerhub`).
 */
export function matchRepositoryPattern(pattern: RepositoryPattern, repository: string): string | undefined {
  if (!pattern.wildcard) return repository === pattern.path ? '' : undefined;
  if (pattern.path === '') return repository === '' ? undefined : repository;
  const prefix = `${pattern.path}/`;
  return repository.startsWith(prefix) && repository.length > prefix.length ? repository.slice(prefix.length) : undefined;
}

/** Two wildcard prefixes overlap when one contains the other, component-wise (`a` and `a/b`, not `a` and `ab`). */
export function wildcardPrefixesOverlap(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

export function joinRepositoryPath(prefix: string, rest: string): string {
  if (prefix === '') return rest;
  return rest === '' ? prefix : `${prefix}/${rest}`;
}

export function formatPattern(pattern: RepositoryPattern): string {
  if (!pattern.wildcard) return pattern.path;
  return pattern.path === '' ? '*' : `${pattern.path}/*`;
}
