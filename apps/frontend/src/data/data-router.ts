import type { NextFunction, Request, Response } from 'express';
import { UnsupportedError, NameUnknownError } from '@pullthrough/oci';
import type { LastPulledBook, Logger, PullThroughRegistry } from '@pullthrough/pull-through';
import type { RepositoryAction } from '@pullthrough/auth';
import { clientKey, type ClientKey } from './client-key.js';
import { pullContext } from './pull-context.js';
import { getBlob, headBlob } from './blob-routes.js';
import type { ClientAuth } from './client-auth.js';
import { listCatalog, listReferrers, listTags } from './listing-routes.js';
import { getManifest } from './manifest-routes.js';
import { API_VERSION_HEADER } from './registry-headers.js';
import { mirrorFallback, mirrorRequest, mirrorUncovered, type MirrorOptions, type MirrorRequest } from './mirror-request.js';
import { parseRegistryPath, routePattern, type RegistryRoute } from './registry-path.js';
import { requestLogger } from '../request-context.js';

const READ_METHODS = new Set(['GET', 'HEAD']);

/** The action a request needs on its repository: reads pull, DELETE deletes, every other write pushes. */
function actionOf(method: string): RepositoryAction {
  if (READ_METHODS.has(method)) return 'pull';
  return method === 'DELETE' ? 'delete' : 'push';
}

/**
 * The /v2 data plane: one dispatcher over the parsed path, one handler module per OCI resource.
 * Every request is authenticated and authorized for its repository and action before anything
 * else runs. Writes then answer UNSUPPORTED (push is not built yet). `key` names the client whose
 * upstream-bound requests the registry's miss limiter counts.
 *
 * A request with containerd's `?ns=<registry host>` (a node using this cache as a mirror) is routed
 * by that registry and its path to the downstream repository of the rule covering them, and is
 * authorized for that repository; whatever the cache cannot serve it answers 404 (or 401), so
 * containerd falls back to its next host at once. `_catalog` and `/v2/` ignore `ns`.
 */
export function dataRouter(registry: PullThroughRegistry, logger: Logger, auth: ClientAuth, mirrorOptions: MirrorOptions, key: ClientKey = clientKey, pulls?: Pick<LastPulledBook, 'note'>) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    res.setHeader(API_VERSION_HEADER, 'registry/2.0');
    let mirror: MirrorRequest | undefined;
    let kind: RegistryRoute['kind'] | undefined;
    try {
      const rawPath = req.originalUrl.split('?')[0] ?? '';
      const parsed = parseRegistryPath(rawPath);
      if (!parsed) throw new NameUnknownError('no such endpoint', { detail: { path: rawPath.slice(0, 300) } });
      kind = parsed.kind;
      const pattern = routePattern(parsed);
      const principal = await auth.authenticate(req, res, { route: pattern });
      let route = parsed;
      if (route.kind !== 'base' && route.kind !== 'catalog') {
        mirror = mirrorRequest(req, route.name, mirrorOptions);
        if (mirror && !mirror.downstreamRepository) throw mirrorUncovered(route.kind, mirror, route.name);
        if (mirror?.downstreamRepository) route = { ...route, name: mirror.downstreamRepository };
      }
      if (route.kind === 'base') auth.requireLogin(req, res, principal, { route: pattern });
      else if (route.kind !== 'catalog') auth.require(req, res, principal, { route: pattern, repository: route.name, action: route.kind === 'upload' ? 'push' : actionOf(req.method) });
      if (!READ_METHODS.has(req.method)) {
        throw new UnsupportedError('this registry is a pull-through cache: push and delete are not supported', { detail: { method: req.method } });
      }
      switch (route.kind) {
        case 'base':
          res.status(200).json({});
          return;
        case 'catalog':
          return await listCatalog(registry, req, res, (name) => auth.canList(principal, name));
        case 'manifest':
          await getManifest(registry, req, res, route.name, route.reference, pullContext(req, res, key), mirror ? mirrorOptions.manifestBudgetMs : undefined);
          // Noted in memory (retention's last-pulled times), written to Redis in batches.
          if (res.statusCode < 400) pulls?.note(route.name, route.reference, res.getHeader('Docker-Content-Digest') as string | undefined);
          return;
        case 'blob':
          return req.method === 'HEAD'
            ? await headBlob(registry, res, route.name, route.digest, pullContext(req, res, key))
            : await getBlob(registry, req, res, route.name, route.digest, pullContext(req, res, key), requestLogger(res, logger));
        case 'tags':
          return await listTags(registry, req, res, route.name, pullContext(req, res, key));
        case 'referrers':
          return await listReferrers(registry, req, res, route.name, route.digest, pullContext(req, res, key));
        case 'upload':
          throw new UnsupportedError('this registry is a pull-through cache: push is not supported');
      }
    } catch (err) {
      next(mirror && kind && kind !== 'base' && kind !== 'catalog' ? mirrorFallback(err, kind, mirror, requestLogger(res, logger)) : err);
    }
  };
}
