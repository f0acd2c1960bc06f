import type { NextFunction, Request, Response } from 'express';
import { UnsupportedError, NameUnknownError, parseRepositoryName } from '@pullthrough/oci';
import type { LastPulledBook, LocalWrites, Logger, PullThroughRegistry } from '@pullthrough/pull-through';
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
import { writeRoute } from './write-router.js';

const READ_METHODS = new Set(['GET', 'HEAD']);

/** The action a request needs on its repository: reads pull, DELETE deletes, every other write pushes. */
function actionOf(method: string): RepositoryAction {
  if (READ_METHODS.has(method)) return 'pull';
  return method === 'DELETE' ? 'delete' : 'push';
}

/** The `from` of a cross-repository mount (`?mount=<digest>&from=<repository>`), if the request is one. */
function mountSource(req: Request): string | undefined {
  const { mount, from } = req.query;
  if (typeof mount !== 'string' || typeof from !== 'string') return undefined;
  try {
    return parseRepositoryName(from);
  } catch {
    return undefined; // not a repository name: nothing to mount from (the upload route answers 202)
  }
}

/**
 * The /v2 data plane: one dispatcher over the parsed path, one handler module per OCI resource.
 * Every request is authenticated and authorized for its repository and action before anything
 * else runs. Writes (and upload sessions) go to `writes` (write-router.ts); through a mirror
 * request (`?ns=`) they answer UNSUPPORTED. A repository read gets the repository's content from
 * `registry.contentFor` (local, or pull-through over local, by the rule match) and calls only that
 * interface. `key` names the client whose upstream-bound requests the registry's miss limiter counts.
 *
 * A request with containerd's `?ns=<registry host>` (a node using this cache as a mirror) is routed
 * by that registry and its path to the downstream repository of the rule covering them, and is
 * authorized for that repository; whatever the cache cannot serve it answers 404 (or 401), so
 * containerd falls back to its next host at once. `_catalog` and `/v2/` ignore `ns`.
 */
export function dataRouter(registry: PullThroughRegistry, logger: Logger, auth: ClientAuth, mirrorOptions: MirrorOptions, writes: LocalWrites, key: ClientKey = clientKey, pulls?: Pick<LastPulledBook, 'note'>) {
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
      res.locals.route = pattern;
      const principal = await auth.authenticate(req, res, { route: pattern });
      let route = parsed;
      if (route.kind !== 'base' && route.kind !== 'catalog') {
        mirror = mirrorRequest(req, route.name, mirrorOptions);
        if (mirror && !mirror.downstreamRepository) throw mirrorUncovered(route.kind, mirror, route.name);
        if (mirror?.downstreamRepository) route = { ...route, name: mirror.downstreamRepository };
      }
      if (route.kind === 'base') auth.requireLogin(req, res, principal, { route: pattern });
      else if (route.kind !== 'catalog') auth.require(req, res, principal, { route: pattern, repository: route.name, action: route.kind === 'upload' ? 'push' : actionOf(req.method) });
      if (!READ_METHODS.has(req.method) || route.kind === 'upload') {
        if (mirror || route.kind === 'base' || route.kind === 'catalog') {
          throw new UnsupportedError(`${req.method} is not supported here${mirror ? ' (push and delete never go through a mirror request)' : ''}`, { detail: { method: req.method } });
        }
        const from = route.kind === 'upload' && req.method === 'POST' ? mountSource(req) : undefined;
        if (from !== undefined) auth.requireMountSource(req, res, principal, { route: pattern, repository: route.name, action: 'push' }, from);
        return await writeRoute(writes, req, res, route, (repository) => auth.allows(principal, repository, 'pull'));
      }
      switch (route.kind) {
        case 'base':
          res.status(200).json({});
          return;
        case 'catalog':
          return await listCatalog(registry, req, res, (name) => auth.canList(principal, name));
        // The repository's content, picked by the rule match (local, or pull-through over local).
        case 'manifest':
          await getManifest(registry.contentFor(route.name, pullContext(req, res, key)), req, res, route.reference, mirror ? mirrorOptions.manifestBudgetMs : undefined);
          // Noted in memory (retention's last-pulled times), written to Redis in batches.
          if (res.statusCode < 400) pulls?.note(route.name, route.reference, res.getHeader('Docker-Content-Digest') as string | undefined);
          return;
        case 'blob': {
          const content = registry.contentFor(route.name, pullContext(req, res, key));
          return req.method === 'HEAD' ? await headBlob(content, res, route.digest) : await getBlob(content, req, res, route.digest, requestLogger(res, logger));
        }
        case 'tags':
          return await listTags(registry.contentFor(route.name, pullContext(req, res, key)), req, res);
        case 'referrers':
          return await listReferrers(registry.contentFor(route.name, pullContext(req, res, key)), req, res, route.digest);
      }
    } catch (err) {
      next(mirror && kind && kind !== 'base' && kind !== 'catalog' ? mirrorFallback(err, kind, mirror, requestLogger(res, logger)) : err);
    }
  };
}
