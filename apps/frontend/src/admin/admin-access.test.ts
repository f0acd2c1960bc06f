import type { Express } from 'express';
import { silentLogger } from '@pullthrough/pull-through';
import { createApp, type FrontendDeps } from '../app.js';
import { ADMIN_ACCESS, ADMIN_PORT_PUBLIC, accessFor, credentialRuleChangeNeedsAdmin } from './admin-access.js';

interface Layer {
  rawPath?: string;
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every `METHOD /path` the admin app routes, read from express's own router stack. */
function routesOf(app: Express): string[] {
  const out: string[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const m of Object.keys(layer.route.methods)) out.push(`${m.toUpperCase()} ${prefix}${layer.route.path}`);
      } else if (layer.handle?.stack && typeof layer.rawPath === 'string') {
        walk(layer.handle.stack, prefix + layer.rawPath);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return out;
}

// Only what createApp touches while wiring: the routers keep their deps for later.
const deps = { logger: silentLogger, adminToken: 'x'.repeat(20), upstreams: () => [], metrics: {}, tokenEndpoint: {}, deploymentId: '0123456789abcdef' } as unknown as FrontendDeps;
const allRoutes = routesOf(createApp(deps).admin);
const apiRoutes = allRoutes
  .filter((r) => r.includes(' /api/v1/'))
  .map((r) => r.replace(' /api/v1', ' '));

describe('admin access table', () => {
  test('the admin app is seen (the walk finds its routers)', () => {
    expect(apiRoutes).toEqual(expect.arrayContaining(['GET /cache-rules/', 'PUT /cache-rules/:name', 'POST /webhooks/:name/ping']));
  });

  test('every non-GET route of the admin app has its own row, and every row is a real route', () => {
    // express (and the table) ignore a trailing slash: a router's `/` mounted at /access-policy is /access-policy.
    const changes = apiRoutes.filter((r) => !r.startsWith('GET ')).map((r) => r.replace(/(.)\/$/, '$1'));
    const rows = ADMIN_ACCESS.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.route}`);
    expect([...changes].sort()).toEqual([...rows].sort());
  });

  test('every route outside /api/v1 is a row of the public table (nothing else on the admin port goes without a token)', () => {
    const outside = allRoutes.filter((r) => !r.includes(' /api/v1/'));
    expect(outside).toEqual(expect.arrayContaining(['GET /healthz', 'GET /metrics', 'GET /console/']));
    const listed = (r: string) =>
      ADMIN_PORT_PUBLIC.some((row) => {
        const [method, path] = r.split(' ') as [string, string];
        if (method !== row.method) return false;
        return row.route.endsWith('/*') ? path === row.route.slice(0, -2) || path.startsWith(row.route.slice(0, -1)) : path === row.route;
      });
    expect(outside.filter((r) => !listed(r))).toEqual([]);
  });

  test('every GET route is readable by a reader', () => {
    for (const r of apiRoutes.filter((x) => x.startsWith('GET '))) expect([r, accessFor('GET', r.slice(4)).role]).toEqual([r, 'reader']);
  });

  test.each<[string, string, string, string, string | undefined]>([
    ['GET', '/cache-rules', 'reader', 'read', undefined],
    ['HEAD', '/credential-sets/hub-creds', 'reader', 'read', undefined],
    ['PUT', '/cache-rules/dockerhub', 'operator', 'cache-rule.put', 'dockerhub'],
    ['DELETE', '/cache-rules/dockerhub/', 'operator', 'cache-rule.delete', 'dockerhub'],
    ['POST', '/cache-rules/dockerhub/prefetch', 'operator', 'cache-rule.prefetch', 'dockerhub'],
    ['POST', '/cache-rules/dockerhub/verify', 'operator', 'cache-rule.verify', 'dockerhub'],
    ['PUT', '/credential-sets/hub-creds', 'admin', 'credential-set.put', 'hub-creds'],
    ['DELETE', '/credential-sets/hub-creds', 'admin', 'credential-set.delete', 'hub-creds'],
    ['POST', '/credential-sets/hub-creds/verify', 'operator', 'credential-set.verify', 'hub-creds'],
    ['PUT', '/webhooks/on-hydrated', 'admin', 'webhook.put', 'on-hydrated'],
    ['DELETE', '/webhooks/on-hydrated', 'admin', 'webhook.delete', 'on-hydrated'],
    ['POST', '/webhooks/on-hydrated/ping', 'operator', 'webhook.ping', 'on-hydrated'],
    // garbage collection: operators dry-run; a deleting run needs admin (decided on the body, gc-routes.ts)
    ['POST', '/gc', 'operator', 'gc.run', undefined],
    ['GET', '/gc/gc-0d0889ff-153d-4da6-8caa-9099d3b1f699', 'reader', 'read', undefined],
    ['GET', '/usage', 'reader', 'read', undefined],
    // express matches paths case-insensitively; so does the table (never weaker than the route it reaches)
    ['PUT', '/Credential-Sets/hub-creds', 'admin', 'credential-set.put', 'hub-creds'],
    ['put', '/CACHE-RULES/x', 'operator', 'cache-rule.put', 'x'],
    // anything unlisted needs admin
    ['POST', '/cache-rules/dockerhub', 'admin', 'unlisted', undefined],
    ['PATCH', '/cache-rules/dockerhub', 'admin', 'unlisted', undefined],
    ['POST', '/cache-rules/a/b/verify', 'admin', 'unlisted', undefined],
    ['PUT', '/users/alice', 'admin', 'unlisted', undefined],
  ])('%s %s needs %s (%s)', (method, path, role, action, target) => {
    const d = accessFor(method, path);
    expect([d.role, d.action, d.target]).toEqual([role, action, target]);
  });
});

describe('the body-dependent rule: cache rules with a credential set', () => {
  const plain = { name: 'plain-rule', sourceRepository: 'quay.io/a/*', targetRepository: 'a/*' };
  const withSet = { ...plain, credentialSetName: 'creds' };
  const anonymous = { ...withSet, anonymousPull: true };
  test.each([
    ['a new rule without a set', undefined, { body: plain }, undefined],
    ['a new rule with a set', undefined, { body: withSet }, undefined],
    ['a new anonymous rule with a set', undefined, { body: anonymous }, 'credential-set-rule-made-anonymous'],
    ['a set added to a plain rule', plain, { body: withSet }, undefined],
    ['a set added anonymous to a plain rule', { ...plain, anonymousPull: true }, { body: anonymous }, 'credential-set-rule-made-anonymous'],
    ['a rule with a set made anonymous', withSet, { body: anonymous }, 'credential-set-rule-made-anonymous'],
    ['an anonymous rule with a set kept as it is', anonymous, { body: { ...anonymous, tagFreshnessSeconds: 5 } }, undefined],
    ['anonymousPull: false', withSet, { body: { ...withSet, anonymousPull: false } }, undefined],
    ['the set removed', withSet, { body: plain }, 'credential-set-rule-credential-set-changed'],
    ['the set swapped', withSet, { body: { ...withSet, credentialSetName: 'other' } }, 'credential-set-rule-credential-set-changed'],
    ['the source changed', withSet, { body: { ...withSet, sourceRepository: 'quay.io/b/*' } }, 'credential-set-rule-source-changed'],
    ['the source of a plain rule changed', plain, { body: { ...plain, sourceRepository: 'quay.io/b/*' } }, undefined],
    ['the target changed', withSet, { body: { ...withSet, targetRepository: 'b/*' } }, 'credential-set-rule-target-changed'],
    ['a body that is not an object', withSet, { body: 'nonsense' }, 'credential-set-rule-credential-set-changed'],
    ['a rule with a set deleted', withSet, undefined, 'credential-set-rule-deleted'],
    ['a plain rule deleted', plain, undefined, undefined],
    ['an unknown rule deleted', undefined, undefined, undefined],
  ])('%s', (_label, existing, next, reason) => {
    const escalation = credentialRuleChangeNeedsAdmin(existing, next);
    if (reason === undefined) expect(escalation).toBeUndefined();
    else expect(escalation).toEqual({ role: 'admin', reason, detail: expect.any(String) });
  });

  const guarded = { name: 'guarded-rule', sourceRepository: 'quay.io/private/*', targetRepository: 'team/private/*', credentialSetName: 'creds' };
  test.each([
    ['a more specific target inside it', { name: 'new-rule', sourceRepository: 'quay.io/pub/*', targetRepository: 'team/private/app/*' }, 'credential-set-rule-shadowed'],
    ['an exact repository inside it', { name: 'new-rule', sourceRepository: 'quay.io/pub/x', targetRepository: 'team/private/app' }, 'credential-set-rule-shadowed'],
    ['a wider target around it', { name: 'new-rule', sourceRepository: 'quay.io/pub/*', targetRepository: 'team/*' }, 'credential-set-rule-shadowed'],
    ['the same set inside it', { name: 'new-rule', sourceRepository: 'quay.io/private/app/*', targetRepository: 'team/private/app/*', credentialSetName: 'creds' }, undefined],
    ['a neighbour that only shares a prefix', { name: 'new-rule', sourceRepository: 'quay.io/pub/*', targetRepository: 'team/private-other/*' }, undefined],
  ])('a new rule with %s (another rule has a credential set)', (_label, body, reason) => {
    const escalation = credentialRuleChangeNeedsAdmin(undefined, { body }, [guarded, plain]);
    expect(escalation?.reason).toBe(reason);
  });
});
