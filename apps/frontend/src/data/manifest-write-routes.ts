import type { Request, Response } from 'express';
import type { LocalWrites, WriteContext } from '@pullthrough/pull-through';
import { parseDigest, parseReference, SizeInvalidError } from '@pullthrough/oci';

function writeContext(req: Request, res: Response): WriteContext {
  const ua = req.headers['user-agent'];
  return { ...(typeof res.locals.requestId === 'string' ? { requestId: res.locals.requestId } : {}), ...(ua ? { userAgent: ua.slice(0, 300) } : {}) };
}

/** The whole body, refused (SIZE_INVALID) past `limit` bytes, declared or received. */
async function readBody(req: Request, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new SizeInvalidError(`manifest is larger than ${limit} bytes`, { detail: { size: declared, limit } });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new SizeInvalidError(`manifest is larger than ${limit} bytes`, { detail: { limit } });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/**
 * PUT /v2/<name>/manifests/<tag|digest>: 201 with Location and Docker-Content-Digest, and `OCI-Subject`
 * when the manifest has a subject (its referrers list now holds it).
 */
export async function putManifest(writes: LocalWrites, req: Request, res: Response, name: string, rawReference: string): Promise<void> {
  const reference = parseReference(rawReference);
  writes.checkPush(name, reference.kind === 'tag' ? reference.tag : undefined);
  const limit = writes.maxManifestBytes;
  const bytes = await readBody(req, limit);
  const contentType = req.headers['content-type'];
  const pushed = await writes.putManifest(name, reference, bytes, contentType, writeContext(req, res));
  res.setHeader('Location', `/v2/${name}/manifests/${pushed.digest}`);
  res.setHeader('Docker-Content-Digest', pushed.digest);
  if (pushed.subject) res.setHeader('OCI-Subject', pushed.subject);
  res.setHeader('Content-Length', '0');
  res.status(201).end();
}

/** DELETE /v2/<name>/manifests/<digest> (the manifest, its tags and referrers entry) or <tag> (the tag only): 202. */
export async function deleteManifest(writes: LocalWrites, req: Request, res: Response, name: string, rawReference: string): Promise<void> {
  await writes.deleteManifest(name, parseReference(rawReference), writeContext(req, res));
  res.setHeader('Content-Length', '0');
  res.status(202).end();
}

/** DELETE /v2/<name>/blobs/<digest>: the repository stops serving the blob (202). */
export async function deleteBlob(writes: LocalWrites, res: Response, name: string, rawDigest: string): Promise<void> {
  await writes.deleteBlob(name, parseDigest(rawDigest));
  res.setHeader('Content-Length', '0');
  res.status(202).end();
}
