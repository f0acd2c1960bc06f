import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the scripted upstream answers for one manifest reference, byte for byte. */
export interface ScriptedManifest {
  body: Buffer;
  /** Sent as Content-Type when set (absent: no Content-Type header at all). */
  contentType?: string;
  /** Sent as Docker-Content-Digest when set. */
  digestHeader?: string;
}

const ROUTE = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/;

export const sha256 = (bytes: Uint8Array): string => 'sha256:' + createHash('sha256').update(bytes).digest('hex');

/**
 * An anonymous plain-HTTP upstream on 127.0.0.1 that serves exactly what a test scripted: any
 * manifest bytes (valid or not, with any Content-Type and digest header) and blobs by digest
 * (for every repository). Every request is recorded.
 */
export class ScriptedUpstream {
  readonly requests: Array<{ method: string; path: string }> = [];
  private readonly manifests = new Map<string, ScriptedManifest>();
  private readonly blobs = new Map<string, Buffer>();

  private constructor(
    private readonly server: ReturnType<typeof createServer>,
    /** `127.0.0.1:<port>`, as a cache rule names it. */
    readonly host: string,
  ) {}

  static async start(): Promise<ScriptedUpstream> {
    let upstream: ScriptedUpstream | undefined;
    const server = createServer((req, res) => upstream!.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    upstream = new ScriptedUpstream(server, `127.0.0.1:${(server.address() as AddressInfo).port}`);
    return upstream;
  }

  serveManifest(repository: string, reference: string, manifest: ScriptedManifest): void {
    this.manifests.set(`${repository}:${reference}`, manifest);
  }

  putBlob(bytes: Buffer): string {
    const digest = sha256(bytes);
    this.blobs.set(digest, bytes);
    return digest;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0]!;
    this.requests.push({ method, path });
    req.resume();
    if (path === '/v2/' || path === '/v2') return json(res, 200, {});
    const m = ROUTE.exec(path);
    if (!m || (method !== 'GET' && method !== 'HEAD')) return json(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'no such route' }] });
    const [, repository, kind, reference] = m as unknown as [string, string, string, string];
    if (kind === 'manifests') {
      const entry = this.manifests.get(`${repository}:${reference}`);
      if (!entry) return json(res, 404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
      const headers: Record<string, string | number> = { 'content-length': entry.body.length };
      if (entry.contentType !== undefined) headers['content-type'] = entry.contentType;
      if (entry.digestHeader !== undefined) headers['docker-content-digest'] = entry.digestHeader;
      res.writeHead(200, headers);
      return void res.end(method === 'HEAD' ? undefined : entry.body);
    }
    const blob = this.blobs.get(reference);
    if (!blob) return json(res, 404, { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] });
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length, 'docker-content-digest': reference });
    res.end(method === 'HEAD' ? undefined : blob);
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length });
  res.end(bytes);
}
