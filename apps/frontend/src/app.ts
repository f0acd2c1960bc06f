import express, { type Express } from 'express';
import { LoopDetectedError } from '@pullthrough/oci';
import { cameFromDeployment } from '@pullthrough/storage';
import type { CredentialHealthBook } from '@pullthrough/credentials';
import type { FreeUnreferenced, GcJobs, HydrationService, LastPulledBook, LocalWrites, LoginVerifier, Logger, PullThroughRegistry, RetentionRunner, RuleHealthView, UsageService } from '@pullthrough/pull-through';
import type { UpstreamClientPool, UpstreamStatus } from '@pullthrough/upstream';
import type { WebhookService } from '@pullthrough/webhooks';
import type { Registry as MetricsRegistry } from 'prom-client';
import { readinessStatusCode, type ReadinessReport } from '@pullthrough/operations';
import type { AccessPolicyRegistry } from './access/access-policy-registry.js';
import { accessPolicyRoutes } from './admin/access-policy-routes.js';
import { adminAuth, metricsAuth } from './admin/admin-auth.js';
import { AdminAuthenticator, type OidcAdminAccess } from './admin/admin-authenticator.js';
import { ADMIN_BODY_LIMIT_BYTES, bodyLimit } from './admin/body-limit.js';
import { cacheRuleRoutes } from './admin/cache-rule-routes.js';
import { credentialSetRoutes } from './admin/credential-set-routes.js';
import { gcRoutes } from './admin/gc-routes.js';
import { hydrationRoutes } from './admin/hydration-routes.js';
import { usageRoutes } from './admin/usage-routes.js';
import { prefetchRoutes } from './admin/prefetch-routes.js';
import { retentionRoutes } from './admin/retention-routes.js';
import { ruleHealthRoutes, ruleHealthSummaryRoutes } from './admin/rule-health-routes.js';
import { webhookRoutes } from './admin/webhook-routes.js';
import { mirrorConfigRoutes } from './admin/mirror-config-routes.js';
import { consoleRoutes } from './admin/console-routes.js';
import { problemMiddleware, sendProblem } from './admin/problem.js';
import { upstreamRoutes } from './admin/upstream-routes.js';
import { repositoryTagRoutes } from './admin/repository-tag-routes.js';
import type { ClientAuth } from './data/client-auth.js';
import { dataRouter } from './data/data-router.js';
import { dataListener, type DataListener, type DataPlaneSteps } from './data/data-listener.js';
import { tokenRoutes, type TokenRoutesOptions } from './data/token-routes.js';
import { ociErrorMiddleware } from './oci-error-middleware.js';
import { requestContext } from './request-context.js';
import { httpTelemetry, watchRoutes } from './http-telemetry.js';
import type { HttpMetrics } from './metrics/http-metrics.js';
import { AuditLog } from './audit-log.js';
import type { CredentialSetRegistry } from './credentials/credential-set-registry.js';
import type { RuleRegistry } from './rules/rule-registry.js';

export interface FrontendDeps {
  registry: PullThroughRegistry;
  /** Push and delete on the data port (local writes). */
  writes: LocalWrites;
  rules: RuleRegistry;
  adminToken: string;
  logger: Logger;
  credentialSets: CredentialSetRegistry;
  credentialHealth: CredentialHealthBook;
  /** Rule health for the admin API: shared through Redis by every frontend, or this process's own view. */
  ruleHealth: RuleHealthView;
  verifier: LoginVerifier;
  pool: UpstreamClientPool;
  forgetSecrets: (credentialSetName: string) => void;
  hydrations: HydrationService;
  webhooks: WebhookService;
  /** Garbage collections asked for through the admin API (queued for the hydrators). */
  gcJobs: GcJobs;
  /** Storage usage per repository and rule. */
  usage: UsageService;
  /** Client authentication and authorization on the data port. */
  clientAuth: ClientAuth;
  /** This deployment's id: a data request whose User-Agent carries it came from us (a rule loops back) and is refused. */
  deploymentId: string;
  /** The token endpoint's parts (`/token` on the data port). */
  tokenEndpoint: TokenRoutesOptions;
  accessPolicies: AccessPolicyRegistry;
  /** Upstream health for `GET /api/v1/upstreams`. */
  upstreams?: () => UpstreamStatus[];
  /** `GET /readyz` on the admin port: storage and Redis reachability (absent: /readyz is not served). */
  readiness?: () => Promise<ReadinessReport>;
  /** Prometheus registry served at `GET /metrics` on the admin port. */
  metrics?: MetricsRegistry;
  /** Request latency and served bytes of both ports (a server span per request is made either way; a no-op with tracing off). */
  httpMetrics?: HttpMetrics;
  /** OIDC bearer tokens accepted on the admin API besides `adminToken` (off when unset). */
  oidc?: OidcAdminAccess;
  /** `GET /metrics` needs an admin credential (any role). */
  metricsAuth?: boolean;
  /** Reverse proxies in front (express `trust proxy` hop count): how far X-Forwarded-For is believed for the client address. */
  trustProxyHops?: number;
  /** Where admin changes and denials are recorded (default: through `logger`). */
  audit?: AuditLog;
  /** Nodes using the cache as a containerd mirror (`?ns=` routing, generated hosts.toml files). */
  mirror?: MirrorSettings;
  /** The built web console served at /console/ on the admin port (default: apps/console/dist). */
  consoleDir?: string;
  /** Retention: manifest pulls are noted in `lastPulled`; `POST /api/v1/retention` runs `runner`; `freeUnreferenced` is GC (purge). */
  retention?: { runner: RetentionRunner; lastPulled: LastPulledBook; freeUnreferenced?: FreeUnreferenced };
}

export interface MirrorSettings {
  /** PULLTHROUGH_PUBLIC_HOSTS: an `ns` naming one is no mirror request; the first is the default cache URL. */
  publicHosts: readonly string[];
  /** PULLTHROUGH_MIRROR_MANIFEST_BUDGET_MS. */
  manifestBudgetMs: number;
  /** Does the cache ask clients to authenticate (htpasswd users, or anonymous pull off)? */
  clientAuth: boolean;
}

const DEFAULT_MIRROR: MirrorSettings = { publicHosts: [], manifestBudgetMs: 5000, clientAuth: false };

export interface FrontendApps {
  /** OCI Distribution API (/v2) and the token endpoint: express, with /v2 requests run without its dispatch (data-listener.ts). */
  data: DataListener;
  /** Admin REST API (/api/v1). */
  admin: Express;
}

/** Build both express apps from their dependencies. Never listens (main.ts does). */
export function createApp(deps: FrontendDeps): FrontendApps {
  const audit = deps.audit ?? new AuditLog(deps.logger);
  const data = express();
  data.disable('x-powered-by');
  watchRoutes(data);
  if (deps.trustProxyHops) data.set('trust proxy', deps.trustProxyHops);
  data.set('etag', false);
  const mirror = deps.mirror ?? DEFAULT_MIRROR;
  // Registered on express by dataListener, which also runs them directly for /v2 requests.
  const steps: DataPlaneSteps = {
    before: [
      httpTelemetry('data', deps.httpMetrics),
      requestContext(deps.logger),
      (req, _res, next) => {
        if (!cameFromDeployment(req.headers['user-agent'], deps.deploymentId)) return next();
        next(new LoopDetectedError('this request came from this cache itself: a cache rule leads back to it (through a forwarder, Service or load balancer address)'));
      },
    ],
    v2: dataRouter(deps.registry, deps.logger, deps.clientAuth, { rules: () => deps.rules.rules, selfHosts: mirror.publicHosts, manifestBudgetMs: mirror.manifestBudgetMs }, deps.writes, undefined, deps.retention?.lastPulled),
    notFound: (_req, res) => {
      res.status(404).json({ errors: [{ code: 'NAME_UNKNOWN', message: 'not a registry endpoint' }] });
    },
    onError: ociErrorMiddleware(deps.logger),
  };
  const dataPlane = dataListener(data, steps, { '/token': tokenRoutes(deps.tokenEndpoint) });

  const admin = express();
  admin.disable('x-powered-by');
  watchRoutes(admin);
  admin.use(httpTelemetry('admin', deps.httpMetrics));
  if (deps.trustProxyHops) admin.set('trust proxy', deps.trustProxyHops);
  const issuerDown = (message: string) => deps.logger.warn({ err: message }, 'admin API: the OIDC issuer keys are unavailable');
  const guard = { authenticator: new AdminAuthenticator(deps.adminToken, deps.oidc, issuerDown), audit };
  admin.use(requestContext(deps.logger));
  // Liveness: the process answers. Readiness: its dependencies answer (README "Operations").
  admin.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  const readiness = deps.readiness;
  if (readiness) {
    admin.get('/readyz', async (_req, res) => {
      const report = await readiness();
      res.status(readinessStatusCode(report)).set('cache-control', 'no-store').json(report);
    });
  }
  const metrics = deps.metrics;
  // Unauthenticated like /healthz for Prometheus scrapers (counts and states, never a secret), unless PULLTHROUGH_METRICS_AUTH.
  if (metrics) {
    if (deps.metricsAuth) admin.use('/metrics', metricsAuth(guard));
    admin.get('/metrics', (_req, res, next) => {
      metrics
        .metrics()
        .then((body) => res.type(metrics.contentType).send(body))
        .catch(next);
    });
  }
  // The web console's static files: public (no data in them); its API calls carry the token.
  admin.use('/console', consoleRoutes(deps.consoleDir));
  // Authenticated and authorized (admin-access.ts) before any body is read, then the body limit (a declared
  // Content-Length over it is refused unread), then parsed; changes and denials audited.
  admin.use('/api/v1', adminAuth(guard), bodyLimit(ADMIN_BODY_LIMIT_BYTES), express.json({ limit: ADMIN_BODY_LIMIT_BYTES }));
  const health = { rules: deps.rules, tracker: deps.ruleHealth, pool: deps.pool, verifier: deps.verifier };
  admin.use('/api/v1/cache-rules', ruleHealthRoutes(health));
  admin.use('/api/v1/cache-rules', prefetchRoutes(deps.hydrations));
  if (deps.upstreams) admin.use('/api/v1/upstreams', upstreamRoutes(deps.upstreams));
  admin.use('/api/v1/cache-rules', cacheRuleRoutes(deps.rules, deps.retention?.freeUnreferenced, (name) => deps.ruleHealth.forget(name)));
  admin.use('/api/v1/retention', retentionRoutes(deps.retention?.runner));
  admin.use('/api/v1/health', ruleHealthSummaryRoutes(health));
  admin.use('/api/v1/credential-sets', credentialSetRoutes({ sets: deps.credentialSets, health: deps.credentialHealth, verifier: deps.verifier, forgetSecrets: deps.forgetSecrets }));
  admin.use('/api/v1/hydrations', hydrationRoutes(deps.hydrations));
  admin.use('/api/v1/webhooks', webhookRoutes(deps.webhooks));
  admin.use('/api/v1/access-policy', accessPolicyRoutes(deps.accessPolicies));
  admin.use('/api/v1/gc', gcRoutes(() => deps.gcJobs));
  admin.use('/api/v1/usage', usageRoutes(() => deps.usage));
  admin.use('/api/v1/repositories', repositoryTagRoutes((repository) => deps.registry.store.listTagRecords(repository)));
  admin.use(
    '/api/v1/mirror-config',
    mirrorConfigRoutes({ rules: () => deps.rules.rules, publicHosts: mirror.publicHosts, clientAuth: mirror.clientAuth, isInsecure: (registry) => deps.pool.isInsecure(registry) }),
  );
  admin.use((_req, res) => sendProblem(res, { status: 404, title: 'Not Found' }));
  admin.use(problemMiddleware((err) => deps.logger.error({ err: (err as Error)?.message }, 'admin error')));
  return { data: dataPlane, admin };
}
