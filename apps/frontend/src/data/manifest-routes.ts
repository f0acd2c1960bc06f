import type { Request, Response } from 'express';
import { acceptsMediaType, ManifestUnknownError, parseReference } from '@pullthrough/oci';
import type { PullContext, PullThroughRegistry } from '@pullthrough/pull-through';
import { setCacheHeaders } from './registry-headers.js';

/** GET/HEAD /v2/<name>/manifests/<reference>: bytes exactly as stored, never converted. */
export async function getManifest(registry: PullThroughRegistry, req: Request, res: Response, name: string, rawReference: string, ctx: PullContext): Promise<void> {
  const reference = parseReference(rawReference);
  const manifest = await registry.getManifest(name, reference, ctx);
  const accept = req.headers.accept;
  if (!acceptsMediaType(accept, manifest.mediaType)) {
    throw new ManifestUnknownError(`manifest is ${manifest.mediaType}, which the request's Accept header does not allow`, {
      detail: { mediaType: manifest.mediaType, accept: accept?.slice(0, 300) },
    });
  }
  const etag = `"${manifest.digest}"`;
  res.setHeader('Docker-Content-Digest', manifest.digest);
  res.setHeader('ETag', etag);
  res.setHeader('Content-Type', manifest.mediaType);
  setCacheHeaders(res, manifest.cache, manifest.staleReason);
  if (req.headers['if-none-match'] === etag) {
    res.statusCode = 304;
    res.end();
    return;
  }
  res.setHeader('Content-Length', String(manifest.size));
  res.statusCode = 200;
  if (req.method === 'HEAD') res.end();
  else res.end(manifest.bytes);
}
