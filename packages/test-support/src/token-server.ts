import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, listenOnLoopback } from './http-listen.js';
import { signJwt } from './jwt.js';
import type { SigningKey } from './signing-key.js';

export interface TokenServerOptions {
  signingKey: SigningKey;
  /** The registry's `auth.token.service`; becomes the token's `aud`. */
  service: string;
  /** The registry's `auth.token.issuer`; becomes the token's `iss`. */
  issuer: string;
  username: string;
  password: string;
  /** Grant `pull` to clients without credentials (like Docker Hub for public images). */
  anonymousPull: boolean;
}

export interface ResourceAccess {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenRequestRecord {
  /** The authenticated user, or undefined for anonymous. */
  account?: string;
  scopes: string[];
  status: number;
  granted: ResourceAccess[];
}

export interface TokenServer {
  /** Base URL, e.g. `http://127.0.0.1:1234`. */
  readonly url: string;
  /** `<url>/token`: the registry's `auth.token.realm`. */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** The self-signed certificate that verifies the tokens (the registry's rootcertbundle). */
  readonly certPath: string;
  /** Requests to /token so far (rejected ones included). */
  readonly tokenRequests: number;
  /** Every /token request, oldest first. */
  readonly requests: readonly TokenRequestRecord[];
  /**
   * Lifetime of tokens issued from now on (default 300): `expires_in`, and the registry refuses
   * the token once it has passed (the `exp` claim is backdated by distribution's 60 s leeway).
   */
  expiresInSeconds: number;
  /** Forget the counted requests. */
  reset(): void;
  /** Rotate the password the token endpoint accepts from now on. */
  setPassword(password: string): void;
  stop(): Promise<void>;
}

/** distribution 2.8 accepts a token until `exp` + 60 s (and from `nbf` - 60 s). */
const DISTRIBUTION_LEEWAY_SECONDS = 60;

/** A Docker token-protocol server (`GET /token?service=&scope=`) on loopback, issuing RS256 JWTs. */
export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const requests: TokenRequestRecord[] = [];
  const server = createServer((req, res) => handle(req, res));
  const port = await listenOnLoopback(server);
  const url = `http://127.0.0.1:${port}`;
  const state = {
    url,
    realm: `${url}/token`,
    service: options.service,
    issuer: options.issuer,
    certPath: options.signingKey.certPath,
    get tokenRequests() {
      return requests.length;
    },
    requests,
    expiresInSeconds: 300,
    reset: () => void requests.splice(0),
    setPassword: (password: string) => void (options = { ...options, password }),
    stop: () => closeServer(server),
  };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const reqUrl = new URL(req.url ?? '/', url);
    if (req.method !== 'GET' || reqUrl.pathname !== '/token') return send(res, 404, { details: 'not found' });
    const scopes = reqUrl.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    const credentials = basicCredentials(req.headers.authorization);
    if (credentials && (credentials.username !== options.username || credentials.password !== options.password)) {
      requests.push({ account: credentials.username, scopes, status: 401, granted: [] });
      res.setHeader('WWW-Authenticate', `Basic realm="${state.realm}"`);
      return send(res, 401, { details: 'incorrect username or password' });
    }
    const granted = scopes
      .map(parseScope)
      .filter((s): s is ResourceAccess => s !== undefined)
      .map((s) => ({ ...s, actions: s.actions.filter((a) => (credentials ? true : options.anonymousPull && a === 'pull')) }))
      .filter((s) => s.actions.length > 0);
    requests.push({ account: credentials?.username, scopes, status: 200, granted });
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = state.expiresInSeconds;
    const claims = {
      iss: options.issuer,
      sub: credentials?.username ?? '',
      aud: options.service,
      exp: now + expiresIn - DISTRIBUTION_LEEWAY_SECONDS,
      nbf: now,
      iat: now,
      jti: randomUUID(),
      access: granted,
    };
    const token = signJwt({ x5c: [options.signingKey.certBase64Der] }, claims, options.signingKey.privateKeyPem);
    send(res, 200, { token, access_token: token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() });
  }

  return state;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

function basicCredentials(header: string | undefined): { username: string; password: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? { username: decoded, password: '' } : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** `repository:library/node:pull,push` -> {type, name, actions}; a type class (`repository(plugin)`) is dropped. */
function parseScope(scope: string): ResourceAccess | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  const type = scope.slice(0, first).replace(/\(.*\)$/, '');
  return { type, name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) };
}
