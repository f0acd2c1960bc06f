import type { NextFunction, Request, Response } from 'express';
import { UnsupportedError, NameUnknownError } from '@pullthrough/oci';
import type { Logger, PullThroughRegistry } from '@pullthrough/pull-through';
import type { RepositoryAction } from '@pullthrough/auth';
import { clientKey, type ClientKey } from './client-key.js';
import { pullContext } from './pull-context.js';
import { getBlob, headBlob } from './blob-routes.js';
import type { ClientAuth } from './client-auth.js';
import { listCatalog, listReferrers, listTags } from './listing-routes.js';
import { getManifest } from './manifest-routes.js';
import { API_VERSION_HEADER } from './registry-headers.js';
import { parseRegistryPath, routePattern } from './registry-path.js';
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
 */
export function dataRouter(registry: PullThroughRegistry, logger: Logger, auth: ClientAuth, key: ClientKey = clientKey) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    res.setHeader(API_VERSION_HEADER, 'registry/2.0');
    try {
      const rawPath = req.originalUrl.split('?')[0] ?? '';
      const route = parseRegistryPath(rawPath);
      if (!route) throw new NameUnknownError('no such endpoint', { detail: { path: rawPath.slice(0, 300) } });
      const pattern = routePattern(route);
      const principal = await auth.authenticate(req, res, { route: pattern });
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
          return await getManifest(registry, req, res, route.name, route.reference, pullContext(req, res, key));
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
      next(err);
    }
  };
}
