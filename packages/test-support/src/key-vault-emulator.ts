import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { closeServer, listenOnLoopback } from './http-listen.js';
import type { IdentityEmulator } from './identity-emulator.js';
import type { TlsCertificate } from './tls-certificate.js';

export const KEY_VAULT_TENANT = '72f988bf-0000-0000-0000-000000000000';

export interface KeyVaultEmulator {
  /** `https://127.0.0.1:<port>`: the vault URL. */
  readonly url: string;
  /** `https://127.0.0.1:<port>/secrets/<name>`: a secret identifier. */
  secretUri(name: string, version?: string): string;
  /** Store a new current version of a secret; returns its version. */
  setSecret(name: string, value: string): string;
  deleteSecret(name: string): void;
  /** Answer 403 Forbidden to every authenticated secret read (an access policy / RBAC gap). */
  forbidden: boolean;
  /** Authenticated secret reads so far. */
  readonly secretReads: number;
  stop(): Promise<void>;
}

/**
 * Azure Key Vault's secret read API over real HTTPS (self-signed certificate): an unauthenticated
 * request gets the 401 bearer challenge (`authorization=` tenant authority, `resource=` the vault
 * audience), then `GET /secrets/{name}[/{version}]` with a token the identity emulator issued for
 * `https://vault.azure.net`. Answers as the service does: 200 `{value, id, attributes}`,
 * 403 `Forbidden`, 404 `SecretNotFound`.
 */
export async function startKeyVaultEmulator(tls: TlsCertificate, identity: IdentityEmulator): Promise<KeyVaultEmulator> {
  const secrets = new Map<string, Array<{ version: string; value: string }>>();
  let reads = 0;
  let versionCounter = 0;
  const server = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => handle(req, res));
  const port = await listenOnLoopback(server as unknown as ReturnType<typeof createServer>);
  const url = `https://127.0.0.1:${port}`;
  const state: KeyVaultEmulator = {
    url,
    secretUri: (name, version) => `${url}/secrets/${name}${version ? `/${version}` : ''}`,
    setSecret(name, value) {
      const version = (++versionCounter).toString(16).padStart(32, '0');
      secrets.set(name, [...(secrets.get(name) ?? []), { version, value }]);
      return version;
    },
    deleteSecret: (name) => void secrets.delete(name),
    forbidden: false,
    get secretReads() {
      return reads;
    },
    stop: () => closeServer(server as unknown as ReturnType<typeof createServer>),
  };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    const reqUrl = new URL(req.url ?? '/', url);
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const issued = bearer === undefined ? undefined : identity.lookup(bearer);
    if (issued === undefined || issued.resource !== 'https://vault.azure.net') {
      res.setHeader(
        'WWW-Authenticate',
        `Bearer authorization="https://login.microsoftonline.com/${KEY_VAULT_TENANT}", resource="https://vault.azure.net"`,
      );
      return send(res, 401, { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } });
    }
    const m = /^\/secrets\/([0-9A-Za-z-]{1,127})(?:\/([0-9a-f]{32}))?\/?$/.exec(reqUrl.pathname);
    if (req.method !== 'GET' || !m) return send(res, 400, { error: { code: 'BadParameter', message: 'unsupported request' } });
    reads++;
    if (state.forbidden) {
      return send(res, 403, { error: { code: 'Forbidden', message: 'The user, group or application does not have secrets get permission on this key vault.' } });
    }
    const versions = secrets.get(m[1]!);
    const found = m[2] === undefined ? versions?.at(-1) : versions?.find((v) => v.version === m[2]);
    if (!found) return send(res, 404, { error: { code: 'SecretNotFound', message: `A secret with (name/id) ${m[1]} was not found in this key vault.` } });
    send(res, 200, { value: found.value, id: `${url}/secrets/${m[1]}/${found.version}`, attributes: { enabled: true, created: 1, updated: 1 } });
  }

  return state;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}
