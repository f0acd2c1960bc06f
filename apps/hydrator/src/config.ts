import { z } from 'zod';

const list = z
  .string()
  .default('')
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));

/** Every setting of the hydrator, read once from the environment in main.ts (see the README's table). */
export const hydratorConfigSchema = z.object({
  PULLTHROUGH_DATA_DIR: z.string().default('./data'),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  PULLTHROUGH_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('pullthrough'),
  PULLTHROUGH_INSECURE_UPSTREAMS: list,
  /** Hydration jobs one hydrator process runs at once. */
  PULLTHROUGH_HYDRATION_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  PULLTHROUGH_UPSTREAM_CONNECT_TIMEOUT_MS: z.coerce.number().int().positive().default(10000),
  PULLTHROUGH_UPSTREAM_IDLE_TIMEOUT_MS: z.coerce.number().int().positive().default(30000),
  /** Failure percentage (of calls in the rolling window) that opens an upstream's circuit breaker. */
  PULLTHROUGH_BREAKER_ERROR_THRESHOLD_PERCENT: z.coerce.number().int().min(1).max(100).default(50),
  /** Calls in the rolling window before the failure percentage can open the breaker. */
  PULLTHROUGH_BREAKER_VOLUME_THRESHOLD: z.coerce.number().int().min(1).default(5),
  /** How long an open breaker refuses calls before letting one probe through (half-open). */
  PULLTHROUGH_BREAKER_RESET_TIMEOUT_MS: z.coerce.number().int().positive().default(30000),
  /** The breaker's rolling statistics window. */
  PULLTHROUGH_BREAKER_ROLLING_WINDOW_MS: z.coerce.number().int().positive().default(10000),
  /** Longest an upstream's Retry-After (429/503) may hold its breaker open. */
  PULLTHROUGH_BREAKER_MAX_HOLD_SECONDS: z.coerce.number().int().positive().default(600),
  PULLTHROUGH_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export type HydratorConfig = z.infer<typeof hydratorConfigSchema>;

export function loadHydratorConfig(env: Record<string, string | undefined>): HydratorConfig {
  const parsed = hydratorConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
