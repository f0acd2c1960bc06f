import type { Worker } from 'bullmq';
import type { GcReport } from '@pullthrough/pull-through';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { queueDepthGauge, type CountableQueue } from '@pullthrough/operations';

/**
 * Prometheus metrics of one hydrator process (`GET /metrics` on PULLTHROUGH_HYDRATOR_PORT): queue
 * depth per state for the hydration and webhook queues (shared by every hydrator: any one reports
 * the whole queue), jobs this process finished, Redis state and the process metrics.
 */
export interface HydratorMetrics {
  registry: Registry;
  /** Count a finished garbage collection. */
  gcReport(report: GcReport): void;
}

export function createHydratorMetrics(queues: readonly CountableQueue[], workers: readonly Worker[], redisUp: () => boolean): HydratorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pullthrough_' });
  queueDepthGauge(registry, queues);
  const finished = new Counter({
    name: 'pullthrough_jobs_total',
    help: 'Jobs this process ran to an end, per queue and outcome (failed: an attempt failed; it may be retried)',
    labelNames: ['queue', 'outcome'],
    registers: [registry],
  });
  for (const w of workers) {
    finished.inc({ queue: w.name, outcome: 'completed' }, 0);
    finished.inc({ queue: w.name, outcome: 'failed' }, 0);
    w.on('completed', () => finished.inc({ queue: w.name, outcome: 'completed' }));
    w.on('failed', () => finished.inc({ queue: w.name, outcome: 'failed' }));
  }
  new Gauge({
    name: 'pullthrough_redis_up',
    help: '1 while the Redis connection is ready, else 0',
    registers: [registry],
    collect() {
      this.set(redisUp() ? 1 : 0);
    },
  });
  const freed = new Counter({
    name: 'pullthrough_gc_freed_bytes_total',
    help: 'Bytes of unreferenced blobs garbage collection deleted in this process (dry runs not counted)',
    registers: [registry],
  });
  const runs = new Counter({ name: 'pullthrough_gc_runs_total', help: 'Garbage collections this process finished, by mode', labelNames: ['mode'], registers: [registry] });
  return {
    registry,
    gcReport(report) {
      runs.inc({ mode: report.dryRun ? 'dry-run' : 'sweep' });
      if (!report.dryRun) freed.inc(report.freed.bytes);
    },
  };
}
