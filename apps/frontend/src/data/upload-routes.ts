import type { Request, Response } from 'express';
import { BlobUploadInvalidError, BlobUploadUnknownError, DigestInvalidError, UploadRangeError, parseDigest, type Digest } from '@pullthrough/oci';
import type { LocalWrites } from '@pullthrough/pull-through';

/** `Content-Range` of a chunk: `<start>-<end>` (the spec's form), or `bytes <start>-<end>/<total|*>`. */
const CONTENT_RANGE = /^(?:bytes )?(\d{1,15})-(\d{1,15})(?:\/(?:\d{1,15}|\*))?$/;

const uploadPath = (name: string, id: string) => `/v2/${name}/blobs/uploads/${id}`;

/** Where a session stands: Location (to continue it), its id, and `Range: 0-<last byte>` (`0-0` when empty, as distribution says it). */
function sessionHeaders(res: Response, name: string, id: string, size: number): void {
  res.setHeader('Location', uploadPath(name, id));
  res.setHeader('Docker-Upload-UUID', id);
  res.setHeader('Range', `0-${Math.max(0, size - 1)}`);
  res.setHeader('Content-Length', '0');
}

function blobCreated(res: Response, name: string, digest: Digest): void {
  res.setHeader('Location', `/v2/${name}/blobs/${digest}`);
  res.setHeader('Docker-Content-Digest', digest);
  res.setHeader('Content-Length', '0');
  res.status(201).end();
}

function query(req: Request, key: string): string | undefined {
  const value = req.query[key];
  return typeof value === 'string' ? value : undefined;
}

/** Does the request carry a body (declared length > 0, or chunked)? */
function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

/** The chunk's declared range, if any; a malformed one is BLOB_UPLOAD_INVALID. */
function contentRange(req: Request): { start: number; end: number } | undefined {
  const header = req.headers['content-range'];
  if (header === undefined) return undefined;
  const m = CONTENT_RANGE.exec(header.trim());
  const start = Number(m?.[1]);
  const end = Number(m?.[2]);
  if (!m || end < start) throw new BlobUploadInvalidError('invalid Content-Range: expected <start>-<end>', { detail: { contentRange: header.slice(0, 100) } });
  return { start, end };
}

/**
 * The request body, checked against the chunk's declared length: more or fewer bytes fail the chunk
 * (a failed chunk leaves the session as it was).
 */
async function* body(req: Request, range: { start: number; end: number } | undefined): AsyncGenerator<Uint8Array> {
  const expected = range ? range.end - range.start + 1 : undefined;
  let received = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (expected !== undefined && received > expected) throw new BlobUploadInvalidError('chunk is longer than its Content-Range', { detail: { expected, received } });
    yield chunk;
  }
  if (expected !== undefined && received !== expected) throw new BlobUploadInvalidError('chunk is shorter than its Content-Range', { detail: { expected, received } });
}

function requireSession(session: string | undefined): string {
  if (session === undefined || session === '') throw new BlobUploadUnknownError('blob upload unknown');
  return session;
}

/** A 416 says where the session stands, so the client can resume from there. */
async function withSessionOnRangeError<T>(res: Response, name: string, id: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof UploadRangeError) sessionHeaders(res, name, id, err.size);
    throw err;
  }
}

/**
 * POST /v2/<name>/blobs/uploads/: a cross-repository mount (`?mount=<digest>[&from=<repo>]`: 201 when
 * mounted, else a session, 202), a monolithic upload (`?digest=` with the body: 201), or a new session (202).
 */
export async function startUpload(writes: LocalWrites, req: Request, res: Response, name: string, mayPull: (repository: string) => boolean): Promise<void> {
  writes.checkPush(name);
  const mount = query(req, 'mount');
  if (mount !== undefined) {
    const mounted = await writes.mount(name, parseDigest(mount), query(req, 'from'), mayPull);
    if (mounted) return blobCreated(res, name, mounted.digest);
  }
  const digest = query(req, 'digest');
  if (digest !== undefined && mount === undefined) {
    const blob = await writes.uploads.putBlob(name, parseDigest(digest), body(req, undefined));
    return blobCreated(res, name, blob.digest);
  }
  const id = await writes.uploads.start(name);
  sessionHeaders(res, name, id, 0);
  res.status(202).end();
}

/** PATCH /v2/<name>/blobs/uploads/<id>: one chunk, at the session's end (Content-Range says where; without it, streamed at the end). */
export async function patchUpload(writes: LocalWrites, req: Request, res: Response, name: string, session: string | undefined): Promise<void> {
  writes.checkPush(name);
  const id = requireSession(session);
  const range = contentRange(req);
  const size = await withSessionOnRangeError(res, name, id, () => writes.uploads.append(name, id, range?.start, body(req, range)));
  sessionHeaders(res, name, id, size);
  res.status(202).end();
}

/** GET /v2/<name>/blobs/uploads/<id>: where the session stands (204 with Range and Location). */
export async function uploadStatus(writes: LocalWrites, res: Response, name: string, session: string | undefined): Promise<void> {
  const id = requireSession(session);
  const { size } = await writes.uploads.status(name, id);
  sessionHeaders(res, name, id, size);
  res.status(204).end();
}

/** PUT /v2/<name>/blobs/uploads/<id>?digest=: finish, with an optional last chunk; 201 once verified and committed. */
export async function finishUpload(writes: LocalWrites, req: Request, res: Response, name: string, session: string | undefined): Promise<void> {
  writes.checkPush(name);
  const id = requireSession(session);
  const raw = query(req, 'digest');
  if (raw === undefined) throw new DigestInvalidError('finishing an upload needs ?digest=');
  const digest = parseDigest(raw);
  const range = contentRange(req);
  const blob = await withSessionOnRangeError(res, name, id, async () => {
    if (range) {
      const { size } = await writes.uploads.status(name, id);
      if (range.start !== size) throw new UploadRangeError('chunk does not start at the end of the upload', { size, detail: { offset: range.start, size } });
    }
    return writes.uploads.finish(name, id, digest, hasBody(req) ? body(req, range) : undefined);
  });
  blobCreated(res, name, blob.digest);
}

/** DELETE /v2/<name>/blobs/uploads/<id>: cancel (204). */
export async function cancelUpload(writes: LocalWrites, res: Response, name: string, session: string | undefined): Promise<void> {
  await writes.uploads.cancel(name, requireSession(session));
  res.setHeader('Content-Length', '0');
  res.status(204).end();
}
