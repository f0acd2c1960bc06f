import type { Request, Response } from 'express';
import { acceptsMediaType, ManifestUnknownError, parseReference, RegistryError, type Reference } from '@pullthrough/oci';
import type { RepositoryContent } from '@pullthrough/pull-through';
import { withinBudget } from './mirror-request.js';
import { setCacheHeaders } from './registry-headers.js';

/**
 * A reference that is neither a tag nor a digest names no manifest: 404 MANIFEST_UNKNOWN (what the
 * distribution-spec conformance suite expects of `.INVALID_MANIFEST_NAME`), decided before any
 * storage or upstream is asked.
 */
function manifestReference(raw: string): Reference {
  try {
    return parseReference(raw);
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err;
    throw new ManifestUnknownError(`manifest unknown: the reference is not a valid tag or digest (${err.message})`, { detail: { reference: raw.replace(/\u0000/g, '').slice(0, 200) } });
  }
}

/**
 * GET/HEAD /v2/<name>/manifests/<reference>: bytes exactly as stored, never converted.
 * `budgetMs` (mirror requests): not answered by then, it is a 404 and the fetch goes on behind it.
 */
export async function getManifest(content: RepositoryContent, req: Request, res: Response, rawReference: string, budgetMs?: number): Promise<void> {
  const reference = manifestReference(rawReference);
  const pending = content.getManifest(reference);
  const manifest = budgetMs === undefined ? await pending : await withinBudget(pending, budgetMs);
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
