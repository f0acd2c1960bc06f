import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CredentialLookupError } from '@pullthrough/oci';
import {
  DATA_DIR_ISSUE,
  DEFAULT_SECRET_POLICY,
  isAtOrInside,
  isInsideDir,
  PLATFORM_CREDENTIAL_DIRS,
  PLATFORM_CREDENTIAL_ISSUE,
  secretReferenceIssue,
  type SecretReferencePolicy } from './secret-reference-policy.js';

/**
 * Reads one secret by reference. Errors say what went wrong (`reason` in their detail) but never
 * repeat the reference nor a value: the caller names the credential set and the field.
 */
export interface SecretResolver {
  resolve(reference: string): Promise<string>;
}

/** A lookup failure that names neither the reference nor a path. */
export function secretLookupError(reason: string, message: string, cause?: Error): CredentialLookupError {
  return new CredentialLookupError(message, { detail: { reason }, ...(cause ? { cause } : {}) });
}

/** Refuse a value over the policy's size limit. */
export function checkSecretSize(value: string, policy: SecretReferencePolicy): string {
  if (Buffer.byteLength(value, 'utf8') > policy.maxSecretBytes) {
    throw secretLookupError('secret-too-large', `the secret is larger than ${policy.maxSecretBytes} bytes: refused`);
  }
  return value;
}

/**
 * `env:NAME` (from the environment object handed in at start) and `file:/path` references, for
 * machines without Azure, within the operator's policy: env names with its prefix, files whose
 * real path (symlinks and `..` resolved) lies inside an allowed directory, values within the size
 * limit. A file value is trimmed of one trailing newline.
 */
export class LocalSecretResolver implements SecretResolver {
  constructor(
    private readonly env: Record<string, string | undefined>,
    private readonly policy: SecretReferencePolicy = DEFAULT_SECRET_POLICY,
  ) {}

  async resolve(reference: string): Promise<string> {
    const issue = secretReferenceIssue(reference, this.policy);
    if (issue !== null) throw secretLookupError('reference-not-allowed', `the secret reference is not allowed: ${issue}`);
    if (reference.startsWith('env:')) {
      const value = this.env[reference.slice(4)];
      if (value === undefined || value === '') throw secretLookupError('env-unset', 'the environment variable is not set');
      return checkSecretSize(value, this.policy);
    }
    if (reference.startsWith('file:')) return this.readFile(reference.slice(5));
    throw secretLookupError('unknown-scheme', 'no resolver for this kind of secret reference');
  }

  private async readFile(path: string): Promise<string> {
    let real: string;
    try {
      real = await realpath(path);
    } catch (err) {
      throw secretLookupError('file-unreadable', `the file cannot be read (${codeOf(err)})`);
    }
    const refused = await refusedRealPathIssue(real, this.policy);
    if (refused !== null) throw secretLookupError('reference-not-allowed', `the file is refused: ${refused}`);
    if (!(await insideAllowedDir(real, this.policy))) throw secretLookupError('reference-not-allowed', `the file ${ESCAPES}: refused`);
    // O_NOFOLLOW: the checked real path is opened, not a symlink swapped in since; O_NONBLOCK: a FIFO cannot hang us.
    let handle;
    try {
      handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      throw secretLookupError('file-unreadable', `the file cannot be read (${codeOf(err)})`);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw secretLookupError('file-unreadable', 'the reference is not a regular file');
      if (st.size > this.policy.maxSecretBytes + 2) throw secretLookupError('secret-too-large', `the secret is larger than ${this.policy.maxSecretBytes} bytes: refused`);
      const buffer = Buffer.alloc(this.policy.maxSecretBytes + 3);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      const value = buffer.subarray(0, bytesRead).toString('utf8').replace(/\r?\n$/, '');
      return checkSecretSize(value, this.policy);
    } finally {
      await handle.close();
    }
  }

}

const ESCAPES = 'resolves (through a symlink) outside the directories the operator allows (PULLTHROUGH_SECRET_FILE_DIRS)';

/** Allowed directories are compared by their own real paths (`/var/run` is often a link to `/run`). */
async function insideAllowedDir(real: string, policy: SecretReferencePolicy): Promise<boolean> {
  for (const dir of policy.fileDirs) {
    const realDir = await realpath(resolve(dir)).catch(() => undefined);
    if (realDir !== undefined && isInsideDir(real, realDir)) return true;
  }
  return false;
}

/**
 * Platform credentials and the data directory, judged on the real path and against the real paths
 * of those directories too (a link inside an allowed directory, `/var/run` -> `/run`).
 */
async function refusedRealPathIssue(real: string, policy: SecretReferencePolicy): Promise<string | null> {
  const withRealPaths = async (dirs: readonly string[]) => [...dirs, ...(await Promise.all(dirs.map((d) => realpath(resolve(d)).catch(() => resolve(d)))))];
  if (isAtOrInside(real, await withRealPaths(PLATFORM_CREDENTIAL_DIRS))) return PLATFORM_CREDENTIAL_ISSUE;
  if (isAtOrInside(real, await withRealPaths(policy.refusedDirs ?? []))) return DATA_DIR_ISSUE;
  return null;
}

/**
 * Save-time check of a `file:` reference's real path, without reading the file: a reference that
 * exists and resolves outside the allowed directories is refused (null: fine, or not there yet -
 * it is checked again whenever it is read).
 */
export async function fileReferenceIssue(reference: string, policy: SecretReferencePolicy): Promise<string | null> {
  if (!reference.startsWith('file:')) return null;
  const real = await realpath(reference.slice(5)).catch(() => undefined);
  if (real === undefined) return null;
  const refused = await refusedRealPathIssue(real, policy);
  if (refused !== null) return refused;
  if (await insideAllowedDir(real, policy)) return null;
  return `file: references must not ${ESCAPES.replace('resolves', 'resolve')}`;
}

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? 'error';
}
