import { createHash } from 'node:crypto';
import { ADMIN_TOKEN, type Cache } from './harness.js';

// A small push client over fetch, written from the distribution spec (not from the code under test).

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';

export const sha256 = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
export const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

export function admin(cache: Cache, path: string, method = 'GET', body?: unknown): Promise<Response> {
  return fetch(`${cache.adminUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** Requests on the data port as one client (its Authorization on every request). */
export class PushClient {
  constructor(
    private readonly cache: Cache,
    private readonly authorization?: string,
  ) {}

  send(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<Response> {
    const url = path.startsWith('http') ? path : `${this.cache.dataUrl}${path}`;
    return fetch(url, { method, headers: { ...(this.authorization ? { authorization: this.authorization } : {}), ...headers }, ...(body === undefined ? {} : { body }) });
  }

  /** POST ?digest= with the whole blob: 201. */
  async pushBlob(repository: string, bytes: Buffer | string): Promise<string> {
    const digest = sha256(bytes);
    const res = await this.send('POST', `/v2/${repository}/blobs/uploads/?digest=${digest}`, { 'content-type': 'application/octet-stream' }, bytes);
    if (res.status !== 201) throw new Error(`push blob to ${repository}: ${res.status} ${await res.text()}`);
    return digest;
  }

  async pushManifest(repository: string, reference: string, manifest: unknown, mediaType = OCI_MANIFEST): Promise<Response> {
    return this.send('PUT', `/v2/${repository}/manifests/${reference}`, { 'content-type': mediaType }, JSON.stringify(manifest));
  }

  /** Push an image of one layer (config + layer blobs, then the manifest by `reference`); resolves to its manifest digest. */
  async pushImage(repository: string, reference: string, seed: string, extra: Record<string, unknown> = {}): Promise<{ digest: string; manifest: Record<string, unknown>; layer: string; config: string }> {
    const layerBytes = Buffer.from(`layer of ${seed}`);
    const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
    const layer = await this.pushBlob(repository, layerBytes);
    const config = await this.pushBlob(repository, configBytes);
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: configBytes.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: layerBytes.length }],
      ...extra,
    };
    const res = await this.pushManifest(repository, reference, manifest);
    if (res.status !== 201) throw new Error(`push manifest ${repository}:${reference}: ${res.status} ${await res.text()}`);
    return { digest: res.headers.get('docker-content-digest') ?? '', manifest, layer, config };
  }
}

export const errorOf = async (res: Response) => ((await res.json()) as { errors: Array<{ code: string; message: string; detail?: Record<string, unknown> }> }).errors[0]!;

/** Users alice (pull, push, delete on local/* and ru/*), bob (pull only), carol (push on local/carol only). */
export const PASSWORDS = { alice: 'alice-pw-1', bob: 'bob-pw-2', carol: 'carol-pw-3' } as const;
export const POLICY = {
  grants: [
    { users: ['alice'], repositories: ['local/*', 'ru/*', 'open/*'], actions: ['pull', 'push', 'delete'] },
    { users: ['bob'], repositories: ['local/*'], actions: ['pull'] },
    { users: ['carol'], repositories: ['local/carol'], actions: ['pull', 'push'] },
    { users: ['carol'], repositories: ['local/carol-drop'], actions: ['push'] },
  ],
};
