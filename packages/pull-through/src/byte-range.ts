import { RangeInvalidError } from '@pullthrough/oci';

/** A parsed single-range `Range` header: `bytes=a-b`, `bytes=a-` or `bytes=-n`. */
export type RangeRequest = { start: number; end?: number } | { suffix: number };
export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

const RANGE = /^bytes=(\d*)-(\d*)$/;

/** Parse a Range header; undefined when absent. Multiple ranges or bad syntax are 416 like distribution. */
export function parseRangeHeader(header: string | undefined): RangeRequest | undefined {
  if (header === undefined || header === '') return undefined;
  const m = RANGE.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) throw new RangeInvalidError('invalid or multiple ranges', { detail: { range: header.slice(0, 100) } });
  if (m[1] === '') return { suffix: Number(m[2]) };
  const start = Number(m[1]);
  if (m[2] === '') return { start };
  const end = Number(m[2]);
  if (end < start) throw new RangeInvalidError('range end before start', { detail: { range: header.slice(0, 100) } });
  return { start, end };
}

/** Resolve a range against the blob size; unsatisfiable -> RangeInvalidError (416). */
export function resolveRange(request: RangeRequest, size: number): ByteRange {
  if ('suffix' in request) {
    if (request.suffix === 0 || size === 0) throw new RangeInvalidError('range not satisfiable', { detail: { size }, size });
    return { start: Math.max(0, size - request.suffix), end: size - 1 };
  }
  if (request.start >= size) throw new RangeInvalidError('range not satisfiable', { detail: { size }, size });
  return { start: request.start, end: Math.min(request.end ?? size - 1, size - 1) };
}
