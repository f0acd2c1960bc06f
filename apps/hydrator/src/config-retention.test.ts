import { parseRetentionSchedule } from '@pullthrough/hydration-jobs';
import { loadHydratorConfig as load } from './config.js';

// Retention settings as the hydrator reads them: numbers (0: off) and the schedule.
test('defaults: limits off, hourly pass', () => {
  const config = load({});
  expect(config).toMatchObject({ PULLTHROUGH_RETENTION_MAX_TAGS: 0, PULLTHROUGH_RETENTION_UNPULLED_DAYS: 0, PULLTHROUGH_STORAGE_BUDGET_BYTES: 0, PULLTHROUGH_RETENTION_SCHEDULE: '0 * * * *' });
  expect(parseRetentionSchedule(config.PULLTHROUGH_RETENTION_SCHEDULE)).toEqual({ pattern: '0 * * * *' });
});

test.each([
  ['off', { off: true }],
  ['every 30m', { every: 1_800_000 }],
  [' every 2s ', { every: 2000 }],
  ['*/15 2-4 * * 1-5', { pattern: '*/15 2-4 * * 1-5' }],
  ['', { pattern: '0 * * * *' }],
])('schedule %j', (text, schedule) => {
  expect(parseRetentionSchedule(load({ PULLTHROUGH_RETENTION_SCHEDULE: text }).PULLTHROUGH_RETENTION_SCHEDULE)).toEqual(schedule);
});

test.each([
  [{ PULLTHROUGH_RETENTION_SCHEDULE: 'sometimes' }, 'PULLTHROUGH_RETENTION_SCHEDULE'],
  [{ PULLTHROUGH_RETENTION_SCHEDULE: 'every 0s' }, 'PULLTHROUGH_RETENTION_SCHEDULE'],
  [{ PULLTHROUGH_RETENTION_SCHEDULE: '* * *' }, 'PULLTHROUGH_RETENTION_SCHEDULE'],
  [{ PULLTHROUGH_RETENTION_MAX_TAGS: '-1' }, 'PULLTHROUGH_RETENTION_MAX_TAGS'],
  [{ PULLTHROUGH_RETENTION_UNPULLED_DAYS: '1.5' }, 'PULLTHROUGH_RETENTION_UNPULLED_DAYS'],
  [{ PULLTHROUGH_STORAGE_BUDGET_BYTES: 'lots' }, 'PULLTHROUGH_STORAGE_BUDGET_BYTES'],
])('%j stops start naming %s', (env, field) => {
  expect(() => load(env)).toThrow(new RegExp(`^invalid configuration:\\n  ${field}: `));
});
