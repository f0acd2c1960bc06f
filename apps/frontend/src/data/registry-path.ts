import { NameInvalidError, parseRepositoryName } from '@pullthrough/oci';

export type RegistryRoute =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string }
  /** `/blobs/uploads/` (start), or `/blobs/uploads/<session>` (a session's id, as sent). */
  | { kind: 'upload'; name: string; session?: string };

/**
 * Parse a /v2 path. Repository names contain slashes, so routing is done here rather than by
 * express patterns. The raw (undecoded) path is used: a name with `..`, uppercase or any encoded
 * character other than `%2F` fails the name grammar and never reaches storage or an upstream.
 */
export function parseRegistryPath(rawPath: string): RegistryRoute | undefined {
  if (rawPath === '/v2' || rawPath === '/v2/') return { kind: 'base' };
  if (rawPath === '/v2/_catalog') return { kind: 'catalog' };
  if (!rawPath.startsWith('/v2/')) return undefined;
  const rest = rawPath.slice(4);
  const m = /^(.+)\/(manifests|blobs|tags|referrers)\/(.*)$/.exec(rest);
  if (!m) {
    return rest.length > 0 ? undefined : { kind: 'base' };
  }
  const [, rawName, resource, tail] = m as unknown as [string, string, string, string];
  if (resource === 'blobs' && (tail === 'uploads' || tail.startsWith('uploads/'))) {
    const session = tail.slice('uploads/'.length);
    return session === '' ? { kind: 'upload', name: checkName(rawName) } : { kind: 'upload', name: checkName(rawName), session: decodeSegment(session) };
  }
  const name = checkName(rawName);
  switch (resource) {
    case 'manifests':
      return { kind: 'manifest', name, reference: decodeSegment(tail) };
    case 'blobs':
      return { kind: 'blob', name, digest: decodeSegment(tail) };
    case 'referrers':
      return { kind: 'referrers', name, digest: decodeSegment(tail) };
    default:
      return tail === 'list' ? { kind: 'tags', name } : undefined;
  }
}

/**
 * `%2F` in a name is a slash: the Azure SDK (`@azure/container-registry`) sends `team%2Fapp`, which ACR
 * and distribution (routing on the decoded path) accept. The decoded name then passes the grammar like
 * any other; every other encoded character is refused.
 */
function checkName(raw: string): string {
  const name = raw.replace(/%2f/gi, '/');
  if (name.includes('%')) throw new NameInvalidError('invalid repository name: encoded characters are not allowed', { detail: { name: raw.slice(0, 300) } });
  return parseRepositoryName(name);
}

/** References are single segments; `sha256%3A...` is tolerated, an encoded slash is not. */
function decodeSegment(segment: string): string {
  if (segment.includes('/') || /%2f/i.test(segment)) return '\u0000invalid';
  try {
    return decodeURIComponent(segment);
  } catch {
    return '\u0000invalid';
  }
}

/** The route's pattern, as the audit log names it. */
export function routePattern(route: RegistryRoute): string {
  switch (route.kind) {
    case 'base':
      return '/v2/';
    case 'catalog':
      return '/v2/_catalog';
    case 'manifest':
      return '/v2/:name/manifests/:reference';
    case 'blob':
      return '/v2/:name/blobs/:digest';
    case 'tags':
      return '/v2/:name/tags/list';
    case 'referrers':
      return '/v2/:name/referrers/:digest';
    case 'upload':
      return route.session === undefined ? '/v2/:name/blobs/uploads/' : '/v2/:name/blobs/uploads/:session';
  }
}
