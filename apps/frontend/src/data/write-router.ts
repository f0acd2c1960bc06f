import type { Request, Response } from 'express';
import { UnsupportedError } from '@pullthrough/oci';
import type { LocalWrites } from '@pullthrough/pull-through';
import { deleteBlob, deleteManifest, putManifest } from './manifest-write-routes.js';
import type { RegistryRoute } from './registry-path.js';
import { cancelUpload, finishUpload, patchUpload, startUpload, uploadStatus } from './upload-routes.js';

/**
 * Push and content management (every write, and GET of an upload session), after the data router
 * has authorized the request's action (`push`, or `delete` for DELETE; upload sessions need `push`).
 * `mayPull` is the client's own pull permission: a mount reads from a repository only when it holds.
 */
export async function writeRoute(writes: LocalWrites, req: Request, res: Response, route: RegistryRoute, mayPull: (repository: string) => boolean): Promise<void> {
  const method = req.method;
  switch (route.kind) {
    case 'upload':
      if (route.session === undefined) {
        if (method === 'POST') return startUpload(writes, req, res, route.name, mayPull);
        break;
      }
      if (method === 'PATCH') return patchUpload(writes, req, res, route.name, route.session);
      if (method === 'PUT') return finishUpload(writes, req, res, route.name, route.session);
      if (method === 'GET' || method === 'HEAD') return uploadStatus(writes, res, route.name, route.session);
      if (method === 'DELETE') return cancelUpload(writes, res, route.name, route.session);
      break;
    case 'manifest':
      if (method === 'PUT') return putManifest(writes, req, res, route.name, route.reference);
      if (method === 'DELETE') return deleteManifest(writes, req, res, route.name, route.reference);
      break;
    case 'blob':
      if (method === 'DELETE') return deleteBlob(writes, res, route.name, route.digest);
      break;
    default:
      break;
  }
  throw new UnsupportedError(`${method} is not supported on this endpoint`, { detail: { method } });
}
