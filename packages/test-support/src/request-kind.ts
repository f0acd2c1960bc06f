export type RequestKind = 'manifest' | 'blob' | 'tags' | 'base' | 'other';

export interface ClassifiedPath {
  kind: RequestKind;
  repository?: string;
  /** Tag or digest for manifests, digest for blobs. */
  reference?: string;
}

const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/**
 * What an OCI distribution request is about, from its path (query ignored).
 * Blob uploads (`/blobs/uploads/...`) and referrers are `other`, with their repository.
 */
export function classifyRequest(rawPath: string): ClassifiedPath {
  const path = rawPath.split('?')[0]!;
  if (path === '/v2' || path === '/v2/') return { kind: 'base' };
  if (!path.startsWith('/v2/')) return { kind: 'other' };
  // A name may itself have a `blobs` or `manifests` component: try each split point, longest name first.
  const splits = [...path.matchAll(/\/(manifests|blobs|tags|referrers)(?=\/)/g)].reverse();
  for (const split of splits) {
    const repository = path.slice(4, split.index);
    const resource = split[1]!;
    const rest = path.slice(split.index + split[0].length + 1);
    if (!repository) continue;
    if (resource === 'manifests' && rest && !rest.includes('/')) return { kind: 'manifest', repository, reference: decodeURIComponent(rest) };
    if (resource === 'blobs' && DIGEST.test(rest)) return { kind: 'blob', repository, reference: rest };
    if (resource === 'blobs' && (rest === 'uploads' || rest.startsWith('uploads/'))) return { kind: 'other', repository };
    if (resource === 'tags' && rest === 'list') return { kind: 'tags', repository };
    if (resource === 'referrers' && DIGEST.test(rest)) return { kind: 'other', repository, reference: rest };
  }
  return { kind: 'other' };
}
