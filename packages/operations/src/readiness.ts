/** One dependency a process needs to do its work. */
export interface ReadinessCheck {
  name: string;
  /** Resolves when the dependency answered; rejects (or times out) with the reason it did not. */
  probe(): Promise<void>;
  /** A failing required check makes the process not ready; a failing optional one only degraded. */
  required: boolean;
}

export interface CheckResult {
  status: 'up' | 'down';
  required: boolean;
  /** Why it is down (a message, never a secret). */
  reason?: string;
  ms: number;
}

export interface ReadinessReport {
  /** ready: every check up; degraded: an optional one down; not-ready: a required one down (or stopping). */
  status: 'ready' | 'degraded' | 'not-ready';
  checks: Record<string, CheckResult>;
  stopping?: true;
}

/** Run every check at once, each bounded by `timeoutMs`. */
export async function checkReadiness(checks: readonly ReadinessCheck[], timeoutMs: number, stopping = false): Promise<ReadinessReport> {
  const results = await Promise.all(
    checks.map(async (c): Promise<[string, CheckResult]> => {
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([c.probe(), timeout]);
        return [c.name, { status: 'up', required: c.required, ms: Date.now() - started }];
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        return [c.name, { status: 'down', required: c.required, reason, ms: Date.now() - started }];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const all = Object.fromEntries(results);
  const down = results.filter(([, r]) => r.status === 'down');
  const status = stopping || down.some(([, r]) => r.required) ? 'not-ready' : down.length > 0 ? 'degraded' : 'ready';
  return stopping ? { status, checks: all, stopping: true } : { status, checks: all };
}

/** HTTP status for a report: 503 only when not ready (degraded still takes traffic). */
export const readinessStatusCode = (report: ReadinessReport): number => (report.status === 'not-ready' ? 503 : 200);

/** The part of an ioredis client a PING check needs. */
export interface Pingable {
  status: string;
  ping(): Promise<string>;
}

/** PING the Redis connection; a connection that is not ready fails at once with its state. */
export function redisCheck(redis: Pingable, required: boolean): ReadinessCheck {
  return {
    name: 'redis',
    required,
    async probe() {
      if (redis.status !== 'ready') throw new Error(`connection is ${redis.status}`);
      const answer = await redis.ping();
      if (answer !== 'PONG') throw new Error(`PING answered ${answer}`);
    },
  };
}

/** The part of the storage control area a read check needs (RegistryStore satisfies it). */
export interface ControlReader {
  getControl<T>(kind: string, name: string): Promise<T | undefined>;
}

/**
 * A tiny read of the storage control area, through the same driver every request uses: a missing
 * document is an answer (up); an I/O or service error is down.
 */
export function storageCheck(control: ControlReader): ReadinessCheck {
  return {
    name: 'storage',
    required: true,
    async probe() {
      await control.getControl('readiness', 'probe');
    },
  };
}
