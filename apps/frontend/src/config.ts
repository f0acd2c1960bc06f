import { z } from 'zod';
import { secretPolicyConfigFields } from '@pullthrough/credentials';

/** Unset or empty: undefined (a ConfigMap can only say ""). */
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const list = z
  .string()
  .default('')
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));
const flag = z
  .enum(['true', 'false', '1', '0'])
  .default('false')
  .transform((v) => v === 'true' || v === '1');
const port = z.coerce.number().int().min(0).max(65535);

/**
 * Every setting of the frontend, read once from the environment in main.ts. The README's
 * configuration table documents each field; keep them in step.
 */
export const frontendConfigSchema = z.object({
  /** Address both listeners bind to. */
  PULLTHROUGH_HOST: z.string().default('127.0.0.1'),
  /** OCI Distribution API (data plane). */
  PULLTHROUGH_DATA_PORT: port.default(5000),
  /** Admin REST API. */
  PULLTHROUGH_ADMIN_PORT: port.default(5001),
  /** Filesystem storage root (blobs, repository metadata, control area). */
  PULLTHROUGH_DATA_DIR: z.string().default('./data'),
  /** Redis for the hydration queue and coordination. Losing it loses no data. */
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  /** BullMQ key prefix (lets several deployments share one Redis). */
  PULLTHROUGH_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('pullthrough'),
  /** Bearer token for the admin API; generated on first start when unset. */
  PULLTHROUGH_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** YAML file of cache rules (and credential sets) applied at start (GitOps). */
  PULLTHROUGH_RULES_FILE: z.string().optional(),
  /** Upstream hosts (host[:port]) that may be reached over plain HTTP. */
  PULLTHROUGH_INSECURE_UPSTREAMS: list,
  /** Host names this registry is reached by; a rule may not point at them. */
  PULLTHROUGH_PUBLIC_HOSTS: list,
  /** Seconds a cached tag is served before it is revalidated with an upstream HEAD. */
  PULLTHROUGH_TAG_FRESHNESS_SECONDS: z.coerce.number().int().min(0).default(300),
  /** Milliseconds a tag record read from storage is answered from memory (0: read it on every request). */
  PULLTHROUGH_TAG_CACHE_MS: z.coerce.number().int().min(0).max(60000).default(1000),
  /** MiB of manifests kept in memory by repository and digest (0: off). */
  PULLTHROUGH_MANIFEST_CACHE_MB: z.coerce.number().int().min(0).max(4096).default(32),
  /** Hydration jobs start this long after the pull that enqueued them, so the client fetches its blobs first. */
  PULLTHROUGH_HYDRATION_DELAY_MS: z.coerce.number().int().min(0).default(5000),
  /** Allow webhooks to loopback, private and link-local addresses (checked when a webhook is saved). */
  PULLTHROUGH_WEBHOOK_ALLOW_PRIVATE: flag,
  /** Upstream connect timeout. */
  PULLTHROUGH_UPSTREAM_CONNECT_TIMEOUT_MS: z.coerce.number().int().positive().default(10000),
  /** An upstream that sends no bytes for this long is treated as failed. */
  PULLTHROUGH_UPSTREAM_IDLE_TIMEOUT_MS: z.coerce.number().int().positive().default(30000),
  /** Entra ID credential for Key Vault secret URIs: DefaultAzureCredential, ManagedIdentityCredential or WorkloadIdentityCredential. */
  PULLTHROUGH_AZURE_CREDENTIAL: z.enum(['default', 'managed-identity', 'workload-identity']).default('default'),
  /** Client id of a user-assigned managed identity (or the workload identity's app). */
  PULLTHROUGH_AZURE_CLIENT_ID: optionalText,
  /** PEM file of extra CA certificates trusted for Key Vault (a private CA or an emulator). */
  PULLTHROUGH_KEYVAULT_CA_FILE: optionalText,
  /** `false` accepts a Key Vault challenge resource outside the Key Vault domains (emulators only). */
  PULLTHROUGH_KEYVAULT_VERIFY_CHALLENGE_RESOURCE: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /** Seconds resolved secrets stay in memory (an upstream 401 drops them sooner). */
  PULLTHROUGH_SECRET_CACHE_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
  /** Directories `file:` secret references must lie in, on their real path (symlinks and `..` resolved); empty: no `file:` references. */
  PULLTHROUGH_SECRET_FILE_DIRS: secretPolicyConfigFields.PULLTHROUGH_SECRET_FILE_DIRS,
  /** `env:` secret references may only name variables with this prefix. */
  PULLTHROUGH_SECRET_ENV_PREFIX: secretPolicyConfigFields.PULLTHROUGH_SECRET_ENV_PREFIX,
  /** Key Vault hosts (`host` any port, or `host:port`) allowed besides the Azure Key Vault domains (emulators). */
  PULLTHROUGH_KEYVAULT_HOSTS: secretPolicyConfigFields.PULLTHROUGH_KEYVAULT_HOSTS,
  /** Rule health counts hits, misses and errors over this many recent seconds. */
  PULLTHROUGH_HEALTH_WINDOW_SECONDS: z.coerce.number().int().min(10).max(86400).default(900),
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

export type FrontendConfig = z.infer<typeof frontendConfigSchema>;

/** Parse the environment; a bad value fails start with the field path. */
export function loadFrontendConfig(env: Record<string, string | undefined>): FrontendConfig {
  const parsed = frontendConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
