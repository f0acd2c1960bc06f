import { createHash } from 'node:crypto';
import { MANIFEST_ACCEPT } from '@pullthrough/oci';

/** One blob GET as a client saw it; times are epoch ms. */
export interface TimedBlob {
  digest: string;
  /** The size the manifest gives (undefined: not known). */
  size?: number;
  /** 0: no response at all (connection refused or cut before the headers). */
  status: number;
  sentAt: number;
  /** When the first body byte arrived (undefined: none did). */
  firstByteAt?: number;
  /** When the body ended, normally or not. */
  endedAt: number;
  bytes: number;
  /** The body ended normally (no reset, no error): what a client takes for a complete response. */
  complete: boolean;
  /** The bytes hash to `digest` (and match `size` when it is known). */
  verified: boolean;
  /** Why the body did not end normally, or the OCI error of a 4xx/5xx. */
  error?: string;
}

export interface TimedPull {
  manifest: { status: number; digest?: string; sentAt: number; endedAt: number };
  blobs: TimedBlob[];
}

/** GET `/v2/<repository>/blobs/<digest>` from `baseUrl`, hashing the body and timing its first and last byte. */
export async function timedBlobGet(baseUrl: string, repository: string, digest: string, size?: number): Promise<TimedBlob> {
  const sentAt = Date.now();
  const hash = createHash('sha256');
  let res: Response;
  try {
    res = await fetch(`${baseUrl}/v2/${repository}/blobs/${digest}`);
  } catch (err) {
    return { digest, size, status: 0, sentAt, endedAt: Date.now(), bytes: 0, complete: false, verified: false, error: (err as Error).message };
  }
  let firstByteAt: number | undefined;
  let bytes = 0;
  let error: string | undefined;
  const kept: Buffer[] = [];
  try {
    for await (const chunk of res.body ?? []) {
      firstByteAt ??= Date.now();
      const buffer = Buffer.from(chunk as Uint8Array);
      bytes += buffer.length;
      hash.update(buffer);
      if (res.status >= 400 && bytes < 4096) kept.push(buffer);
    }
  } catch (err) {
    error = (err as Error).message;
  }
  const endedAt = Date.now();
  if (res.status >= 400 && !error) error = Buffer.concat(kept).toString('utf8').slice(0, 500);
  const verified = res.status === 200 && !error && `sha256:${hash.digest('hex')}` === digest && (size === undefined || bytes === size);
  return { digest, size, status: res.status, sentAt, firstByteAt, endedAt, bytes, complete: error === undefined, verified, ...(error ? { error } : {}) };
}

interface ManifestDoc {
  config?: { digest: string; size: number };
  layers?: Array<{ digest: string; size: number }>;
}

/**
 * Pull an image manifest by tag or digest, then every blob it names (config and layers) at once,
 * each timed and verified. `beforeBlobs` runs between the two (e.g. a barrier all clients meet).
 */
export async function timedPull(baseUrl: string, repository: string, reference: string, options: { beforeBlobs?: () => Promise<void> } = {}): Promise<TimedPull> {
  const sentAt = Date.now();
  const res = await fetch(`${baseUrl}/v2/${repository}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT } });
  const body = Buffer.from(await res.arrayBuffer());
  const manifest = { status: res.status, digest: res.headers.get('docker-content-digest') ?? undefined, sentAt, endedAt: Date.now() };
  if (res.status !== 200) throw new Error(`GET manifest ${repository}:${reference} from ${baseUrl}: HTTP ${res.status} ${body.toString('utf8').slice(0, 300)}`);
  const doc = JSON.parse(body.toString('utf8')) as ManifestDoc;
  const descriptors = [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])];
  await options.beforeBlobs?.();
  const blobs = await Promise.all(descriptors.map((d) => timedBlobGet(baseUrl, repository, d.digest, d.size)));
  return { manifest, blobs };
}

/** A barrier: `wait()` resolves once it has been called `parties` times. */
export function barrier(parties: number): { wait(): Promise<void> } {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return {
    wait() {
      if (++arrived >= parties) open();
      return opened;
    },
  };
}
