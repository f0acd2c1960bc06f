import { Gauge, type Registry } from 'prom-client';

/** The part of a BullMQ Queue the depth gauge needs. */
export interface CountableQueue {
  readonly name: string;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
}

export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'prioritized', 'waiting-children'] as const;

/**
 * `pullthrough_queue_jobs{queue,state}`: jobs per queue and state, read from Redis at scrape time.
 * While Redis is down the scrape leaves the gauge empty rather than failing (pullthrough_redis_up says why).
 */
export function queueDepthGauge(registry: Registry, queues: readonly CountableQueue[], timeoutMs = 1000): Gauge {
  return new Gauge({
    name: 'pullthrough_queue_jobs',
    help: 'Jobs per queue and state (waiting, active, delayed, failed, ...), read from Redis at scrape time',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const q of queues) {
        let timer: NodeJS.Timeout | undefined;
        const counts = await Promise.race([
          q.getJobCounts(...QUEUE_STATES).catch(() => undefined),
          new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs))),
        ]).finally(() => clearTimeout(timer));
        if (!counts) continue;
        for (const state of QUEUE_STATES) this.set({ queue: q.name, state }, counts[state] ?? 0);
      }
    },
  });
}
