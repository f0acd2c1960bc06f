import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { defaultRepeatStrategy } from 'bullmq';
import { nextUtcCron, parseUtcCron, utcRepeatStrategy } from './utc-cron.js';

// Every answer is checked against bullmq's own strategy (cron-parser) in UTC, from start times spread
// over several years, on month, day and second boundaries, and at a random millisecond.
const PATTERNS = [
  '0 * * * *',
  '0 3 * * *',
  '*/5 * * * *',
  '5/15 * * * *',
  '0 0 1 * *',
  '0 0 31 * *',
  '0 0 29 2 *',
  '30 2 * * 1-5',
  '0 12 * * MON,wed,FRI',
  '0 0 * * 7',
  '0 0 * * 5-7',
  '15 10 ? * SUN',
  '0 0 1 JAN-MAR/2 *',
  '0 0 */10 * ?',
  '*/20 * * * * *',
  '10,40 0-5 */6 * * *',
  '0 0 0 1 1 *',
  '59 59 23 31 12 *',
];
const STARTS = [Date.UTC(2024, 1, 28, 23, 59, 59, 999), Date.UTC(2026, 11, 31, 23, 59, 59, 0), Date.UTC(2025, 0, 1), Date.UTC(2025, 5, 30, 3, 0, 0), Date.UTC(2027, 1, 28, 12, 0, 0, 1)];

test.each(PATTERNS)('%s: the same next runs as cron-parser', (pattern) => {
  const random = Date.UTC(2025, 0, 1) + Math.floor(Math.random() * 4 * 365 * 86_400_000);
  for (const start of [...STARTS, random]) {
    let t = start;
    for (let i = 0; i < 5; i++) {
      const expected = defaultRepeatStrategy(t, { pattern, tz: 'UTC' });
      const got = utcRepeatStrategy(t, { pattern, tz: 'UTC' });
      expect({ pattern, from: new Date(t).toISOString(), next: got === undefined ? undefined : new Date(got as number).toISOString() }).toEqual({ pattern, from: new Date(t).toISOString(), next: new Date(expected!).toISOString() });
      expect(parseUtcCron(pattern)).not.toBeUndefined();
      t = expected!;
    }
  }
});

test('forms it does not take are left to cron-parser, with the same answers', () => {
  const t = Date.UTC(2026, 4, 17, 10, 11, 12);
  for (const pattern of ['0 0 L * *', '0 0 * * 5#2', '0 0 1 * 1', '0 0 1-5 * MON']) {
    expect({ pattern, parsed: parseUtcCron(pattern) }).toEqual({ pattern, parsed: undefined });
    expect(utcRepeatStrategy(t, { pattern })).toBe(defaultRepeatStrategy(t, { pattern }));
  }
  // A time zone other than UTC, or a start date, goes to cron-parser too.
  const berlin = { pattern: '0 3 * * *', tz: 'Europe/Berlin' };
  expect(utcRepeatStrategy(t, berlin)).toBe(defaultRepeatStrategy(t, berlin));
  expect(utcRepeatStrategy(t, berlin)).toBe(Date.UTC(2026, 4, 18, 1));
  const later = { pattern: '0 3 * * *', startDate: Date.UTC(2027, 0, 1) };
  expect(utcRepeatStrategy(t, later)).toBe(Date.UTC(2027, 0, 1, 3));
});

test('malformed fields are not parsed', () => {
  for (const pattern of ['60 * * * *', '* 24 * * *', '0 0 0 * *', '0 0 * 13 *', '0 0 * * 8', '5-1 * * * *', '*/0 * * * *', '* * *', '*-5 * * * *', 'FOO * * * *']) {
    expect({ pattern, parsed: parseUtcCron(pattern) }).toEqual({ pattern, parsed: undefined });
  }
});

test('a date that never comes has no next run within the search window', () => {
  expect(nextUtcCron(parseUtcCron('0 0 30 2 *')!, Date.UTC(2026, 0, 1))).toBeUndefined();
});

// A real node process on the built package (the test task builds first): no Intl use, so ICU's data is
// never mapped (a Berlin schedule, left to cron-parser, does use it), and bullmq's index is not loaded.
test('the built package answers a UTC schedule without Intl and without bullmq\'s index', () => {
  const dist = join(__dirname, '..', 'dist', 'index.js');
  const out = execFileSync(
    process.execPath,
    ['-e', `
      let intl = 0;
      for (const name of ['DateTimeFormat', 'NumberFormat', 'Collator', 'PluralRules', 'Locale']) { const C = Intl[name]; Intl[name] = function (...a) { intl++; return new C(...a); }; }
      const j = require(${JSON.stringify(dist)});
      const next = j.utcRepeatStrategy(Date.UTC(2026, 0, 1, 3, 30), { pattern: '0 3 * * *', tz: 'UTC' });
      const utcIntl = intl;
      j.utcRepeatStrategy(Date.UTC(2026, 0, 1, 3, 30), { pattern: '0 3 * * *', tz: 'Europe/Berlin' });
      const files = Object.keys(require.cache).filter((p) => p.includes('/node_modules/bullmq/'));
      console.log(JSON.stringify({ next, intl: utcIntl, berlinUsesIntl: intl > utcIntl, index: files.some((p) => p.endsWith('/bullmq/dist/cjs/index.js')), postgres: files.some((p) => p.includes('/dist/cjs/postgres/')), queue: files.some((p) => p.endsWith('/classes/queue.js')) }));`],
    { encoding: 'utf8', timeout: 30_000 },
  );
  expect(JSON.parse(out.trim())).toEqual({ next: Date.UTC(2026, 0, 2, 3), intl: 0, berlinUsesIntl: true, index: false, postgres: false, queue: true });
});
