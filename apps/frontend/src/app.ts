import express, { type Express } from 'express';
import type { CredentialHealthBook } from '@pullthrough/credentials';
import type { HydrationService, LoginVerifier, Logger, PullThroughRegistry, RuleHealthTracker } from '@pullthrough/pull-through';
import type { UpstreamClientPool, UpstreamStatus } from '@pullthrough/upstream';
import type { WebhookService } from '@pullthrough/webhooks';
import type { Registry as MetricsRegistry } from 'prom-client';
import { adminAuth } from './admin/admin-auth.js';
import { ADMIN_BODY_LIMIT_BYTES, bodyLimit } from './admin/body-limit.js';
import { cacheRuleRoutes } from './admin/cache-rule-routes.js';
import { credentialSetRoutes } from './admin/credential-set-routes.js';
import { hydrationRoutes } from './admin/hydration-routes.js';
import { prefetchRoutes } from './admin/prefetch-routes.js';
import { ruleHealthRoutes, ruleHealthSummaryRoutes } from './admin/rule-health-routes.js';
import { webhookRoutes } from './admin/webhook-routes.js';
import { problemMiddleware, sendProblem } from './admin/problem.js';
import { upstreamRoutes } from './admin/upstream-routes.js';
import { dataRouter } from './data/data-router.js';
import { ociErrorMiddleware } from './oci-error-middleware.js';
import { requestContext } from './request-context.js';
import type { CredentialSetRegistry } from './credentials/credential-set-registry.js';
import type { RuleRegistry } from './rules/rule-registry.js';

export interface FrontendDeps {
  registry: PullThroughRegistry;
  rules: RuleRegistry;
  adminToken: string;
  logger: Logger;
  credentialSets: CredentialSetRegistry;
  credentialHealth: CredentialHealthBook;
  ruleHealth: RuleHealthTracker;
  verifier: LoginVerifier;
  pool: UpstreamClientPool;
  forgetSecrets: (credentialSetName: string) => void;
  hydrations: HydrationService;
  webhooks: WebhookService;
  /** Upstream health for `GET /api/v1/upstreams`. */
  upstreams?: () => UpstreamStatus[];
  /** Prometheus registry served at `GET /metrics` on the admin port. */
  metrics?: MetricsRegistry;
}

export interface FrontendApps {
  /** OCI Distribution API (/v2). */
  data: Express;
  /** Admin REST API (/api/v1). */
  admin: Express;
}

/** Build both express apps from their dependencies. Never listens (main.ts does). */
export function createApp(deps: FrontendDeps): FrontendApps {
  const data = express();
  data.disable('x-powered-by');
  data.set('etag', false);
  data.use(requestContext(deps.logger));
  data.use('/v2', dataRouter(deps.registry, deps.logger));
  data.use((_req, res) => {
    res.status(404).json({ errors: [{ code: 'NAME_UNKNOWN', message: 'not a registry endpoint' }] });
  });
  data.use(ociErrorMiddleware(deps.logger));

  const admin = express();
  admin.disable('x-powered-by');
  admin.use(requestContext(deps.logger));
  admin.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  const metrics = deps.metrics;
  // Unauthenticated like /healthz, for Prometheus scrapers: counts and states, never a secret.
  if (metrics) {
    admin.get('/metrics', (_req, res, next) => {
      metrics
        .metrics()
        .then((body) => res.type(metrics.contentType).send(body))
        .catch(next);
    });
  }
  // Authenticate first (no body is read for a client without the token), then the body limit, then parse.
  admin.use('/api/v1', adminAuth(deps.adminToken), bodyLimit(ADMIN_BODY_LIMIT_BYTES), express.json({ limit: ADMIN_BODY_LIMIT_BYTES }));
  const health = { rules: deps.rules, tracker: deps.ruleHealth, pool: deps.pool, verifier: deps.verifier };
  admin.use('/api/v1/cache-rules', ruleHealthRoutes(health));
  admin.use('/api/v1/cache-rules', prefetchRoutes(deps.hydrations));
  if (deps.upstreams) admin.use('/api/v1/upstreams', upstreamRoutes(deps.upstreams));
  admin.use('/api/v1/cache-rules', cacheRuleRoutes(deps.rules));
  admin.use('/api/v1/health', ruleHealthSummaryRoutes(health));
  admin.use('/api/v1/credential-sets', credentialSetRoutes({ sets: deps.credentialSets, health: deps.credentialHealth, verifier: deps.verifier, forgetSecrets: deps.forgetSecrets }));
  admin.use('/api/v1/hydrations', hydrationRoutes(deps.hydrations));
  admin.use('/api/v1/webhooks', webhookRoutes(deps.webhooks));
  admin.use((_req, res) => sendProblem(res, { status: 404, title: 'Not Found' }));
  admin.use(problemMiddleware((err) => deps.logger.error({ err: (err as Error)?.message }, 'admin error')));
  return { data, admin };
}
