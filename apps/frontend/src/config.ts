import { egressAllowSetting } from '@pullthrough/egress';
import { z } from 'zod';
import { DEFAULT_CLAIM_TIMEOUT_MS } from '@pullthrough/pull-through';
import { telemetryConfigFields } from '@pullthrough/telemetry';
import { DEFAULT_ROLE_MAP, parseRoleMap } from './admin/admin-roles.js';
import { secretPolicyConfigFields } from '@pullthrough/credentials';
import { listenerConfigFields } from '@pullthrough/operations';
import { checkStorageConfig, storageConfigFields } from '@pullthrough/storage';
import { gcGraceSetting } from '@pullthrough/hydration-jobs';
import { parseIp } from '@pullthrough/egress';
import { DEFAULT_PEER_NETWORKS, parsePeerNetworks, peerUrlCheck } from './peer/peer-networks.js';
import { retentionConfigFields } from '@pullthrough/hydration-jobs';

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
  /** Filesystem storage root (blobs, repository metadata, control area); generated local files (admin token, redis password) live here with any storage. */
  PULLTHROUGH_DATA_DIR: z.string().default('./data'),
  /** Where the registry store lives: `filesystem` (PULLTHROUGH_DATA_DIR) or `azure-blob` (one container; README "Storage on Azure Blob"). */
  PULLTHROUGH_STORAGE: storageConfigFields.PULLTHROUGH_STORAGE,
  /** A secret: the account's connection string (Azurite, development), or `file:<path>` of a file holding it. Never logged. */
  PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: storageConfigFields.PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING,
  /** `https://<account>.blob.core.windows.net`, reached with the Entra ID credential of PULLTHROUGH_AZURE_CREDENTIAL. */
  PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL: storageConfigFields.PULLTHROUGH_AZURE_BLOB_ACCOUNT_URL,
  /** The container holding the whole store (azure-blob storage). */
  PULLTHROUGH_AZURE_BLOB_CONTAINER: storageConfigFields.PULLTHROUGH_AZURE_BLOB_CONTAINER,
  /** azure-blob only: a GET of a local blob is a 307 to a read-only SAS URL valid this many seconds (0: the frontend streams it). */
  PULLTHROUGH_AZURE_BLOB_REDIRECT_SECONDS: z.coerce.number().int().min(0).max(3600).default(0),
  /** Redis for the hydration queue and coordination. Losing it loses no data. */
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  /** BullMQ key prefix (lets several deployments share one Redis). */
  PULLTHROUGH_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('pullthrough'),
  /** Bearer token for the admin API; generated on first start when unset. */
  PULLTHROUGH_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** OIDC issuer whose bearer tokens the admin API accepts besides the admin token (exact `iss`); unset: OIDC off. */
  PULLTHROUGH_ADMIN_OIDC_ISSUER: optionalText,
  /** Accepted `aud` values, comma-separated (Entra: the app's client id and/or `api://...` id URI); required with the issuer. */
  PULLTHROUGH_ADMIN_OIDC_AUDIENCE: list,
  /** The issuer's JWKS URL; unset: `jwks_uri` from `<issuer>/.well-known/openid-configuration`. */
  PULLTHROUGH_ADMIN_OIDC_JWKS_URL: optionalText.pipe(z.string().url().optional()),
  /** Claim holding the caller's roles (a list, or a space-separated string; a dotted path reaches nested claims). */
  PULLTHROUGH_ADMIN_OIDC_ROLE_CLAIM: z.string().trim().min(1).default('roles'),
  /** `claimValue=role,...`: which role-claim values give `reader`, `operator` or `admin` (the strongest held wins). */
  PULLTHROUGH_ADMIN_OIDC_ROLE_MAP: z
    .string()
    .default(DEFAULT_ROLE_MAP)
    .transform((v, ctx) => {
      try {
        return parseRoleMap(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  /** Leeway in seconds for a token's `exp` and `nbf`. */
  PULLTHROUGH_ADMIN_OIDC_CLOCK_SKEW_SECONDS: z.coerce.number().int().min(0).max(300).default(60),
  /** `true`: `GET /metrics` needs an admin credential too (any role, reader included). */
  PULLTHROUGH_METRICS_AUTH: flag,
  /** Reverse proxies in front of the listeners: the client address (audit log) is taken this many hops back in X-Forwarded-For; 0 ignores the header. */
  PULLTHROUGH_TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  /** YAML file of cache rules (and credential sets) applied at start (GitOps). */
  PULLTHROUGH_RULES_FILE: z.string().optional(),
  /** Upstream hosts (host[:port]) that may be reached over plain HTTP. */
  PULLTHROUGH_INSECURE_UPSTREAMS: list,
  /** Host names this registry is reached by; a rule may not point at them. */
  PULLTHROUGH_PUBLIC_HOSTS: list,
  /**
   * Mirror requests (containerd's `?ns=`): a manifest not answered within this many milliseconds is
   * a 404, so the node falls back to its next host (containerd has no response timeout of its own);
   * the fetch goes on and lands in the cache.
   */
  PULLTHROUGH_MIRROR_MANIFEST_BUDGET_MS: z.coerce.number().int().min(100).max(600000).default(5000),
  /** Seconds a cached tag is served before it is revalidated with an upstream HEAD. */
  PULLTHROUGH_TAG_FRESHNESS_SECONDS: z.coerce.number().int().min(0).default(300),
  /** Milliseconds a tag record read from storage is answered from memory (0: read it on every request). */
  PULLTHROUGH_TAG_CACHE_MS: z.coerce.number().int().min(0).max(60000).default(1000),
  /** MiB of manifests kept in memory by repository and digest (0: off). */
  PULLTHROUGH_MANIFEST_CACHE_MB: z.coerce.number().int().min(0).max(4096).default(32),
  /**
   * Hours a blob upload session (a push) may stay untouched before it is purged with its bytes (and
   * abandoned temporary objects with it). Each frontend checks every quarter of this (at most hourly).
   */
  PULLTHROUGH_UPLOAD_MAX_AGE_HOURS: z.coerce.number().positive().max(8760).default(24),
  /** An image manifest fetched from an upstream starts its config's fetch at once, before the client asks for it. */
  PULLTHROUGH_PREFETCH_CONFIG: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /** Hydration jobs start this long after the pull that enqueued them, so the client fetches its blobs first. */
  PULLTHROUGH_HYDRATION_DELAY_MS: z.coerce.number().int().min(0).default(5000),
  /**
   * Egress allow-list: host names, IP addresses and CIDR blocks (each optionally `:port`, `[v6]:port`)
   * that upstreams, token realms, redirects and webhooks may reach although they are loopback,
   * private, link-local, CGNAT... (refused otherwise). This cache's own listeners are never allowed.
   */
  PULLTHROUGH_EGRESS_ALLOW: egressAllowSetting,
  /** Upstream connect timeout. */
  PULLTHROUGH_UPSTREAM_CONNECT_TIMEOUT_MS: z.coerce.number().int().positive().default(10000),
  /** An upstream that sends no bytes for this long is treated as failed. */
  PULLTHROUGH_UPSTREAM_IDLE_TIMEOUT_MS: z.coerce.number().int().positive().default(30000),
  /** Read upstream blob bodies into reused slabs (PooledHttpClient); `false`: through undici like every other request. */
  PULLTHROUGH_UPSTREAM_POOLED_READS: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /** Entra ID credential for Key Vault secret URIs and Azure Blob storage: DefaultAzureCredential, ManagedIdentityCredential or WorkloadIdentityCredential. */
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
  /**
   * Rule health counts hits, misses and errors over this many recent seconds, in 15 buckets shared
   * through Redis: every frontend on one Redis and prefix should use the same value.
   */
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
  /** A blob fetch's Redis lease lives this long without renewal (renewed every third of it): a dead fetcher's blob is fetched by another replica after it. */
  PULLTHROUGH_BLOB_LEASE_MS: z.coerce.number().int().min(100).max(600000).default(15000),
  /** The longest a blob miss waits for Redis to answer its lease claim; unanswered, the process fetches on its own. */
  PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS: z.coerce.number().int().min(1).max(10000).default(DEFAULT_CLAIM_TIMEOUT_MS),
  /** Garbage collection's grace period, as in the hydrator: the blobs this process writes, commits or links are remembered (touched, in Redis) this long plus an hour. */
  PULLTHROUGH_GC_GRACE_MINUTES: gcGraceSetting,
  /** Peer streaming: port of the internal listener other replicas read this one's running blob fetches from, live (README "Peer streaming"); 0: off, followers wait for the leader's commit. */
  PULLTHROUGH_PEER_PORT: port.default(0),
  /** Address the peer listener binds to (a pod binds 0.0.0.0 and sets PULLTHROUGH_PEER_URL). */
  PULLTHROUGH_PEER_HOST: z.string().default('127.0.0.1'),
  /** How the other replicas reach this one's peer listener, `http://<IP address>:<port>` (e.g. the pod IP); unset: http://<PULLTHROUGH_PEER_HOST>:<PULLTHROUGH_PEER_PORT>. */
  PULLTHROUGH_PEER_URL: optionalText.pipe(z.string().url().optional()),
  /** CIDR blocks a peer URL found in a Redis lease may point at (comma-separated); a URL elsewhere, or with a host name, is never contacted. */
  PULLTHROUGH_PEER_ALLOWED_NETWORKS: z
    .string()
    .default(DEFAULT_PEER_NETWORKS)
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .superRefine((entries, ctx) => {
      for (const bad of parsePeerNetworks(entries).invalid) ctx.addIssue({ code: 'custom', message: `"${bad.slice(0, 100)}" is not a CIDR block or IP address` });
    }),
  /** Retention of cached content (README "Retention"): used by `POST /api/v1/retention`; the hydrator runs the scheduled pass with the same values. 0: off. */
  PULLTHROUGH_RETENTION_MAX_TAGS: retentionConfigFields.PULLTHROUGH_RETENTION_MAX_TAGS,
  PULLTHROUGH_RETENTION_UNPULLED_DAYS: retentionConfigFields.PULLTHROUGH_RETENTION_UNPULLED_DAYS,
  PULLTHROUGH_STORAGE_BUDGET_BYTES: retentionConfigFields.PULLTHROUGH_STORAGE_BUDGET_BYTES,
  /** htpasswd file (bcrypt, `htpasswd -B`) of the users clients log in as; unset: no users, anonymous clients only. */
  PULLTHROUGH_HTPASSWD_FILE: optionalText,
  /** `false` turns anonymous pulls off everywhere; `true` leaves it to each rule's `anonymousPull`. */
  PULLTHROUGH_ANONYMOUS_PULL: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /** The token service name (`service` in challenges, our tokens' audience). */
  PULLTHROUGH_AUTH_SERVICE: z.string().regex(/^[A-Za-z0-9.:_-]{1,100}$/, 'must be 1-100 characters of letters, digits and . : _ -').default('pullthrough'),
  /** Our token endpoint's URL as clients reach it (e.g. https://cache.example/token); unset: the request's scheme and Host + /token. */
  PULLTHROUGH_AUTH_REALM: optionalText.pipe(z.string().url().optional()),
  /** Lifetime of the access tokens our token endpoint issues. */
  PULLTHROUGH_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86400).default(300),
  /** Lifetime of refresh tokens (docker's offline_token, OAuth2 access_type=offline). */
  PULLTHROUGH_REFRESH_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(90 * 86400).default(7 * 86400),
  /** A token signing key signs for this long before the next is made (old keys verify until their tokens expire). */
  PULLTHROUGH_TOKEN_KEY_ROTATION_HOURS: z.coerce.number().int().min(1).max(8760).default(168),
  /** Listeners (data and admin): the request line and headers must arrive within this long (slowloris bound). */
  PULLTHROUGH_HEADERS_TIMEOUT_MS: listenerConfigFields.PULLTHROUGH_HEADERS_TIMEOUT_MS,
  /** Listeners: the whole request (headers and body) must arrive within this long (at least the header bound); responses are never cut by it. */
  PULLTHROUGH_REQUEST_TIMEOUT_MS: listenerConfigFields.PULLTHROUGH_REQUEST_TIMEOUT_MS,
  /** Listeners: a keep-alive connection idle between requests is closed after at most this long; a client that takes none of its response for this long is cut. */
  PULLTHROUGH_IDLE_TIMEOUT_MS: listenerConfigFields.PULLTHROUGH_IDLE_TIMEOUT_MS,
  /** Connections the data listener holds at once; more are closed as they are accepted. */
  PULLTHROUGH_DATA_MAX_CONNECTIONS: z.coerce.number().int().min(1).default(4096),
  /** Connections the admin listener holds at once. */
  PULLTHROUGH_ADMIN_MAX_CONNECTIONS: z.coerce.number().int().min(1).default(256),
  /** Upstream-bound requests (misses, revalidations) per second one client may sustain (0: no limit). */
  PULLTHROUGH_CLIENT_MISS_RATE: z.coerce.number().min(0).default(5),
  /** Upstream-bound requests one client may make at once before the rate applies (token bucket size). */
  PULLTHROUGH_CLIENT_MISS_BURST: z.coerce.number().int().min(1).default(500),
  /** Bytes one client of a shared blob fetch may have waiting in memory; a client that falls further behind is served from the stored blob once it is committed. */
  PULLTHROUGH_CLIENT_BUFFER_BYTES: z.coerce.number().int().min(65536).default(4194304),
  /** Bytes all such clients (and the kept first bytes of running fetches) may have waiting together in this process; past it, clients fall behind (wait for the commit). */
  PULLTHROUGH_CLIENT_BUFFERS_TOTAL_BYTES: z.coerce.number().int().min(65536).default(268435456),
  /** A client of a blob miss that takes no bytes for this long while some wait for it is cut off (only it). */
  PULLTHROUGH_CLIENT_STALL_TIMEOUT_MS: z.coerce.number().int().min(100).default(30000),
  /** When a live client's buffer is full and no other live client of the miss has room, the upstream read waits for it (until its buffer is half empty) while its rate over the pull so far is at least this share (0..1) of the upstream's receive rate; below it, it falls behind. 0: always wait (a client that takes no byte for 2 s still falls behind), 1: never wait (fall behind at once). */
  PULLTHROUGH_CLIENT_WAIT_MIN_SHARE: z.coerce.number().min(0).max(1).default(0.5),
  /** Bytes a running blob miss keeps in memory from its start (at most PULLTHROUGH_CLIENT_BUFFER_BYTES), so a client that arrives after the fetch started reads it live from byte 0; one that arrives later reads those bytes back from the store's written part (filesystem, while four client buffers of the blob are still to come), or waits for the commit and reads the stored blob. 0: none kept. */
  PULLTHROUGH_BLOB_PREFIX_BYTES: z.coerce.number().int().min(0).default(2097152),
  /** A request for a layer of an image manifest just fetched from an upstream starts the fetches of up to this many next layers (each keeps its first PULLTHROUGH_BLOB_PREFIX_BYTES for clients that come early; with peer streaming on it stops there until a client asks, at most 5 s); 0: none. */
  PULLTHROUGH_BLOB_READ_AHEAD_LAYERS: z.coerce.number().int().min(0).max(16).default(3),
  /** Bytes the store's write of one blob miss may lag behind its live clients (held in memory); past it the write stops there and its rest is fetched again with one ranged GET after the body. */
  PULLTHROUGH_WRITE_LAG_BYTES: z.coerce.number().int().min(65536).default(33554432),
  /** Bytes the writes of every blob miss of this process may lag together; a miss that finds the total used up stops its write at once (same completion). */
  PULLTHROUGH_WRITE_LAG_TOTAL_BYTES: z.coerce.number().int().min(65536).default(134217728),
  /** When a miss's write lag is full, the upstream read waits for the store while the store has kept at least this share (0..1) of the receive rate; below it the miss overflows (its rest completed later with one ranged GET). 0: always wait (a store that takes no byte for 2 s still overflows), 1: overflow as soon as the lag is full. */
  PULLTHROUGH_WRITE_LAG_MIN_STORE_SHARE: z.coerce.number().min(0).max(1).default(0.5),
  /** Failed password logins (Basic on /v2, /token) one client address may make in a row before it gets 429 (token bucket size). */
  PULLTHROUGH_LOGIN_FAILURE_BURST: z.coerce.number().int().min(1).default(10),
  /** Failed password logins per minute a client address earns back (0: no limit). While over it, every password login from the address gets 429 before any password is checked. */
  PULLTHROUGH_LOGIN_FAILURES_PER_MINUTE: z.coerce.number().min(0).default(6),
  /** Client addresses the failed-login limit tracks at once (the least recently failed is forgotten first). */
  PULLTHROUGH_LOGIN_MAX_TRACKED_CLIENTS: z.coerce.number().int().min(1).default(10000),
  /** bcrypt password checks running at once (they share the event loop). */
  PULLTHROUGH_LOGIN_MAX_CONCURRENT_CHECKS: z.coerce.number().int().min(1).max(64).default(2),
  /** Password checks waiting for a turn; more get 429 with Retry-After: 1 at once. */
  PULLTHROUGH_LOGIN_MAX_QUEUED_CHECKS: z.coerce.number().int().min(0).max(10000).default(32),
  /** On SIGTERM the listeners stop accepting and in-flight requests (blob streams) get this long to finish; then they are cut (below Kubernetes' 30 s grace). */
  PULLTHROUGH_SHUTDOWN_TIMEOUT_MS: listenerConfigFields.PULLTHROUGH_SHUTDOWN_TIMEOUT_MS,
  /** Rules and the access policy are reloaded from storage this often: the fallback when a change announced over Redis pub/sub was missed. */
  PULLTHROUGH_CONFIG_POLL_MS: z.coerce.number().int().min(100).max(3600000).default(10000),
  /** OTLP/HTTP base URL of a trace collector (`http://otel-collector:4318`); spans go to `<url>/v1/traces` as JSON, through the egress policy. Unset: tracing off (README "Telemetry"). */
  PULLTHROUGH_OTLP_ENDPOINT: telemetryConfigFields.PULLTHROUGH_OTLP_ENDPOINT,
  /** Share of new traces recorded, 0..1 (a hydration job follows the decision of the pull that enqueued it). */
  PULLTHROUGH_TRACE_SAMPLE_RATIO: telemetryConfigFields.PULLTHROUGH_TRACE_SAMPLE_RATIO,
  PULLTHROUGH_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
}).superRefine((c, ctx) => {
  if (c.PULLTHROUGH_CLIENT_BUFFERS_TOTAL_BYTES < c.PULLTHROUGH_CLIENT_BUFFER_BYTES) {
    ctx.addIssue({ code: 'custom', path: ['PULLTHROUGH_CLIENT_BUFFERS_TOTAL_BYTES'], message: 'must be at least PULLTHROUGH_CLIENT_BUFFER_BYTES' });
  }
  if (c.PULLTHROUGH_WRITE_LAG_TOTAL_BYTES < c.PULLTHROUGH_WRITE_LAG_BYTES) {
    ctx.addIssue({ code: 'custom', path: ['PULLTHROUGH_WRITE_LAG_TOTAL_BYTES'], message: 'must be at least PULLTHROUGH_WRITE_LAG_BYTES' });
  }
  checkStorageConfig(c, ctx);
  if (c.PULLTHROUGH_AZURE_BLOB_REDIRECT_SECONDS > 0 && c.PULLTHROUGH_STORAGE !== 'azure-blob') {
    ctx.addIssue({ code: 'custom', path: ['PULLTHROUGH_AZURE_BLOB_REDIRECT_SECONDS'], message: 'needs PULLTHROUGH_STORAGE=azure-blob' });
  }
  checkPeerConfig(c, ctx);
  if (c.PULLTHROUGH_ADMIN_OIDC_ISSUER && c.PULLTHROUGH_ADMIN_OIDC_AUDIENCE.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['PULLTHROUGH_ADMIN_OIDC_AUDIENCE'], message: 'is required when PULLTHROUGH_ADMIN_OIDC_ISSUER is set' });
  }
});

export type FrontendConfig = z.infer<typeof frontendConfigSchema>;

type PeerFields = 'PULLTHROUGH_PEER_PORT' | 'PULLTHROUGH_PEER_HOST' | 'PULLTHROUGH_PEER_URL' | 'PULLTHROUGH_PEER_ALLOWED_NETWORKS' | 'PULLTHROUGH_DATA_PORT' | 'PULLTHROUGH_ADMIN_PORT';

/** The peer URL others will use must be one they accept: plain http to an IP address inside the allowed networks. */
function checkPeerConfig(c: Pick<FrontendConfig, PeerFields>, ctx: z.RefinementCtx): void {
  const port = c.PULLTHROUGH_PEER_PORT;
  if (port === 0) {
    if (c.PULLTHROUGH_PEER_URL) ctx.addIssue({ code: 'custom', path: ['PULLTHROUGH_PEER_URL'], message: 'needs PULLTHROUGH_PEER_PORT (peer streaming is off)' });
    return;
  }
  if (port === c.PULLTHROUGH_DATA_PORT || port === c.PULLTHROUGH_ADMIN_PORT) ctx.addIssue({ code: 'custom', path: ['PULLTHROUGH_PEER_PORT'], message: 'must differ from the data and admin ports' });
  const field = c.PULLTHROUGH_PEER_URL ? 'PULLTHROUGH_PEER_URL' : 'PULLTHROUGH_PEER_HOST';
  const host = c.PULLTHROUGH_PEER_HOST.includes(':') ? `[${c.PULLTHROUGH_PEER_HOST}]` : c.PULLTHROUGH_PEER_HOST;
  let url: URL;
  try {
    url = new URL(c.PULLTHROUGH_PEER_URL ?? `http://${host}:${port}`);
  } catch {
    return ctx.addIssue({ code: 'custom', path: [field], message: 'does not make a valid peer URL' });
  }
  const ip = parseIp(url.hostname);
  if (url.protocol !== 'http:' || url.username || url.password || !ip) {
    return ctx.addIssue({ code: 'custom', path: [field], message: 'the peer URL must be http://<IP address>:<port> (no name, no credentials)' });
  }
  if (ip.bytes.every((b) => b === 0)) {
    return ctx.addIssue({ code: 'custom', path: ['PULLTHROUGH_PEER_URL'], message: 'is required when PULLTHROUGH_PEER_HOST is a wildcard address (others cannot reach 0.0.0.0)' });
  }
  if (!peerUrlCheck(parsePeerNetworks(c.PULLTHROUGH_PEER_ALLOWED_NETWORKS).networks)(url)) {
    ctx.addIssue({ code: 'custom', path: [field], message: 'the peer URL is outside PULLTHROUGH_PEER_ALLOWED_NETWORKS: other replicas would never contact it' });
  }
}

/** Parse the environment; a bad value fails start with the field path. */
export function loadFrontendConfig(env: Record<string, string | undefined>): FrontendConfig {
  const parsed = frontendConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
