import { type ConnectionOptions, Queue, RETENTION_QUEUE, RETENTION_SCHEDULER_ID, type RetentionSchedule, utcRepeatStrategy, Worker } from '@pullthrough/hydration-jobs';
import type { Redis } from 'ioredis';
import { RetentionBusyError, type Logger, type RetentionRunner } from '@pullthrough/pull-through';

export interface RetentionJob {
  worker: Worker;
  queue: Queue;
  /** Passes this process ran (a tick another replica took, or one skipped as busy, is not counted). */
  readonly runs: number;
  close(): Promise<void>;
}

/**
 * The scheduled retention pass: every hydrator upserts the same BullMQ job scheduler (one scheduler,
 * not one per replica), each tick is one job handed to one worker, and the retention lock keeps a
 * pass from overlapping a long previous one or an on-demand run (`POST /api/v1/retention`).
 * `off` removes the scheduler. The worker takes jobs once the caller calls its `run()`.
 */
export async function startRetentionJob(connection: Redis, prefix: string, schedule: RetentionSchedule, runner: RetentionRunner, logger: Logger): Promise<RetentionJob> {
  const settings = { repeatStrategy: utcRepeatStrategy }; // the next tick in UTC without Intl (README, Memory)
  const queue = new Queue(RETENTION_QUEUE, { connection: connection as ConnectionOptions, prefix, settings });
  queue.on('error', (err) => logger.debug({ err: err.message }, 'retention queue error'));
  if ('off' in schedule) await queue.removeJobScheduler(RETENTION_SCHEDULER_ID);
  else {
    await queue.upsertJobScheduler(RETENTION_SCHEDULER_ID, 'every' in schedule ? { every: schedule.every } : { pattern: schedule.pattern, tz: 'UTC' }, {
      name: 'retention-pass',
      opts: { removeOnComplete: 100, removeOnFail: 100, attempts: 1 },
    });
  }
  let runs = 0;
  const worker = new Worker(
    RETENTION_QUEUE,
    async () => {
      try {
        const report = await runner.run({ dryRun: false });
        runs += 1;
        return { ...report.totals, bytesReferencedAfter: report.bytesReferencedAfter, ...(report.bytesFreed === undefined ? {} : { bytesFreed: report.bytesFreed }) };
      } catch (err) {
        if (!(err instanceof RetentionBusyError)) throw err;
        logger.info({}, 'retention pass skipped: another run holds the lock');
        return { skipped: 'busy' };
      }
    },
    // Taken only once the caller runs the worker (after its metrics are wired).
    { connection: connection as ConnectionOptions, prefix, concurrency: 1, settings, autorun: false },
  );
  worker.on('error', (err) => logger.warn({ err: err.message }, 'retention worker error'));
  worker.on('failed', (_job, err) => logger.warn({ err: err.message }, 'retention pass failed'));
  await worker.waitUntilReady();
  return {
    worker,
    queue,
    get runs() {
      return runs;
    },
    async close() {
      await worker.close();
      await queue.close();
    },
  };
}
