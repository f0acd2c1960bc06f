import {
  TagInvalidError,
  digestAlgorithm,
  digestHex,
  isTag,
  parseDigest,
  parseRepositoryName,
  type Digest,
} from '@pullthrough/oci';
import { ControlKeyInvalidError } from './control-key-invalid-error.js';

/**
 * Where the registry keeps things in a StorageDriver (distribution's `paths.go`). Every builder
 * validates its inputs again, so nothing a caller passes can address anything outside its slot.
 */

export const REPOSITORIES_ROOT = 'repositories';
export const CONTROL_ROOT = 'control';

function digestParts(digest: string): { alg: string; hex: string } {
  const d = parseDigest(digest);
  return { alg: digestAlgorithm(d), hex: digestHex(d) };
}

export function repositoryPath(repository: string): string {
  return `${REPOSITORIES_ROOT}/${parseRepositoryName(repository)}`;
}

export function checkTag(tag: string): string {
  if (!isTag(tag)) throw new TagInvalidError('invalid tag', { detail: { tag: String(tag).slice(0, 200) } });
  return tag;
}

/** Where every blob is kept, shared by every repository. */
export const BLOBS_ROOT = 'blobs';

/** The prefix holding one blob (`blobs/<alg>/<first two hex>/<hex>`): its data and nothing else. */
export function blobPrefix(digest: Digest): string {
  const { alg, hex } = digestParts(digest);
  return `${BLOBS_ROOT}/${alg}/${hex.slice(0, 2)}/${hex}`;
}

/** `blobs/<alg>/<first two hex>/<hex>/data`, shared by every repository. */
export function blobDataPath(digest: Digest): string {
  return `${blobPrefix(digest)}/data`;
}

export function layerLinkPath(repository: string, digest: Digest): string {
  const { alg, hex } = digestParts(digest);
  return `${repositoryPath(repository)}/_layers/${alg}/${hex}/link`;
}

export function manifestRevisionsPath(repository: string): string {
  return `${repositoryPath(repository)}/_manifests/revisions`;
}

export function manifestRevisionLinkPath(repository: string, digest: Digest): string {
  const { alg, hex } = digestParts(digest);
  return `${manifestRevisionsPath(repository)}/${alg}/${hex}/link`;
}

export function tagsPath(repository: string): string {
  return `${repositoryPath(repository)}/_manifests/tags`;
}

export function tagPath(repository: string, tag: string): string {
  return `${tagsPath(repository)}/${checkTag(tag)}`;
}

export function tagCurrentLinkPath(repository: string, tag: string): string {
  return `${tagPath(repository, tag)}/current/link`;
}

export function referrersPath(repository: string, subject: Digest): string {
  const { alg, hex } = digestParts(subject);
  return `${repositoryPath(repository)}/_referrers/${alg}/${hex}`;
}

export function referrerPath(repository: string, subject: Digest, referrer: Digest): string {
  const { alg, hex } = digestParts(referrer);
  return `${referrersPath(repository, subject)}/${alg}/${hex}`;
}

const CONTROL_KIND = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const CONTROL_NAME = /^[A-Za-z0-9_-](?:[A-Za-z0-9._-]{0,198}[A-Za-z0-9_-])?$/;

export function controlKindPath(kind: string): string {
  if (typeof kind !== 'string' || kind.length > 64 || !CONTROL_KIND.test(kind)) {
    throw new ControlKeyInvalidError('invalid control kind', { detail: { kind: String(kind).slice(0, 100) } });
  }
  return `${CONTROL_ROOT}/${kind}`;
}

/** `control/<kind>/<name>.json`; names are `[A-Za-z0-9._-]`, not starting or ending with `.`. */
export function controlPath(kind: string, name: string): string {
  const dir = controlKindPath(kind);
  if (typeof name !== 'string' || !CONTROL_NAME.test(name)) {
    throw new ControlKeyInvalidError('invalid control name', { detail: { kind, name: String(name).slice(0, 300) } });
  }
  return `${dir}/${name}.json`;
}
