import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, listenOnLoopback } from './http-listen.js';

export interface IssuedToken {
  resource: string;
  /** The user-assigned identity's client id, or undefined for the system-assigned identity. */
  clientId?: string;
}

export interface IdentityEmulator {
  /** `http://127.0.0.1:<port>/msi/token`: what App Service puts in `IDENTITY_ENDPOINT`. */
  readonly endpoint: string;
  /** The secret `X-IDENTITY-HEADER` value (`IDENTITY_HEADER`). */
  readonly header: string;
  /** Token requests so far. */
  readonly tokenRequests: number;
  /** What a bearer token was issued for, if we issued it. */
  lookup(token: string): IssuedToken | undefined;
  /** Refuse every request (the identity is not available). */
  refuse: boolean;
  stop(): Promise<void>;
}

/**
 * The App Service managed identity endpoint (`GET $IDENTITY_ENDPOINT?resource=&api-version=2019-08-01
 * [&client_id=]` with `X-IDENTITY-HEADER`), as the real @azure/identity ManagedIdentityCredential
 * (through MSAL) calls it. Offline stand-in for Entra ID: the token is an opaque random string the
 * Key Vault and ACR emulators check with `lookup`.
 */
export async function startIdentityEmulator(): Promise<IdentityEmulator> {
  const issued = new Map<string, IssuedToken>();
  const header = randomBytes(16).toString('hex');
  let requests = 0;
  const server = createServer((req, res) => handle(req, res));
  const port = await listenOnLoopback(server);
  const state: IdentityEmulator = {
    endpoint: `http://127.0.0.1:${port}/msi/token`,
    header,
    get tokenRequests() {
      return requests;
    },
    lookup: (token) => issued.get(token),
    refuse: false,
    stop: () => closeServer(server),
  };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.pathname !== '/msi/token') return send(res, 404, { error: 'not_found' });
    requests++;
    if (req.headers['x-identity-header'] !== header || state.refuse) {
      return send(res, 400, { error: 'invalid_request', error_description: 'identity not available' });
    }
    const resource = url.searchParams.get('resource');
    if (!resource) return send(res, 400, { error: 'invalid_request', error_description: 'resource is required' });
    const clientId = url.searchParams.get('client_id') ?? undefined;
    const token = `mi-${randomBytes(24).toString('hex')}`;
    issued.set(token, { resource: resource.replace(/\/\.default$/, '').replace(/\/$/, ''), ...(clientId ? { clientId } : {}) });
    const expiresOn = Math.floor(Date.now() / 1000) + 3600;
    send(res, 200, { access_token: token, expires_on: String(expiresOn), resource, token_type: 'Bearer', ...(clientId ? { client_id: clientId } : {}) });
  }

  return state;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}
