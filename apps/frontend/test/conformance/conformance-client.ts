import { RegistryClient } from '@pullthrough/test-support';
import type { ConformanceTarget } from './conformance-target.js';

/** One HTTP exchange, read whole. */
export interface Reply {
  status: number;
  headers: Headers;
  body: Buffer;
}

export interface SendOptions {
  headers?: Record<string, string>;
  body?: Buffer;
  /** Query parameters set on the URL (added to any the path already has, e.g. an upload's state). */
  query?: Record<string, string>;
}

/** The error codes distribution-spec v1.1 defines for the `{"errors":[...]}` body. */
export const SPEC_ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
] as const;

export const OCTET_STREAM = 'application/octet-stream';

/**
 * Raw HTTP against a conformance target: every request and answer is visible to the checks (status,
 * headers, body); authentication (Basic or the token protocol) is answered by test-support's
 * RegistryClient, nothing else is interpreted.
 */
export class ConformanceClient {
  private readonly http: RegistryClient;

  constructor(readonly target: ConformanceTarget) {
    this.http = new RegistryClient(target.baseUrl, target.credentials, { preemptiveBasic: target.preemptiveBasic === true });
  }

  /** `path` is `/v2/...` or an upload `Location` (relative or absolute). */
  async send(method: string, path: string, options: SendOptions = {}): Promise<Reply> {
    const url = this.url(path);
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
    const res = await this.http.request(url.toString(), { method, headers: options.headers, body: options.body });
    return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
  }

  /** A path or Location resolved against the target's base URL. */
  url(pathOrLocation: string): URL {
    return new URL(pathOrLocation, this.target.baseUrl);
  }

  blobPath(repository: string, digest: string): string {
    return `/v2/${repository}/blobs/${digest}`;
  }

  manifestPath(repository: string, reference: string): string {
    return `/v2/${repository}/manifests/${reference}`;
  }

  uploadsPath(repository: string): string {
    return `/v2/${repository}/blobs/uploads/`;
  }

  /** POST an upload session; the answer's Location is where the session continues. */
  startUpload(repository: string, options: SendOptions = {}): Promise<Reply> {
    return this.send('POST', this.uploadsPath(repository), options);
  }

  /** The two-step monolithic upload (POST, then PUT with the bytes and `?digest=`); returns the PUT's answer. */
  async pushBlob(repository: string, bytes: Buffer, digest: string): Promise<Reply> {
    const session = await this.startUpload(repository);
    if (session.status !== 202) return session;
    return this.send('PUT', locationOf(session), {
      headers: { 'Content-Type': OCTET_STREAM },
      body: bytes,
      query: { digest },
    });
  }

  putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<Reply> {
    return this.send('PUT', this.manifestPath(repository, reference), { headers: { 'Content-Type': mediaType }, body: bytes });
  }

  getManifest(repository: string, reference: string, method: 'GET' | 'HEAD' = 'GET', accept?: string): Promise<Reply> {
    return this.send(method, this.manifestPath(repository, reference), accept ? { headers: { Accept: accept } } : {});
  }

  /** GET the tags list with optional `n`/`last`; tags are null when the body is not a tags list. */
  async tags(repository: string, query: Record<string, string> = {}): Promise<{ reply: Reply; tags: string[] | null }> {
    const reply = await this.send('GET', `/v2/${repository}/tags/list`, { query });
    return { reply, tags: reply.status === 200 ? tagsOf(reply) : null };
  }

  referrers(repository: string, digest: string, query: Record<string, string> = {}): Promise<Reply> {
    return this.send('GET', `/v2/${repository}/referrers/${digest}`, { query });
  }
}

/** The Location header of an answer; throws (failing the check) when it is missing or empty. */
export function locationOf(reply: Reply): string {
  const location = reply.headers.get('location');
  if (!location) throw new Error(`answer ${reply.status} has no Location header: ${reply.body.toString('utf8').slice(0, 300)}`);
  return location;
}

/** The error codes in an OCI error body (`{"errors":[{code,message,detail}]}`); [] if it is not one. */
export function errorCodesOf(reply: Reply): string[] {
  try {
    const parsed = JSON.parse(reply.body.toString('utf8')) as { errors?: { code?: unknown }[] };
    return Array.isArray(parsed.errors) ? parsed.errors.map((e) => String(e.code)) : [];
  } catch {
    return [];
  }
}

function tagsOf(reply: Reply): string[] | null {
  try {
    const parsed = JSON.parse(reply.body.toString('utf8')) as { tags?: unknown };
    if (parsed.tags === null) return [];
    return Array.isArray(parsed.tags) && parsed.tags.every((t) => typeof t === 'string') ? (parsed.tags as string[]) : null;
  } catch {
    return null;
  }
}

/** A short description of an answer for failure messages. */
export function describeReply(reply: Reply): string {
  return `${reply.status} ${reply.headers.get('content-type') ?? ''} ${reply.body.toString('utf8').slice(0, 300)}`;
}
