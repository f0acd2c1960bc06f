import type { Request, Response } from 'express';
import { parseDigest, RangeInvalidError, type Digest } from '@pullthrough/oci';
import { parseRangeHeader, type Logger, type RangeRequest, type RepositoryContent } from '@pullthrough/pull-through';
import { setCacheHeaders } from './registry-headers.js';

function commonHeaders(res: Response, digest: string): void {
  res.setHeader('Docker-Content-Digest', digest);
  res.setHeader('ETag', `"${digest}"`);
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Cache-Control', 'max-age=31536000, immutable');
  res.setHeader('Content-Type', 'application/octet-stream');
}

/** HEAD /v2/<name>/blobs/<digest> */
export async function headBlob(content: RepositoryContent, res: Response, rawDigest: string): Promise<void> {
  const digest = parseDigest(rawDigest);
  const { size, cache } = await content.statBlob(digest);
  commonHeaders(res, digest);
  setCacheHeaders(res, cache);
  res.setHeader('Content-Length', String(size));
  res.status(200).end();
}

/**
 * GET /v2/<name>/blobs/<digest>, with a single Range (206/416). A miss streams from the upstream
 * while the bytes are written through; if the upstream fails mid-stream the response is cut short
 * (never a complete-looking 200).
 */
export async function getBlob(content: RepositoryContent, req: Request, res: Response, rawDigest: string, logger: Logger): Promise<void> {
  const digest = parseDigest(rawDigest);
  const location = await content.blobLocation(digest);
  if (location) return redirectToStorage(res, digest, location);
  const blob = await content.openBlob(digest, await requestedRange(content, req, res, digest)).catch((err: unknown) => refuseRange(content, res, digest, err));
  blob.done?.catch((err: unknown) => logger.warn({ digest, err: (err as Error).message }, 'blob fetch failed mid-stream'));
  commonHeaders(res, digest);
  setCacheHeaders(res, blob.cache);
  if (blob.range && blob.size !== undefined) {
    res.status(206);
    res.setHeader('Content-Range', `bytes ${blob.range.start}-${blob.range.end}/${blob.size}`);
    res.setHeader('Content-Length', String(blob.range.end - blob.range.start + 1));
  } else {
    res.status(200);
    if (blob.size !== undefined) res.setHeader('Content-Length', String(blob.size));
  }
  try {
    // The body writes itself: stored blobs through pooled buffers (no allocation per read), misses as their bytes arrive.
    await blob.sendTo(res);
  } catch (err) {
    // Nothing sent yet (the held-back first chunk failed its digest, the upstream stalled before it):
    // the error middleware can still answer with an OCI error.
    if (!res.headersSent) throw err;
    // Headers are gone: the only honest signal left is an aborted connection.
    res.destroy(err as Error);
  }
}

/**
 * A local blob answered by a 307 to a short-lived read-only storage URL (README "Storage on Azure
 * Blob"): the client fetches the bytes, and any Range, from the storage service. The URL expires,
 * so the answer must not be cached.
 */
function redirectToStorage(res: Response, digest: Digest, location: string): void {
  res.setHeader('Docker-Content-Digest', digest);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Location', location);
  setCacheHeaders(res, 'hit');
  res.status(307).end();
}

/** The Range a GET asks for; one this server cannot honour is refused like an unsatisfiable one (416 with the size). */
async function requestedRange(content: RepositoryContent, req: Request, res: Response, digest: Digest): Promise<RangeRequest | undefined> {
  try {
    return parseRangeHeader(typeof req.headers.range === 'string' ? req.headers.range : undefined);
  } catch (err) {
    return refuseRange(content, res, digest, err);
  }
}

/**
 * A 416 tells the client how big the blob is (`Content-Range: bytes *\/<size>`, RFC 9110 15.5.17).
 * When the range was refused before the blob was looked at, the blob is stat'ed first, so a bad
 * Range on a blob this repository cannot serve is that blob's 404, not a 416.
 */
async function refuseRange(content: RepositoryContent, res: Response, digest: Digest, err: unknown): Promise<never> {
  if (!(err instanceof RangeInvalidError)) throw err;
  const size = err.size ?? (await content.statBlob(digest)).size;
  res.setHeader('Content-Range', `bytes */${size}`);
  throw err;
}
