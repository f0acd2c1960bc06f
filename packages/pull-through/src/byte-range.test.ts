import { RangeInvalidError } from '@pullthrough/oci';
import { parseRangeHeader, resolveRange, type RangeRequest } from './byte-range.js';

describe('parseRangeHeader', () => {
  it.each<[string | undefined, RangeRequest | undefined]>([
    [undefined, undefined],
    ['', undefined],
    ['bytes=0-0', { start: 0, end: 0 }],
    ['bytes=0-99', { start: 0, end: 99 }],
    ['bytes=10-', { start: 10 }],
    ['bytes=-5', { suffix: 5 }],
    ['bytes=-0', { suffix: 0 }],
    [' bytes=3-7 ', { start: 3, end: 7 }],
  ])('accepts %p', (header, expected) => {
    expect(parseRangeHeader(header)).toEqual(expected);
  });

  it.each([
    ['multiple ranges', 'bytes=0-1,4-5'],
    ['end before start', 'bytes=5-4'],
    ['no numbers', 'bytes=-'],
    ['other unit', 'items=0-1'],
    ['missing unit', '0-1'],
    ['negative start', 'bytes=-1-2'],
    ['not a number', 'bytes=a-b'],
    ['blank', '   '],
  ])('rejects %s (%p) with 416', (_why, header) => {
    expect(() => parseRangeHeader(header)).toThrow(RangeInvalidError);
  });
});

describe('resolveRange', () => {
  it.each<[string, RangeRequest, number, { start: number; end: number }]>([
    ['closed range', { start: 2, end: 5 }, 10, { start: 2, end: 5 }],
    ['first byte', { start: 0, end: 0 }, 10, { start: 0, end: 0 }],
    ['end past the size clamps', { start: 8, end: 100 }, 10, { start: 8, end: 9 }],
    ['open range', { start: 4 }, 10, { start: 4, end: 9 }],
    ['last byte', { start: 9 }, 10, { start: 9, end: 9 }],
    ['suffix', { suffix: 3 }, 10, { start: 7, end: 9 }],
    ['suffix of exactly the size', { suffix: 10 }, 10, { start: 0, end: 9 }],
    ['suffix larger than the size clamps', { suffix: 50 }, 10, { start: 0, end: 9 }],
  ])('%s', (_why, request, size, expected) => {
    expect(resolveRange(request, size)).toEqual(expected);
  });

  it.each<[string, RangeRequest, number]>([
    ['start equal to the size', { start: 10 }, 10],
    ['start past the size', { start: 11, end: 20 }, 10],
    ['suffix 0', { suffix: 0 }, 10],
    ['any range of an empty blob', { start: 0 }, 0],
    ['suffix of an empty blob', { suffix: 1 }, 0],
  ])('rejects %s with 416, saying the size', (_why, request, size) => {
    expect(() => resolveRange(request, size)).toThrow(RangeInvalidError);
    expect(() => resolveRange(request, size)).toThrow(expect.objectContaining({ size }));
  });

  it('parses and resolves a header end to end', () => {
    expect(resolveRange(parseRangeHeader('bytes=-4')!, 6)).toEqual({ start: 2, end: 5 });
  });
});
