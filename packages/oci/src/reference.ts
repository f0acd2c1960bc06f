import { isDigest, parseDigest, type Digest } from './digest.js';
import { NameInvalidError, TagInvalidError } from './errors.js';

/** distribution-spec repository name grammar, per path component. */
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
export const MAX_NAME_LENGTH = 255;

export function isRepositoryName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) return false;
  return name.split('/').every((c) => COMPONENT.test(c));
}

/** Validate a repository name; throws NameInvalidError (never lets `..`, `%2F` or uppercase through). */
export function parseRepositoryName(name: string): string {
  if (isRepositoryName(name)) return name;
  const why = name.length > MAX_NAME_LENGTH ? `longer than ${MAX_NAME_LENGTH} characters` : 'does not match the repository name grammar';
  throw new NameInvalidError(`invalid repository name: ${why}`, { detail: { name: name.slice(0, 300) } });
}

export function isTag(value: string): boolean {
  return TAG.test(value);
}

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

/** A manifest reference is a tag or a digest. */
export function parseReference(value: string): Reference {
  if (value.includes(':')) return { kind: 'digest', digest: parseDigest(value) };
  if (isTag(value)) return { kind: 'tag', tag: value };
  throw new TagInvalidError('invalid tag', { detail: { tag: value.slice(0, 200) } });
}

export function referenceString(ref: Reference): string {
  return ref.kind === 'tag' ? ref.tag : ref.digest;
}

export { isDigest };
