import type * as Bullmq from 'bullmq';
import type { RepeatOptions } from './bullmq.js';

/**
 * The next time a cron pattern fires in UTC, without a date library. bullmq computes the next run of a
 * `pattern` scheduler with cron-parser, whose luxon dates ask `Intl` for the system locale: the first
 * `Intl` call maps ICU's data, ~8 MiB of resident memory in a process that uses `Intl` for nothing
 * else (the hydrator: 92.7 -> 83 MiB idle). The retention and GC schedules are UTC, so most patterns
 * need no time zone: `utcRepeatStrategy` answers those here and hands anything else to bullmq's own.
 */

/** A field's range; `names` (upper case) stand for `nameBase`, `nameBase + 1`, ... */
type Field = { min: number; max: number; names?: readonly string[]; nameBase?: number };
const SECOND: Field = { min: 0, max: 59 };
const MINUTE: Field = { min: 0, max: 59 };
const HOUR: Field = { min: 0, max: 23 };
const DAY: Field = { min: 1, max: 31 };
const MONTH: Field = { min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'], nameBase: 1 };
const WEEKDAY: Field = { min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'], nameBase: 0 };

const ITEM = /^(\*|[0-9]{1,2}|[A-Z]{3})(?:-([0-9]{1,2}|[A-Z]{3}))?(?:\/([0-9]{1,2}))?$/;

function valueOf(text: string, field: Field): number | undefined {
  const index = field.names?.indexOf(text) ?? -1;
  const n = /^[0-9]+$/.test(text) ? Number(text) : index >= 0 ? index + (field.nameBase ?? 0) : -1;
  return n >= field.min && n <= field.max ? n : undefined;
}

/** The values a field allows, or undefined for what this parser does not take (L, W, #, H, bad ranges). */
function parseField(text: string, field: Field): Set<number> | undefined {
  const out = new Set<number>();
  for (const item of text.toUpperCase().split(',')) {
    const m = ITEM.exec(item === '?' ? '*' : item);
    if (!m) return undefined;
    const [, from, to, stepText] = m;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1 || (from === '*' && to !== undefined)) return undefined;
    const lo = from === '*' ? field.min : valueOf(from!, field);
    const hi = from === '*' ? field.max : to !== undefined ? valueOf(to, field) : stepText === undefined ? lo : field.max;
    if (lo === undefined || hi === undefined || hi < lo) return undefined;
    for (let v = lo; v <= hi; v += step) out.add(field === WEEKDAY && v === 7 ? 0 : v);
  }
  return out;
}

const unrestricted = (text: string) => text === '*' || text === '?';

/** A checked pattern: fields' allowed values, and how day of month and day of week combine. */
interface UtcCron {
  seconds: Set<number>;
  minutes: Set<number>;
  hours: Set<number>;
  days: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
}

/**
 * Parse a 5-field (minute first) or 6-field (second first) pattern of numbers, names (JAN, MON),
 * `*`, `?`, ranges, steps and lists. Undefined for anything else, and for a pattern that restricts both
 * day of month and day of week (cron's either-or rule, left to cron-parser).
 */
export function parseUtcCron(pattern: string): UtcCron | undefined {
  const parts = pattern.trim().split(/\s+/);
  if (parts.length === 5) parts.unshift('0');
  if (parts.length !== 6) return undefined;
  const [s, mi, h, d, mo, w] = parts as [string, string, string, string, string, string];
  if (!unrestricted(d) && !unrestricted(w)) return undefined;
  if ([s, mi, h, mo].includes('?')) return undefined;
  const fields = [parseField(s, SECOND), parseField(mi, MINUTE), parseField(h, HOUR), parseField(d, DAY), parseField(mo, MONTH), parseField(w, WEEKDAY)];
  if (fields.some((f) => f === undefined || f.size === 0)) return undefined;
  const [seconds, minutes, hours, days, months, weekdays] = fields as Set<number>[];
  return { seconds: seconds!, minutes: minutes!, hours: hours!, days: days!, months: months!, weekdays: weekdays! };
}

const SEARCH_YEARS = 8;

/** The first time strictly after `afterMs` (whole seconds) the pattern fires, or undefined if none within 8 years. */
export function nextUtcCron(cron: UtcCron, afterMs: number): number | undefined {
  let t = new Date(Math.floor(afterMs / 1000) * 1000 + 1000);
  const limit = afterMs + SEARCH_YEARS * 366 * 86_400_000;
  while (t.getTime() <= limit) {
    const [y, mo, d, h, mi] = [t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate(), t.getUTCHours(), t.getUTCMinutes()];
    if (!cron.months.has(mo + 1)) t = new Date(Date.UTC(y, mo + 1, 1));
    else if (!cron.days.has(d) || !cron.weekdays.has(t.getUTCDay())) t = new Date(Date.UTC(y, mo, d + 1));
    else if (!cron.hours.has(h)) t = new Date(Date.UTC(y, mo, d, h + 1));
    else if (!cron.minutes.has(mi)) t = new Date(Date.UTC(y, mo, d, h, mi + 1));
    else if (!cron.seconds.has(t.getUTCSeconds())) t = new Date(t.getTime() + 1000);
    else return t.getTime();
  }
  return undefined;
}

const UTC_ZONES = new Set([undefined, 'UTC', 'utc', 'Etc/UTC']);

type JobSchedulerModule = { defaultRepeatStrategy: typeof Bullmq.defaultRepeatStrategy };

/**
 * bullmq's `settings.repeatStrategy` for the retention and GC schedulers (their Queue and Worker):
 * a UTC pattern this module parses is answered here; a time zone, start or end date, `immediately`, or a
 * pattern form it does not take goes to bullmq's default strategy (cron-parser), as before.
 */
export const utcRepeatStrategy: Bullmq.RepeatStrategy = (millis: number, opts: RepeatOptions) => {
  const cron = opts.pattern && UTC_ZONES.has(opts.tz) && !opts.startDate && !opts.endDate && !opts.immediately ? parseUtcCron(opts.pattern) : undefined;
  const next = cron && nextUtcCron(cron, millis);
  if (next !== undefined) return next;
  const jobScheduler = require('bullmq/dist/cjs/classes/job-scheduler') as JobSchedulerModule;
  return jobScheduler.defaultRepeatStrategy(millis, opts);
};
