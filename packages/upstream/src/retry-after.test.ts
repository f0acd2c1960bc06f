import { parseRetryAfter } from './retry-after.js';

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  it.each([
    ['2', 2],
    [' 120 ', 120],
    ['0', 0],
    ['Wed, 01 Jan 2025 00:00:30 GMT', 30],
    ['Tue, 31 Dec 2024 23:59:00 GMT', 0],
  ])('%s -> %d', (value, seconds) => {
    expect(parseRetryAfter(value, now)).toBe(seconds);
  });

  it.each([undefined, '', 'soon', '-5', '1.5'])('%s is ignored', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});
