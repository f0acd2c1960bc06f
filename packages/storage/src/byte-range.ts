import { RangeInvalidError } from '@pullthrough/oci';
import type { ByteRange } from './storage-driver.js';

/**
 * Check a requested range against an object's size and clamp its end (HTTP semantics).
 * Throws RangeInvalidError when it is malformed or starts at or past the end of the object.
 */
export function resolveByteRange(range: ByteRange, size: number): ByteRange {
  const { start, end } = range;
  const detail = { start, end, size };
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeInvalidError('malformed byte range', { detail });
  }
  if (start >= size) throw new RangeInvalidError('byte range starts past the end of the object', { detail });
  return { start, end: Math.min(end, size - 1) };
}
