import { digestOf, MANIFEST_ACCEPT, type Digest } from '@pullthrough/oci';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

export interface ManifestResponse {
  status: number;
  digest?: Digest;
  mediaType?: string;
  body: Buffer;
}

/**
 * A small OCI distribution client for tests: answers Basic and Bearer (token protocol) challenges
 * the way docker and skopeo do, then retries. Works against a registry or anything in front of it.
 */
export class RegistryClient {
  private authorization: string | undefined;

  constructor(
    readonly baseUrl: string,
    private readonly credentials?: RegistryCredentials,
    options: { preemptiveBasic?: boolean } = {},
  ) {
    // Basic on every request from the start (a registry that takes Basic straight on /v2/*), no token.
    if (options.preemptiveBasic && credentials) this.authorization = basicAuthorization(credentials);
  }

  /** `path` is relative to the registry root (e.g. `/v2/`) or absolute (an upload Location). */
  async request(path: string, init: RegistryRequestInit = {}): Promise<Response> {
    const url = new URL(path, this.baseUrl).toString();
    const send = (): Promise<Response> =>
      fetch(url, {
        method: init.method ?? 'GET',
        headers: { ...init.headers, ...(this.authorization ? { Authorization: this.authorization } : {}) },
        body: init.body,
      });
    const first = await send();
    if (first.status !== 401) return first;
    const authorization = await this.answerChallenge(first.headers.get('www-authenticate') ?? '');
    if (authorization === undefined) return first;
    await first.arrayBuffer();
    this.authorization = authorization;
    return send();
  }

  /** GET (or HEAD) a manifest with an Accept header naming every manifest type by default. */
  async manifest(repository: string, reference: string, options: { method?: 'GET' | 'HEAD'; accept?: string } = {}): Promise<ManifestResponse> {
    const res = await this.request(`/v2/${repository}/manifests/${reference}`, {
      method: options.method ?? 'GET',
      headers: { Accept: options.accept ?? MANIFEST_ACCEPT },
    });
    const body = Buffer.from(await res.arrayBuffer());
    const digest = res.headers.get('docker-content-digest') ?? undefined;
    return { status: res.status, digest: digest as Digest | undefined, mediaType: res.headers.get('content-type') ?? undefined, body };
  }

  /** Monolithic upload: POST a session, PUT the bytes with `?digest=`. */
  async pushBlob(repository: string, bytes: Buffer): Promise<Digest> {
    const digest = digestOf(bytes);
    const start = await this.request(`/v2/${repository}/blobs/uploads/`, { method: 'POST' });
    await expectStatus(start, 202, `start upload to ${repository}`);
    const location = new URL(start.headers.get('location') ?? '', this.baseUrl);
    location.searchParams.set('digest', digest);
    const put = await this.request(location.toString(), {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: bytes,
    });
    await expectStatus(put, 201, `upload ${digest} to ${repository}`);
    return digest;
  }

  /** PUT a manifest under a tag or digest; returns the digest the registry computed. */
  async pushManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<Digest> {
    const res = await this.request(`/v2/${repository}/manifests/${reference}`, {
      method: 'PUT',
      headers: { 'Content-Type': mediaType },
      body: bytes,
    });
    await expectStatus(res, 201, `push manifest ${repository}:${reference}`);
    return (res.headers.get('docker-content-digest') ?? digestOf(bytes)) as Digest;
  }

  private async answerChallenge(header: string): Promise<string | undefined> {
    const scheme = header.split(' ')[0]?.toLowerCase();
    const params = Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
    const basic = this.credentials ? basicAuthorization(this.credentials) : undefined;
    if (scheme === 'basic') return basic;
    if (scheme !== 'bearer' || !params.realm) return undefined;
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    if (params.scope) tokenUrl.searchParams.set('scope', params.scope);
    const res = await fetch(tokenUrl, { headers: basic ? { Authorization: basic } : {} });
    if (res.status !== 200) {
      await res.arrayBuffer();
      return undefined;
    }
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    return token ? `Bearer ${token}` : undefined;
  }
}

function basicAuthorization(credentials: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

async function expectStatus(res: Response, status: number, what: string): Promise<void> {
  if (res.status === status) {
    await res.arrayBuffer();
    return;
  }
  throw new Error(`${what}: expected HTTP ${status}, got ${res.status}: ${(await res.text()).slice(0, 500)}`);
}

/** A client for `registry` with its credentials (unless `anonymous`), optionally talking to `via` (a proxy URL) instead. */
export function registryClientFor(
  registry: { url: string; username?: string; password?: string },
  options: { via?: string; anonymous?: boolean } = {},
): RegistryClient {
  const credentials =
    !options.anonymous && registry.username !== undefined ? { username: registry.username, password: registry.password ?? '' } : undefined;
  return new RegistryClient(options.via ?? registry.url, credentials);
}
