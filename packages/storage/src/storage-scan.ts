import { isDigest, isRepositoryName, type Digest } from '@pullthrough/oci';
import type { StorageDriver } from './storage-driver.js';
import { BLOBS_ROOT, REPOSITORIES_ROOT } from './store-layout.js';

/** A committed blob object (`blobs/<alg>/<xx>/<hex>/data`). */
export interface StoredBlob {
  digest: Digest;
  size: number;
  modifiedAt: Date;
}

/** One per-repository link: a blob link (`_layers`) or a manifest revision link (`_manifests/revisions`). */
export interface RepositoryLink {
  repository: string;
  digest: Digest;
  kind: 'layer' | 'revision';
  /** Storage key of the link object. */
  path: string;
  modifiedAt: Date;
}

/** What one repository holds, as links (the blobs themselves are shared). */
export interface RepositoryContents {
  repository: string;
  layers: RepositoryLink[];
  revisions: RepositoryLink[];
  /** Manifests recorded as referrers of some subject (`_referrers/<alg>/<subject>/<alg>/<hex>`). */
  referrers: Digest[];
  tags: number;
}

/** Every committed blob, by digest (one walk of `blobs/`: a listing per page on an object store). */
export async function scanBlobs(driver: StorageDriver): Promise<Map<Digest, StoredBlob>> {
  const blobs = new Map<Digest, StoredBlob>();
  for await (const entry of driver.walk(BLOBS_ROOT)) {
    const parts = entry.path.split('/');
    if (parts.length !== 5 || parts[4] !== 'data') continue;
    const digest = `${parts[1]}:${parts[3]}`;
    if (!isDigest(digest) || parts[3]!.slice(0, 2) !== parts[2]) continue;
    blobs.set(digest, { digest, size: entry.size, modifiedAt: entry.modifiedAt });
  }
  return blobs;
}

/**
 * Every repository's links and tag count (one walk of `repositories/`). A repository's own parts
 * start with `_` (repository name components never do), so nested repositories are told apart.
 */
export async function scanRepositories(driver: StorageDriver): Promise<Map<string, RepositoryContents>> {
  const repositories = new Map<string, RepositoryContents>();
  const contentsOf = (repository: string): RepositoryContents => {
    let c = repositories.get(repository);
    if (!c) repositories.set(repository, (c = { repository, layers: [], revisions: [], referrers: [], tags: 0 }));
    return c;
  };
  for await (const entry of driver.walk(REPOSITORIES_ROOT)) {
    const parts = entry.path.split('/').slice(1);
    const own = parts.findIndex((p) => p.startsWith('_'));
    if (own <= 0) continue;
    const repository = parts.slice(0, own).join('/');
    if (!isRepositoryName(repository)) continue;
    const rest = parts.slice(own);
    const link = (kind: RepositoryLink['kind'], alg: string, hex: string) => {
      const digest = `${alg}:${hex}`;
      if (!isDigest(digest)) return;
      (kind === 'layer' ? contentsOf(repository).layers : contentsOf(repository).revisions).push({ repository, digest, kind, path: entry.path, modifiedAt: entry.modifiedAt });
    };
    if (rest[0] === '_layers' && rest.length === 4 && rest[3] === 'link') link('layer', rest[1]!, rest[2]!);
    else if (rest[0] === '_manifests' && rest[1] === 'revisions' && rest.length === 5 && rest[4] === 'link') link('revision', rest[2]!, rest[3]!);
    else if (rest[0] === '_manifests' && rest[1] === 'tags' && rest.length === 5 && rest[3] === 'current' && rest[4] === 'link') contentsOf(repository).tags++;
    else if (rest[0] === '_referrers' && rest.length === 5) {
      const digest = `${rest[3]}:${rest[4]}`;
      if (isDigest(digest)) contentsOf(repository).referrers.push(digest);
    }
  }
  return repositories;
}
