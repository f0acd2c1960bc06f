import { z } from 'zod';

/** Unset or empty: undefined (a ConfigMap can only say ""). */
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
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
  /** Key Vault access, as in the frontend (see the README's table). */
  PULLTHROUGH_AZURE_CREDENTIAL: z.enum(['default', 'managed-identity', 'workload-identity']).default('default'),
  PULLTHROUGH_AZURE_CLIENT_ID: optionalText,
  PULLTHROUGH_KEYVAULT_CA_FILE: optionalText,
  PULLTHROUGH_KEYVAULT_VERIFY_CHALLENGE_RESOURCE: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  PULLTHROUGH_SECRET_CACHE_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
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
