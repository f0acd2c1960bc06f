import { Router } from 'express';
import type { CacheRule } from '@pullthrough/cache-rules';
import { normalizeRegistryHost, ruleFallbackRegistries } from '@pullthrough/cache-rules';
import { withBreakerState, type LoginVerifier, type RuleHealthReading, type RuleHealthView } from '@pullthrough/pull-through';
import type { UpstreamClientPool } from '@pullthrough/upstream';
import type { RuleRegistry } from '../rules/rule-registry.js';
import { validateNameParam } from './name-param.js';
import { ProblemError } from './problem.js';

export interface RuleHealthRouteDeps {
  rules: RuleRegistry;
  tracker: RuleHealthView;
  pool: UpstreamClientPool;
  verifier: LoginVerifier;
}

/**
 * One rule's health: its pulls (`scope` says whether every frontend's, shared through Redis, or this
 * process's own), plus its upstream's breaker and rate-limit headroom.
 */
function ruleHealth(rule: CacheRule, reading: RuleHealthReading, pool: UpstreamClientPool) {
  const upstream = normalizeRegistryHost(rule.sourceRepository.split('/')[0]!);
  const breaker = pool.breakerFor(upstream).stats();
  const rateLimit = pool.rateLimitFor(upstream).current();
  const health = reading.health(rule.name);
  return {
    name: rule.name,
    ...health,
    state: withBreakerState(health.state, breaker.state),
    scope: reading.scope,
    upstream,
    ...(rule.credentialSetName ? { credentialSetName: rule.credentialSetName } : {}),
    breaker,
    rateLimit,
    // Each fallback registry's own breaker: which of the rule's mirrors can stand in right now.
    ...(rule.fallbackRegistries ? { fallbacks: ruleFallbackRegistries(rule).map((u) => ({ upstream: u, breaker: pool.breakerFor(u).stats() })) } : {}),
  };
}

/** GET /api/v1/cache-rules/{name}/health, GET .../health/series and POST /api/v1/cache-rules/{name}/verify. */
export function ruleHealthRoutes(deps: RuleHealthRouteDeps): Router {
  const router = validateNameParam(Router(), 'cache rule');
  const found = (name: string): CacheRule => {
    const rule = deps.rules.rules.get(name);
    if (!rule) throw new ProblemError(404, 'Not Found', `cache rule "${name}" does not exist`);
    return rule;
  };
  router.get('/:name/health', async (req, res) => {
    const rule = found(req.params.name);
    res.json(ruleHealth(rule, await deps.tracker.read([rule.name]), deps.pool));
  });
  // The window bucket by bucket (hits, misses, stale, errors per minute by default): the console's charts.
  router.get('/:name/health/series', async (req, res) => {
    const rule = found(req.params.name);
    res.json({ name: rule.name, ...(await deps.tracker.series(rule.name)) });
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
  router.get('/cache-rules', async (_req, res) => {
    const list = deps.rules.rules.list();
    const reading = await deps.tracker.read(list.map((rule) => rule.name));
    const rules = list.map((rule) => ruleHealth(rule, reading, deps.pool));
    const states = { healthy: 0, degraded: 0, failing: 0, unknown: 0 };
    for (const r of rules) states[r.state]++;
    res.json({ states, scope: reading.scope, cacheRules: rules });
  });
  return router;
}
