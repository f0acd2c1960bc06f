import { z } from 'zod';
import { cronPatternOf } from './cron-pattern.js';

const count = (what: string) => z.coerce.number({ error: `must be a whole number of ${what} (0: off)` }).int().min(0).default(0);

/** What `PULLTHROUGH_RETENTION_SCHEDULE` may say: `off`, `every <n>s|m|h`, or a cron pattern (5 or 6 fields). */
export type RetentionSchedule = { off: true } | { every: number } | { pattern: string };

const EVERY = /^every\s+(\d{1,9})\s*(s|m|h)$/;

/** Parse a schedule, or undefined when it is none of the accepted forms. */
export function parseRetentionSchedule(text: string): RetentionSchedule | undefined {
  const t = text.trim();
  if (t === 'off') return { off: true };
  const every = EVERY.exec(t);
  if (every) {
    const ms = Number(every[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[every[2] as 's' | 'm' | 'h'];
    return ms > 0 ? { every: ms } : undefined;
  }
  const pattern = cronPatternOf(t);
  return pattern === undefined ? undefined : { pattern };
}

/** Retention settings both apps read (the frontend for `POST /api/v1/retention`, the hydrator for its schedule). */
export const retentionConfigFields = {
  /** Keep at most this many cached tags per repository (most recently pulled kept); a rule's `retention.maxTags` overrides. 0: off. */
  PULLTHROUGH_RETENTION_MAX_TAGS: count('tags'),
  /** Evict cached tags and manifests not pulled for this many days; a rule's `retention.unpulledDays` overrides. 0: off. */
  PULLTHROUGH_RETENTION_UNPULLED_DAYS: count('days'),
  /** Bytes all repositories may reference; over it, the least recently pulled cached content goes first. 0: off. */
  PULLTHROUGH_STORAGE_BUDGET_BYTES: count('bytes'),
};

/** Hydrator only: when the scheduled retention pass runs (one runner across replicas); checked here, parsed with parseRetentionSchedule. */
export const retentionScheduleField = z
  .string()
  .default('0 * * * *')
  .transform((v) => (v.trim() === '' ? '0 * * * *' : v.trim()))
  .refine((v) => parseRetentionSchedule(v) !== undefined, { message: "must be 'off', 'every <n>s|m|h' or a cron pattern such as '0 * * * *'" });

/** The hydrator's retention queue: one scheduled job per tick, handed to one worker of all replicas. */
export const RETENTION_QUEUE = 'retention';
/** The job scheduler's id (upserted by every hydrator at start: one scheduler, not one per replica). */
export const RETENTION_SCHEDULER_ID = 'retention-pass';
