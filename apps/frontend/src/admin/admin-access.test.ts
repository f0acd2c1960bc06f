import type { Express } from 'express';
import { silentLogger } from '@pullthrough/pull-through';
import { createApp, type FrontendDeps } from '../app.js';
import { ADMIN_ACCESS, accessFor } from './admin-access.js';

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
const deps = { logger: silentLogger, adminToken: 'x'.repeat(20), upstreams: () => [], metrics: {}, tokenEndpoint: {} } as unknown as FrontendDeps;
const apiRoutes = routesOf(createApp(deps).admin)
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
