import { DAILY, gcGraceSetting, gcJobSchema, gcScheduleSetting, parseGcSchedule } from './gc-job.js';

describe('PULLTHROUGH_GC_SCHEDULE', () => {
  test.each<[string, ReturnType<typeof parseGcSchedule>]>([
    ['off', { kind: 'off' }],
    ['daily', { kind: 'cron', pattern: DAILY }],
    ['12h', { kind: 'every', ms: 12 * 3_600_000 }],
    ['30m', { kind: 'every', ms: 30 * 60_000 }],
    ['every 6h', { kind: 'every', ms: 6 * 3_600_000 }],
    ['1d', { kind: 'every', ms: 86_400_000 }],
    ['0 3 * * *', { kind: 'cron', pattern: '0 3 * * *' }],
    ['  */10   * * * * * ', { kind: 'cron', pattern: '*/10 * * * * *' }],
    ['0 4 * * SUN', { kind: 'cron', pattern: '0 4 * * SUN' }],
  ])('%j', (text, schedule) => {
    expect(parseGcSchedule(text)).toEqual(schedule);
  });

  test.each(['', 'weekly', '30s', '0m', '5 h', '* * * *', '* * * * * * *', '0 3 * * *; rm', 'OFF'])('%j is refused with a message', (text) => {
    expect(() => parseGcSchedule(text)).toThrow(/off|interval|cron|1m/);
  });

  test('the setting defaults to daily and reports a bad value', () => {
    expect(gcScheduleSetting.parse(undefined)).toBe('daily');
    const bad = gcScheduleSetting.safeParse('sometimes');
    expect(bad.success ? 'parsed' : bad.error.issues[0]!.message).toMatch(/must be "off", "daily"/);
  });
});

test('PULLTHROUGH_GC_GRACE_MINUTES: 1 minute to a week, default an hour', () => {
  expect(gcGraceSetting.parse(undefined)).toBe(60);
  expect(gcGraceSetting.parse('5')).toBe(5);
  for (const bad of ['0', '-1', '1.5', '10081', 'soon']) expect(gcGraceSetting.safeParse(bad).success).toBe(false);
});

test('a gc job carries who asked and whether it only reports, nothing else', () => {
  expect(gcJobSchema.parse({ dryRun: true, requestedBy: 'oidc:alice', requestedAt: 'x', secret: 'dropped' })).toEqual({ dryRun: true, requestedBy: 'oidc:alice', requestedAt: 'x' });
  expect(gcJobSchema.safeParse({ dryRun: 'yes', requestedBy: 'x', requestedAt: 'x' }).success).toBe(false);
});
