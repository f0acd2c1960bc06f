import { randomUUID } from 'node:crypto';
import { Queue, type ConnectionOptions } from './bullmq.js';
import { utcRepeatStrategy } from './utc-cron.js';
import { cronPatternOf } from './cron-pattern.js';
import { z } from 'zod';

export const GC_QUEUE = 'gc';
export const GC_JOB_NAME = 'collect-garbage';
/** The job scheduler id of the scheduled collection (one per deployment, however many hydrators upsert it). */
export const GC_SCHEDULER_ID = 'scheduled-gc';

/** A garbage collection job: who asked, and whether it only reports. No secrets. */
export const gcJobSchema = z.object({
  dryRun: z.boolean(),
  /** `schedule`, or the admin API caller's audit actor (`admin-token`, `oidc:<subject>`). */
  requestedBy: z.string().min(1).max(300),
  requestedAt: z.string(),
});
export type GcJob = z.infer<typeof gcJobSchema>;

/** Ids of on-demand collections (`gc-<uuid>`; no `:`). */
export const GC_JOB_ID = /^gc-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Finished collections stay readable a week (GET /api/v1/gc/<id>); one attempt each (the next run starts afresh). */
export function createGcQueue(connection: ConnectionOptions, prefix: string): Queue {
  return new Queue(GC_QUEUE, {
    connection,
    prefix,
    // The scheduled collection's next run, computed in UTC without Intl (the hydrator upserts it).
    settings: { repeatStrategy: utcRepeatStrategy },
    defaultJobOptions: { attempts: 1, removeOnComplete: { age: 7 * 24 * 3600, count: 1000 }, removeOnFail: { age: 7 * 24 * 3600, count: 1000 } },
  });
}

/** Queue an on-demand collection; resolves to its job id. */
export async function enqueueGc(queue: Queue, input: { dryRun: boolean; requestedBy: string }): Promise<string> {
  const jobId = `gc-${randomUUID()}`;
  await queue.add(GC_JOB_NAME, gcJobSchema.parse({ ...input, requestedAt: new Date().toISOString() }), { jobId });
  return jobId;
}

/** When collections run on their own: never, every `ms`, or on a cron `pattern` (UTC). */
export type GcSchedule = { kind: 'off' } | { kind: 'every'; ms: number } | { kind: 'cron'; pattern: string };

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `daily`: 03:00 UTC. */
export const DAILY = '0 3 * * *';

/**
 * `off`; `daily` (03:00 UTC); an interval `[every ]<n>s|m|h|d` of at least a minute (its first run is when
 * the schedule is first set); or a cron expression of 5 or 6 fields (seconds first), in UTC.
 * Throws a message on anything else.
 */
export function parseGcSchedule(text: string): GcSchedule {
  const t = text.trim();
  if (t === 'off') return { kind: 'off' };
  if (t === 'daily') return { kind: 'cron', pattern: DAILY };
  const interval = /^(?:every\s+)?(\d{1,6})([smhd])$/.exec(t);
  if (interval) {
    const ms = Number(interval[1]) * UNITS[interval[2]!]!;
    if (ms < 60_000) throw new Error('an interval must be at least 1m');
    return { kind: 'every', ms };
  }
  const pattern = cronPatternOf(t);
  if (pattern !== undefined) return { kind: 'cron', pattern };
  throw new Error('must be "off", "daily", an interval like "12h" or "30m", or a cron expression of 5 or 6 fields');
}

/** `PULLTHROUGH_GC_SCHEDULE` as a zod fragment (the hydrator's config composes it): the text, checked by parseGcSchedule. */
export const gcScheduleSetting = z
  .string()
  .default('daily')
  .superRefine((v, ctx) => {
    try {
      parseGcSchedule(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });

/**
 * Make the deployment's scheduled collection match `schedule` (idempotent: every hydrator calls it
 * at start; the last one started wins if they disagree). `off` removes it.
 */
export async function scheduleGc(queue: Queue, schedule: GcSchedule): Promise<void> {
  if (schedule.kind === 'off') {
    await queue.removeJobScheduler(GC_SCHEDULER_ID);
    return;
  }
  const repeat = schedule.kind === 'every' ? { every: schedule.ms } : { pattern: schedule.pattern, tz: 'UTC' };
  await queue.upsertJobScheduler(GC_SCHEDULER_ID, repeat, { name: GC_JOB_NAME, data: { dryRun: false, requestedBy: 'schedule', requestedAt: '' } });
}

/** `PULLTHROUGH_GC_GRACE_MINUTES`: blobs written, committed or linked (or touched) less than this ago are never collected. Both apps read it (the frontend remembers its touches that long). */
export const gcGraceSetting = z.coerce.number().int().min(1).max(7 * 24 * 60).default(60);
