/**
 * Parse an HTTP `Retry-After` value: delay-seconds or an HTTP date. Returns whole seconds from
 * `now` (never negative), or undefined when the header is absent or unparseable.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  // HTTP dates (IMF-fixdate, RFC 850, asctime) all start with a day name; Date.parse alone is too lenient.
  if (!/^[A-Za-z]{3}/.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}
