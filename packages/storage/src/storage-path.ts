import { RegistryError } from '@pullthrough/oci';

/**
 * A storage key was malformed. Callers validate names before they build paths, so this is a
 * bug, never client input: the code is deliberately absent from the wire table (UNKNOWN 500).
 */
export class StoragePathError extends RegistryError {
  readonly code = 'STORAGE_PATH_INVALID';
}

/** Top-level area where drivers keep temporary (uncommitted) objects. Not addressable by callers. */
export const UPLOADS_AREA = '_uploads';

const MAX_PATH_LENGTH = 4096;

/**
 * Validate a `/`-separated relative storage key and return its segments.
 * Rejects empty, `.` and `..` segments (so also leading, trailing and doubled `/`), backslashes,
 * NUL and control characters, and the reserved uploads area. `allowRoot` admits `''` (list only).
 */
export function storagePathSegments(path: string, options: { allowRoot?: boolean } = {}): string[] {
  if (typeof path !== 'string') throw new StoragePathError('storage path must be a string');
  if (path === '' && options.allowRoot) return [];
  const reject = (why: string): never => {
    throw new StoragePathError(`invalid storage path: ${why}`, { detail: { path: path.slice(0, 300) } });
  };
  if (path.length === 0) reject('empty');
  if (path.length > MAX_PATH_LENGTH) reject('too long');
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(path)) reject('backslash or control character');
  const segments = path.split('/');
  for (const segment of segments) {
    if (segment === '') reject('empty segment (absolute path, trailing or doubled "/")');
    if (segment === '.' || segment === '..') reject('relative segment');
  }
  if (segments[0] === UPLOADS_AREA) reject(`"${UPLOADS_AREA}" is reserved`);
  return segments;
}

/** Validate a storage key and return it unchanged. */
export function checkStoragePath(path: string): string {
  storagePathSegments(path);
  return path;
}

const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Is this a resumable upload's id (a lowercase UUID, as createUpload makes)? */
export function isUploadId(id: string): boolean {
  return typeof id === 'string' && UPLOAD_ID.test(id);
}

/** Validate an upload id (it becomes a name in the uploads area) and return it unchanged. */
export function checkUploadId(id: string): string {
  if (!isUploadId(id)) throw new StoragePathError('invalid upload id', { detail: { id: String(id).slice(0, 100) } });
  return id;
}
