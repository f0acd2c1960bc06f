import { createCipheriv, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { digestOf, MediaType, type Digest } from '@pullthrough/oci';

/** How the upstream misbehaves on blob GETs (`head-size`: on blob HEADs, a Content-Length one byte too large). */
export type BlobFault = 'none' | 'corrupt' | 'truncate' | 'oversize' | 'reset-after-headers' | 'head-size';

export interface UpstreamRequest {
  method: string;
  path: string;
}

interface ManifestEntry {
  bytes: Buffer;
  mediaType: string;
  /** Sent as Docker-Content-Digest; normally the digest of `bytes`. */
  digestHeader: string;
}

export interface PushedImage {
  digest: Digest;
  bytes: Buffer;
  config: { digest: Digest; bytes: Buffer };
  layers: Array<{ digest: Digest; bytes: Buffer }>;
}

/** `size` incompressible bytes, the same for the same seed. */
export function blobBytes(size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

const ROUTE = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/;

/**
 * A minimal upstream registry on 127.0.0.1 (anonymous, plain http): `/v2/`, manifests (GET/HEAD
 * by tag or digest) and blobs (GET/HEAD). Blobs are served under every repository unless
 * `restrictBlob` names the ones that have it. It records every request and injects faults on demand:
 * 503 for everything, a corrupted blob (one byte flipped), a blob body cut short, or a blob sent
 * chunked (no Content-Length) with extra bytes after it.
 */
export class TinyUpstream {
  readonly requests: UpstreamRequest[] = [];
  /** Answer every request with 503. */
  unavailable = false;
  blobFault: BlobFault = 'none';
  /** Wait this long before answering a blob GET (so concurrent requests surely overlap). */
  blobDelayMs = 0;
  /** Send blob bodies `bytes` at a time, `everyMs` apart (a slow upstream), instead of at once. */
  blobTrickle: { bytes: number; everyMs: number } | undefined;
  private readonly manifests = new Map<string, ManifestEntry>();
  private readonly blobs = new Map<string, Buffer>();
  private readonly blobRepositories = new Map<string, Set<string>>();

  private constructor(
    private readonly server: Server,
    /** host:port, as a cache rule names it. */
    readonly host: string,
  ) {}

  static async start(): Promise<TinyUpstream> {
    let upstream: TinyUpstream | undefined;
    const server = createServer((req, res) => upstream!.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    upstream = new TinyUpstream(server, `127.0.0.1:${(server.address() as AddressInfo).port}`);
    return upstream;
  }

  /** Requests seen since the last `clearRequests()`, optionally only manifests or blobs. */
  count(kind?: 'manifests' | 'blobs', method?: string): number {
    return this.requests.filter((r) => (!kind || r.path.includes(`/${kind}/`)) && (!method || r.method === method)).length;
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  putBlob(bytes: Buffer): Digest {
    const digest = digestOf(bytes);
    this.blobs.set(digest, bytes);
    return digest;
  }

  forgetBlob(digest: string): void {
    this.blobs.delete(digest);
  }

  /** From now on serve `digest` only under these repositories (404 elsewhere), like a real registry. */
  restrictBlob(digest: string, repositories: string[]): void {
    this.blobRepositories.set(digest, new Set(repositories));
  }

  /** Serve `bytes` for `repository:reference` exactly as given (the digest header may lie). */
  serveManifest(repository: string, reference: string, bytes: Buffer, digestHeader: string = digestOf(bytes), mediaType: string = MediaType.OciManifest): void {
    this.manifests.set(`${repository}:${reference}`, { bytes, mediaType, digestHeader });
  }

  /** Stop serving `repository:reference` (a deleted tag). */
  forget(repository: string, reference: string): void {
    this.manifests.delete(`${repository}:${reference}`);
  }

  /** Push an image (config + layers + manifest), reachable by digest and by each tag. */
  pushImage(repository: string, tags: string[], seed: string, layerSizes: number[] = [64 * 1024]): PushedImage {
    const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
    const config = { digest: this.putBlob(configBytes), bytes: configBytes };
    const layers = layerSizes.map((size, i) => {
      const bytes = blobBytes(size, `${seed}/layer${i}`);
      return { digest: this.putBlob(bytes), bytes };
    });
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: config.digest, size: configBytes.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.bytes.length })),
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const digest = digestOf(bytes);
    for (const ref of [digest, ...tags]) this.serveManifest(repository, ref, bytes);
    return { digest, bytes, config, layers };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0]!;
    this.requests.push({ method, path });
    if (this.unavailable) return this.json(res, 503, { errors: [{ code: 'UNAVAILABLE', message: 'injected outage' }] });
    if (path === '/v2/' || path === '/v2') return this.json(res, 200, {});
    const m = ROUTE.exec(path);
    if (!m || (method !== 'GET' && method !== 'HEAD')) return this.json(res, 404, { errors: [{ code: 'NOT_FOUND', message: path }] });
    const [, repository, kind, reference] = m;
    if (kind === 'manifests') {
      const entry = this.manifests.get(`${repository}:${reference}`);
      if (!entry) return this.json(res, 404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
      res.writeHead(200, { 'content-type': entry.mediaType, 'content-length': entry.bytes.length, 'docker-content-digest': entry.digestHeader });
      return void res.end(method === 'HEAD' ? undefined : entry.bytes);
    }
    const blob = this.blobs.get(reference!);
    const only = this.blobRepositories.get(reference!);
    if (!blob || (only && !only.has(repository!))) return this.json(res, 404, { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] });
    if (method === 'HEAD') {
      const length = this.blobFault === 'oversize' ? {} : { 'content-length': this.blobFault === 'head-size' ? blob.length + 1 : blob.length };
      res.writeHead(200, { 'content-type': 'application/octet-stream', ...length, 'docker-content-digest': reference! });
      return void res.end();
    }
    const send = () => {
      const length = this.blobFault === 'oversize' ? {} : { 'content-length': blob.length };
      res.writeHead(200, { 'content-type': 'application/octet-stream', ...length, 'docker-content-digest': reference! });
      this.sendBlob(res, blob);
    };
    if (this.blobDelayMs > 0) setTimeout(send, this.blobDelayMs);
    else send();
  }

  private sendBlob(res: ServerResponse, blob: Buffer): void {
    if (this.blobFault === 'reset-after-headers') {
      // Headers and one small chunk, then the connection drops at once (before the cache may read the body).
      res.flushHeaders();
      return void res.write(blob.subarray(0, 16), () => res.socket?.destroy());
    }
    if (this.blobFault === 'corrupt') {
      const copy = Buffer.from(blob);
      copy[copy.length >> 1]! ^= 0xff;
      return void res.end(copy);
    }
    if (this.blobFault === 'truncate') {
      // Promise the whole blob, send half of it, then drop the connection.
      return void res.write(blob.subarray(0, blob.length >> 1), () => res.socket?.destroy());
    }
    if (this.blobFault === 'oversize') {
      res.write(blob);
      return void res.end(Buffer.alloc(64 * 1024, 1));
    }
    const trickle = this.blobTrickle;
    if (!trickle) return void res.end(blob);
    let at = 0;
    const next = () => {
      if (res.destroyed) return;
      const piece = blob.subarray(at, at + trickle.bytes);
      at += piece.length;
      if (at >= blob.length) return void res.end(piece);
      res.write(piece);
      setTimeout(next, trickle.everyMs);
    };
    next();
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const bytes = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length });
    res.end(bytes);
  }
}
