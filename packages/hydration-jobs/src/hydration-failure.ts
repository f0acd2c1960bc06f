/**
 * Why a hydration job failed for good, recorded in the job's `failedReason` as
 * `CODE [category]: message` so the status API can show both without a second store.
 */
export type HydrationFailureCategory =
  | 'rule-config'
  | 'credential-lookup'
  | 'upstream-auth'
  | 'upstream-not-found'
  | 'upstream-unavailable'
  | 'upstream-throttled'
  | 'digest-mismatch'
  | 'invalid-job'
  | 'hydration';

export interface HydrationFailure {
  code: string;
  category: HydrationFailureCategory;
  message: string;
}

export function formatHydrationFailure(f: HydrationFailure): string {
  return `${f.code} [${f.category}]: ${f.message}`;
}

const FORMAT = /^([A-Z_]+) \[([a-z-]+)\]: ([\s\S]*)$/;

/** Read a failedReason back; reasons not written by formatHydrationFailure (e.g. a stalled job) are `hydration`. */
export function parseHydrationFailure(reason: string | undefined): HydrationFailure {
  const m = FORMAT.exec(reason ?? '');
  if (!m) return { code: 'UNKNOWN', category: 'hydration', message: reason ?? 'unknown failure' };
  return { code: m[1]!, category: m[2] as HydrationFailureCategory, message: m[3]! };
}
