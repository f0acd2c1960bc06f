import { describeAnswer, type Answer } from './raw-http.js';
import { SPEC_ERROR_CODES } from './conformance/conformance-client.js';

// The distribution spec's grammar and error body, written here from the spec (not imported from the code under test).

/** distribution-spec name: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*` */
const SPEC_NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const SPEC_TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const SPEC_DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
/** The spec's error codes, plus distribution's errcode extensions this registry uses. */
export const OCI_ERROR_CODES = new Set<string>([
  ...SPEC_ERROR_CODES,
  'TAG_INVALID',
  'RANGE_INVALID',
  'PAGINATION_NUMBER_INVALID',
  'UNAVAILABLE',
]);

/** A name as sent on the wire: `%2F` is a slash (the Azure SDK sends it), nothing else is decoded. */
export const specName = (name: string) => name.length > 0 && SPEC_NAME.test(name.replace(/%2f/gi, '/'));
export function specReference(raw: string): boolean {
  let ref: string;
  try {
    ref = decodeURIComponent(raw);
  } catch {
    return false;
  }
  return SPEC_TAG.test(ref) || SPEC_DIGEST.test(ref);
}

/** A data-plane 4xx/5xx GET body: `{"errors":[{"code": <spec code>, "message": string, ...}]}` as JSON. */
export function expectOciError(a: Answer, codes: Set<string> = OCI_ERROR_CODES): string[] {
  if (!/^application\/json\b/.test(String(a.headers['content-type']))) throw new Error(`not a JSON error: ${describeAnswer(a)}`);
  const doc = JSON.parse(a.body.toString('utf8')) as { errors?: unknown };
  if (!Array.isArray(doc.errors) || doc.errors.length === 0) throw new Error(`no errors array: ${describeAnswer(a)}`);
  return doc.errors.map((e: unknown) => {
    const entry = e as { code?: unknown; message?: unknown };
    if (typeof entry.code !== 'string' || !codes.has(entry.code)) throw new Error(`unexpected error code: ${describeAnswer(a)}`);
    if (typeof entry.message !== 'string') throw new Error(`error without a message: ${describeAnswer(a)}`);
    return entry.code;
  });
}

export function expectNo5xx(a: Answer, what: string): void {
  if (a.status >= 500 || a.status < 100) throw new Error(`${what} answered ${describeAnswer(a)}`);
}
