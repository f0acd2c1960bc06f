import { egressAllowSetting } from '@pullthrough/egress';
import { z } from 'zod';
import { DEFAULT_CLAIM_TIMEOUT_MS } from '@pullthrough/pull-through';
import { telemetryConfigFields } from '@pullthrough/telemetry';
import { secretPolicyConfigFields } from '@pullthrough/credentials';
import { listenerConfigFields } from '@pullthrough/operations';
import { checkStorageConfig, storageConfigFields } from '@pullthrough/storage';
import { gcGraceSetting, gcScheduleSetting, retentionConfigFields, retentionScheduleField } from '@pullthrough/hydration-jobs';

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

/** Every setting of the hydrator, read once from the environment in main.ts (see the README's table). */
export const hydratorConfigSchema = z.object({
  PULLTHROUGH_DATA_DIR: z.string().default('./data'),
  /** Where the registry store lives: `filesystem` (PULLTHROUGH_DATA_DIR) or `azure-blob` (one container; README "Storage on Azure Blob"). */
  PULLTHROUGH_STORAGE: storageConfigFields.PULLTHROUGH_STORAGE,
  /** A secret: the account's connection string (Azurite, development), or `file:<path>` of a file holding it. Never logged. */
  PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: storageConfigFields.PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING,
  /** `https://<account>.blob.core.windows.net`, reached with the Entra ID credential of PULLTHROUGH_AZURE_CREDENTIAL. */
  PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL: storageConfigFields.PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL,
  /** The container holding the whole store (azure-blob storage). */
  PULLTHROUGH_AZURE_BLOB_CONTAINER: storageConfigFields.PULLTHROUGH_AZURE_BLOB_CONTAINER,
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  PULLTHROUGH_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('pullthrough'),
  PULLTHROUGH_INSECURE_UPSTREAMS: list,
  /** Host names clients reach the cache by; the first one is the `request.host` of webhook events. */
  PULLTHROUGH_PUBLIC_HOSTS: list,
  /** Hydration jobs one hydrator process runs at once. */
  PULLTHROUGH_HYDRATION_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /** Hydration jobs talking to one upstream registry at once, across every hydrator process (Redis leases). */
  PULLTHROUGH_HYDRATION_REGISTRY_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(8),
  /** A job's lock lasts this long and is renewed at half of it; a worker silent this long (killed) loses the job. */
  PULLTHROUGH_HYDRATION_LOCK_MS: z.coerce.number().int().min(200).default(30000),
  /** How often workers look for jobs whose lock expired (stalled) and hand them out again. */
  PULLTHROUGH_HYDRATION_STALLED_INTERVAL_MS: z.coerce.number().int().min(100).default(30000),
  /** Cap on an upstream Retry-After (429, 503, open breaker) a job waits out without spending an attempt. */
  PULLTHROUGH_HYDRATION_MAX_DEFER_SECONDS: z.coerce.number().int().min(1).default(600),
  /** Webhook deliveries one hydrator process sends at once. */
  PULLTHROUGH_WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(8),
  /** A webhook receiver that has not answered within this long has failed (the delivery is retried). */
  PULLTHROUGH_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().positive().default(10000),
  /** First retry delay of a failed delivery; doubles per attempt, with jitter. */
  PULLTHROUGH_WEBHOOK_BACKOFF_MS: z.coerce.number().int().min(1).default(5000),
  /** Egress allow-list for upstreams, token realms, redirects and webhook deliveries, as in the frontend (see the README's table). */
  PULLTHROUGH_EGRESS_ALLOW: egressAllowSetting,
  PULLTHROUGH_UPSTREAM_CONNECT_TIMEOUT_MS: z.coerce.number().int().positive().default(10000),
  PULLTHROUGH_UPSTREAM_IDLE_TIMEOUT_MS: z.coerce.number().int().positive().default(30000),
  PULLTHROUGH_UPSTREAM_POOLED_READS: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /** Key Vault and Azure Blob storage access, as in the frontend (see the README's table). */
  PULLTHROUGH_AZURE_CREDENTIAL: z.enum(['default', 'managed-identity', 'workload-identity']).default('default'),
  PULLTHROUGH_AZURE_CLIENT_ID: optionalText,
  PULLTHROUGH_KEYVAULT_CA_FILE: optionalText,
  PULLTHROUGH_KEYVAULT_VERIFY_CHALLENGE_RESOURCE: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  PULLTHROUGH_SECRET_CACHE_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
  /** Directories `file:` secret references must lie in, on their real path (symlinks and `..` resolved); empty: no `file:` references. */
  PULLTHROUGH_SECRET_FILE_DIRS: secretPolicyConfigFields.PULLTHROUGH_SECRET_FILE_DIRS,
  /** `env:` secret references may only name variables with this prefix. */
  PULLTHROUGH_SECRET_ENV_PREFIX: secretPolicyConfigFields.PULLTHROUGH_SECRET_ENV_PREFIX,
  /** Key Vault hosts (`host` any port, or `host:port`) allowed besides the Azure Key Vault domains (emulators). */
  PULLTHROUGH_KEYVAULT_HOSTS: secretPolicyConfigFields.PULLTHROUGH_KEYVAULT_HOSTS,
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
  /** A blob fetch's Redis lease lives this long without renewal (renewed every third of it): a dead fetcher's blob is fetched by another replica after it. */
  PULLTHROUGH_BLOB_LEASE_MS: z.coerce.number().int().min(100).max(600000).default(15000),
  /** The longest a blob miss waits for Redis to answer its lease claim; unanswered, the process fetches on its own. */
  PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS: z.coerce.number().int().min(1).max(10000).default(DEFAULT_CLAIM_TIMEOUT_MS),
  /** When the retention pass runs: `off`, `every <n>s|m|h`, or a cron pattern (default hourly, `0 * * * *`); one runner at a time across replicas. */
  PULLTHROUGH_RETENTION_SCHEDULE: retentionScheduleField,
  /** Retention of cached content, as in the frontend (README "Retention"). 0: off. */
  PULLTHROUGH_RETENTION_MAX_TAGS: retentionConfigFields.PULLTHROUGH_RETENTION_MAX_TAGS,
  PULLTHROUGH_RETENTION_UNPULLED_DAYS: retentionConfigFields.PULLTHROUGH_RETENTION_UNPULLED_DAYS,
  PULLTHROUGH_STORAGE_BUDGET_BYTES: retentionConfigFields.PULLTHROUGH_STORAGE_BUDGET_BYTES,
  /** Address the hydrator's probe listener binds to (as the frontend's listeners). */
  PULLTHROUGH_HOST: z.string().default('127.0.0.1'),
  /** The hydrator's HTTP listener: /healthz, /readyz and /metrics. */
  PULLTHROUGH_HYDRATOR_PORT: z.coerce.number().int().min(0).max(65535).default(5002),
  /** Probe listener limits, as the frontend's (see the README's table). */
  PULLTHROUGH_HEADERS_TIMEOUT_MS: listenerConfigFields.PULLTHROUGH_HEADERS_TIMEOUT_MS,
  PULLTHROUGH_REQUEST_TIMEOUT_MS: listenerConfigFields.PULLTHROUGH_REQUEST_TIMEOUT_MS,
  PULLTHROUGH_IDLE_TIMEOUT_MS: listenerConfigFields.PULLTHROUGH_IDLE_TIMEOUT_MS,
  /** On SIGTERM the workers take no new jobs and running ones get this long; a job cut then is retried by another worker (its lock expires). */
  PULLTHROUGH_SHUTDOWN_TIMEOUT_MS: listenerConfigFields.PULLTHROUGH_SHUTDOWN_TIMEOUT_MS,
  /** When garbage collection runs on its own: `off`, `daily`, an interval (`12h`, `30m`), or a cron expression (UTC). One run at a time across hydrators. */
  PULLTHROUGH_GC_SCHEDULE: gcScheduleSetting,
  /** Blobs written, committed or linked less than this many minutes ago are never collected (uploads, pulls and hydrations in progress). */
  PULLTHROUGH_GC_GRACE_MINUTES: gcGraceSetting,
  /** OTLP/HTTP base URL of a trace collector (`http://otel-collector:4318`); spans go to `<url>/v1/traces` as JSON, through the egress policy. Unset: tracing off (README "Telemetry"). */
  PULLTHROUGH_OTLP_ENDPOINT: telemetryConfigFields.PULLTHROUGH_OTLP_ENDPOINT,
  /** Share of new traces recorded, 0..1 (a hydration job follows the decision of the pull that enqueued it). */
  PULLTHROUGH_TRACE_SAMPLE_RATIO: telemetryConfigFields.PULLTHROUGH_TRACE_SAMPLE_RATIO,
  PULLTHROUGH_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
}).superRefine((c, ctx) => checkStorageConfig(c, ctx));

export type HydratorConfig = z.infer<typeof hydratorConfigSchema>;

export function loadHydratorConfig(env: Record<string, string | undefined>): HydratorConfig {
  const parsed = hydratorConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
