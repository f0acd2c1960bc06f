import { gcJobSchema, type Job, UnrecoverableError } from '@pullthrough/hydration-jobs';
import { GcBusyError, type GarbageCollector, type GcReport, type Logger } from '@pullthrough/pull-through';

export interface GcProcessorDeps {
  collector: GarbageCollector;
  logger: Logger;
  /** Told of every finished collection (metrics). */
  onReport?: (report: GcReport) => void;
}

/**
 * The `gc` queue's processor: one collection per job (scheduled or asked for through the admin
 * API), its report the job's result. The queue runs one job at a time across hydrators (global
 * concurrency 1), and the collector's Redis lock keeps out any other caller (retention).
 */
export function gcProcessor({ collector, logger, onReport }: GcProcessorDeps) {
  return async (job: Job): Promise<GcReport> => {
    const parsed = gcJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid gc job: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`);
    const { dryRun, requestedBy } = parsed.data;
    const log = logger.child({ gcJob: job.id, requestedBy, dryRun });
    try {
      const report = await collector.collect({ dryRun });
      onReport?.(report);
      log.info({ freedBytes: report.freed.bytes, freedBlobs: report.freed.count }, 'gc job finished');
      return report;
    } catch (err) {
      if (err instanceof GcBusyError) throw new UnrecoverableError(err.message);
      log.warn({ err: (err as Error).message }, 'gc job failed');
      throw err;
    }
  };
}
