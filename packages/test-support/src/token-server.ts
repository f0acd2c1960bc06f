import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, listenOnLoopback } from './http-listen.js';
import type { IdentityEmulator } from './identity-emulator.js';
import { signJwt } from './jwt.js';
import type { SigningKey } from './signing-key.js';

/** ACR's token exchange, emulated: an Entra ID token of `clientId` for the registry audience buys a refresh token. */
export interface AcrAuthOptions {
  identity: IdentityEmulator;
  /** The user-assigned managed identity allowed to pull. */
  clientId: string;
}

/** ACR's AAD audience for registry tokens. */
export const ACR_AUDIENCE = 'https://containerregistry.azure.net';

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
  /** Also serve ACR's `/oauth2/exchange` and `/oauth2/token` (realm becomes `<url>/oauth2/token`). */
  acr?: AcrAuthOptions;
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
  /** ACR emulation: `/oauth2/exchange` and refresh-token `/oauth2/token` requests, with their status. */
  readonly acrRequests: ReadonlyArray<{ path: string; status: number }>;
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
  const acrRequests: Array<{ path: string; status: number }> = [];
  const refreshTokens = new Map<string, string>();
  const server = createServer((req, res) => handle(req, res));
  const port = await listenOnLoopback(server);
  const url = `http://127.0.0.1:${port}`;
  const state = {
    url,
    realm: options.acr ? `${url}/oauth2/token` : `${url}/token`,
    service: options.service,
    issuer: options.issuer,
    certPath: options.signingKey.certPath,
    get tokenRequests() {
      return requests.length;
    },
    requests,
    expiresInSeconds: 300,
    acrRequests,
    reset: () => void (requests.splice(0), acrRequests.splice(0)),
    setPassword: (password: string) => void (options = { ...options, password }),
    stop: () => closeServer(server),
  };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const reqUrl = new URL(req.url ?? '/', url);
    if (options.acr && req.method === 'POST' && (reqUrl.pathname === '/oauth2/exchange' || reqUrl.pathname === '/oauth2/token')) {
      return void readForm(req).then((form) => acr(reqUrl.pathname, form, res, options.acr!));
    }
    const tokenPath = options.acr ? '/oauth2/token' : '/token';
    if (req.method !== 'GET' || reqUrl.pathname !== tokenPath) return send(res, 404, { details: 'not found' });
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

  /** ACR: exchange an Entra token for a refresh token, then a refresh token for a scoped access token. */
  function acr(path: string, form: URLSearchParams, res: ServerResponse, acrOptions: AcrAuthOptions): void {
    const fail = (status: number, message: string) => {
      acrRequests.push({ path, status });
      send(res, status, { errors: [{ code: status === 401 ? 'UNAUTHORIZED' : 'BAD_REQUEST', message }] });
    };
    if (form.get('service') !== options.service) return fail(400, 'unknown service');
    if (path === '/oauth2/exchange') {
      if (form.get('grant_type') !== 'access_token') return fail(400, 'grant_type must be access_token');
      const issued = acrOptions.identity.lookup(form.get('access_token') ?? '');
      if (!issued || issued.resource !== ACR_AUDIENCE || issued.clientId !== acrOptions.clientId) return fail(401, 'the Entra ID token is not valid for this registry');
      const refreshToken = `acr-refresh-${randomUUID()}`;
      refreshTokens.set(refreshToken, issued.clientId);
      acrRequests.push({ path, status: 200 });
      return send(res, 200, { refresh_token: refreshToken });
    }
    if (form.get('grant_type') !== 'refresh_token') return fail(400, 'grant_type must be refresh_token');
    const subject = refreshTokens.get(form.get('refresh_token') ?? '');
    if (!subject) return fail(401, 'invalid refresh token');
    const granted = (form.get('scope') ?? '').split(' ').filter(Boolean).map(parseScope)
      .filter((s): s is ResourceAccess => s !== undefined)
      .map((s) => ({ ...s, actions: s.actions.filter((a) => a === 'pull') }));
    acrRequests.push({ path, status: 200 });
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: options.issuer, sub: subject, aud: options.service, exp: now + state.expiresInSeconds - DISTRIBUTION_LEEWAY_SECONDS, nbf: now, iat: now, jti: randomUUID(), access: granted };
    const token = signJwt({ x5c: [options.signingKey.certBase64Der] }, claims, options.signingKey.privateKeyPem);
    send(res, 200, { access_token: token, expires_in: state.expiresInSeconds });
  }

  return state;
}

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', () => resolve(new URLSearchParams()));
  });
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
