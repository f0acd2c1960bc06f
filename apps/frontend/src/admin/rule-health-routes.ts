import { Router } from 'express';
import type { CacheRule } from '@pullthrough/cache-rules';
import { normalizeRegistryHost, ruleFallbackRegistries } from '@pullthrough/cache-rules';
import { withBreakerState, type LoginVerifier, type RuleHealthTracker } from '@pullthrough/pull-through';
import type { UpstreamClientPool } from '@pullthrough/upstream';
import type { RuleRegistry } from '../rules/rule-registry.js';
import { validateNameParam } from './name-param.js';
import { ProblemError } from './problem.js';

export interface RuleHealthRouteDeps {
  rules: RuleRegistry;
  tracker: RuleHealthTracker;
  pool: UpstreamClientPool;
  verifier: LoginVerifier;
}

/** One rule's health: the tracker's view of its pulls, plus its upstream's breaker and rate-limit headroom. */
function ruleHealth(rule: CacheRule, { tracker, pool }: Pick<RuleHealthRouteDeps, 'tracker' | 'pool'>) {
  const upstream = normalizeRegistryHost(rule.sourceRepository.split('/')[0]!);
  const breaker = pool.breakerFor(upstream).stats();
  const rateLimit = pool.rateLimitFor(upstream).current();
  const health = tracker.health(rule.name);
  return {
    name: rule.name,
    ...health,
    state: withBreakerState(health.state, breaker.state),
    upstream,
    ...(rule.credentialSetName ? { credentialSetName: rule.credentialSetName } : {}),
    breaker,
    rateLimit,
    // Each fallback registry's own breaker: which of the rule's mirrors can stand in right now.
    ...(rule.fallbackRegistries ? { fallbacks: ruleFallbackRegistries(rule).map((u) => ({ upstream: u, breaker: pool.breakerFor(u).stats() })) } : {}),
  };
}

/** GET /api/v1/cache-rules/{name}/health and POST /api/v1/cache-rules/{name}/verify. */
export function ruleHealthRoutes(deps: RuleHealthRouteDeps): Router {
  const router = validateNameParam(Router(), 'cache rule');
  const found = (name: string): CacheRule => {
    const rule = deps.rules.rules.get(name);
    if (!rule) throw new ProblemError(404, 'Not Found', `cache rule "${name}" does not exist`);
    return rule;
  };
  router.get('/:name/health', (req, res) => {
    res.json(ruleHealth(found(req.params.name), deps));
  });
  router.post('/:name/verify', async (req, res) => {
    const rule = found(req.params.name);
    res.json({ rule: rule.name, ...(await deps.verifier.verifyRule(rule, deps.rules.rules)) });
  });
  return router;
}

/** GET /api/v1/health/cache-rules: every rule's health, and counts per state. */
export function ruleHealthSummaryRoutes(deps: RuleHealthRouteDeps): Router {
  const router = Router();
  router.get('/cache-rules', (_req, res) => {
    const rules = deps.rules.rules.list().map((rule) => ruleHealth(rule, deps));
    const states = { healthy: 0, degraded: 0, failing: 0, unknown: 0 };
    for (const r of rules) states[r.state]++;
    res.json({ states, cacheRules: rules });
  });
  return router;
}
