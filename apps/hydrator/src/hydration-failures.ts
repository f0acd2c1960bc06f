import type { HydrationFailure, HydrationFailureCategory } from '@pullthrough/hydration-jobs';
import { RegistryError } from '@pullthrough/oci';

/** The upstream does not have it: retrying will not change that. */
const NOT_FOUND = new Set(['MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'NAME_UNKNOWN']);
/** Permanent on the first occurrence. UPSTREAM_AUTH and DIGEST_MISMATCH become permanent on their second (see the processor). */
const PERMANENT = new Set([...NOT_FOUND, 'MANIFEST_INVALID', 'RULE_CONFIG', 'EGRESS_DENIED', 'JOB_RULE_MISMATCH']);

export const codeOf = (err: unknown): string => (err instanceof RegistryError ? err.code : 'UNKNOWN');

const SECOND_OCCURRENCE = new WeakSet<object>();

/** Mark an error as permanent because it happened again after a second chance (refresh, re-walk). */
export function markPermanent<T>(err: T): T {
  if (typeof err === 'object' && err !== null) SECOND_OCCURRENCE.add(err);
  return err;
}

export function isPermanent(err: unknown): boolean {
  return PERMANENT.has(codeOf(err)) || (typeof err === 'object' && err !== null && SECOND_OCCURRENCE.has(err));
}

/** Seconds the upstream asked us to wait (429/503 Retry-After, or an open breaker), if any. */
export function retryAfterOf(err: unknown): number | undefined {
  if (!(err instanceof RegistryError)) return undefined;
  if (err.code !== 'UPSTREAM_THROTTLED' && err.code !== 'UPSTREAM_UNAVAILABLE') return undefined;
  return err.retryAfterSeconds;
}

export function failureOf(err: unknown): HydrationFailure {
  const code = codeOf(err);
  const message = err instanceof Error ? err.message : String(err);
  let category: HydrationFailureCategory = 'hydration';
  if (NOT_FOUND.has(code)) category = 'upstream-not-found';
  else if (err instanceof RegistryError && err.category) category = err.category;
  return { code, category, message };
}
