import type { Job, Worker } from 'bullmq';
import type { GcReport } from '@pullthrough/pull-through';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { HYDRATION_QUEUE, parseHydrationFailure } from '@pullthrough/hydration-jobs';
import { queueDepthGauge, type CountableQueue } from '@pullthrough/operations';
import { WEBHOOK_QUEUE } from '@pullthrough/webhooks';

/** From a manifest already local (ms) to a large image over a slow upstream (many minutes). */
const JOB_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

/** Seconds a finished attempt took (BullMQ's processedOn to finishedOn), if both are known. */
function attemptSeconds(job: Job | undefined): number | undefined {
  if (!job?.processedOn || !job.finishedOn || job.finishedOn < job.processedOn) return undefined;
  return (job.finishedOn - job.processedOn) / 1000;
}

/**
 * Prometheus metrics of one hydrator process (`GET /metrics` on PULLTHROUGH_HYDRATOR_PORT): queue
 * depth per state for the hydration and webhook queues (shared by every hydrator: any one reports
 * the whole queue), jobs this process finished and how long they took, hydration failures by
 * category, bytes fetched from upstreams, webhook delivery outcomes, Redis state and the process metrics.
 */
export interface HydratorMetrics {
  registry: Registry;
  /** Count a finished garbage collection. */
  gcReport(report: GcReport): void;
}

export function createHydratorMetrics(
  queues: readonly CountableQueue[],
  workers: readonly Worker[],
  redisUp: () => boolean,
  /** Every upstream answer of this process by registry and bounded status label (UpstreamClientPool.answerCounts). */
  upstreamAnswers: () => Array<{ upstream: string; status: string; count: number }> = () => [],
): HydratorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pullthrough_' });
  queueDepthGauge(registry, queues);
  const finished = new Counter({
    name: 'pullthrough_jobs_total',
    help: 'Jobs this process ran to an end, per queue and outcome (failed: an attempt failed; it may be retried)',
    labelNames: ['queue', 'outcome'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'pullthrough_job_duration_seconds',
    help: 'How long one job attempt ran in this process, per queue and outcome (deferrals are not attempts)',
    labelNames: ['queue', 'outcome'],
    buckets: JOB_BUCKETS,
    registers: [registry],
  });
  const failures = new Counter({
    name: 'pullthrough_hydration_failures_total',
    help: 'Failed hydration attempts by failure category (rule-config, credential-lookup, upstream-auth, upstream-not-found, upstream-unavailable, upstream-throttled, digest-mismatch, invalid-job, hydration)',
    labelNames: ['category'],
    registers: [registry],
  });
  const fetched = new Counter({
    name: 'pullthrough_hydration_fetched_bytes_total',
    help: 'Blob bytes hydration jobs fetched from upstreams (content already local is not fetched again)',
    registers: [registry],
  });
  const deliveries = new Counter({
    name: 'pullthrough_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome: delivered (2xx), failed (retried with backoff until attempts run out), skipped (webhook deleted or disabled)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  fetched.inc(0);
  for (const outcome of ['delivered', 'failed', 'skipped']) deliveries.inc({ outcome }, 0);
  for (const w of workers) {
    for (const outcome of ['completed', 'failed']) {
      finished.inc({ queue: w.name, outcome }, 0);
      duration.zero({ queue: w.name, outcome });
    }
    const timed = (job: Job | undefined, outcome: string) => {
      const seconds = attemptSeconds(job);
      if (seconds !== undefined) duration.observe({ queue: w.name, outcome }, seconds);
    };
    w.on('completed', (job, result: unknown) => {
      finished.inc({ queue: w.name, outcome: 'completed' });
      timed(job, 'completed');
      const r = result as { bytesFetched?: unknown; skipped?: unknown } | undefined;
      if (w.name === HYDRATION_QUEUE && typeof r?.bytesFetched === 'number') fetched.inc(r.bytesFetched);
      if (w.name === WEBHOOK_QUEUE) deliveries.inc({ outcome: r?.skipped ? 'skipped' : 'delivered' });
    });
    w.on('failed', (job) => {
      finished.inc({ queue: w.name, outcome: 'failed' });
      timed(job, 'failed');
      if (w.name === HYDRATION_QUEUE) failures.inc({ category: parseHydrationFailure(job?.failedReason).category });
      if (w.name === WEBHOOK_QUEUE) deliveries.inc({ outcome: 'failed' });
    });
  }
  new Counter({
    name: 'pullthrough_upstream_responses_total',
    help: 'HTTP answers from upstream registries to hydration jobs (every redirect hop and token realm), by status: 401, 403, 404, 429 or the class (2xx...); error: no answer',
    labelNames: ['upstream', 'status'],
    registers: [registry],
    collect() {
      this.reset();
      for (const a of upstreamAnswers()) this.inc({ upstream: a.upstream, status: a.status }, a.count);
    },
  });
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
