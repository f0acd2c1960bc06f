import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { createServer } from 'node:http';
import { closeServer, listenOnLoopback } from './http-listen.js';
import { signJws, type JwsAlgorithm } from './jwt.js';

export interface IssuerKey {
  kid: string;
  alg: JwsAlgorithm;
  privateKey: KeyObject;
  /** The public JWK as served. */
  jwk: Record<string, unknown>;
}

export interface JwksServer {
  /** `http://127.0.0.1:<port>/<tenant>/v2.0`, shaped like an Entra v2 issuer. */
  issuer: string;
  /** Where the JWKS is served (also the discovery document's `jwks_uri`). */
  jwksUrl: string;
  /** Keys currently published, oldest first. */
  readonly keys: readonly IssuerKey[];
  /** JWKS fetches served so far. */
  readonly jwksRequests: number;
  /** Discovery document fetches served so far. */
  readonly discoveryRequests: number;
  /** Make and publish a new key (a rotation's first half); it is not removed from the old ones. */
  addKey(alg: JwsAlgorithm): IssuerKey;
  /** Stop publishing a key (a rotation's second half). */
  removeKey(kid: string): void;
  /** A key made like addKey's but never published (an attacker's, or a key of another issuer). */
  unpublishedKey(alg: JwsAlgorithm): IssuerKey;
  /** Sign claims with `key` (default: the newest published key); `header` adds or overrides JOSE fields. */
  sign(claims: Record<string, unknown>, key?: IssuerKey, header?: Record<string, unknown>): string;
  /** Answer JWKS requests with this status instead (undefined: serve normally). */
  failWith(status: number | undefined): void;
  stop(): Promise<void>;
}

function makeKey(alg: JwsAlgorithm): IssuerKey {
  const kid = randomUUID();
  const { privateKey, publicKey } = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, alg, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg } };
}

/**
 * An OIDC issuer's key endpoint over real HTTP on 127.0.0.1: the OpenID configuration document
 * and a JWKS of generated RSA (RS256) and EC P-256 (ES256) keys, with rotation and request counts.
 * Starts with one RS256 and one ES256 key.
 */
export async function startJwksServer(): Promise<JwksServer> {
  const keys: IssuerKey[] = [makeKey('RS256'), makeKey('ES256')];
  let jwksRequests = 0;
  let discoveryRequests = 0;
  let failure: number | undefined;
  const tenant = randomUUID();
  let issuer = '';
  let jwksUrl = '';
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === `/${tenant}/discovery/v2.0/keys`) {
      jwksRequests++;
      if (failure !== undefined) return res.writeHead(failure).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
      return;
    }
    if (req.method === 'GET' && path === `/${tenant}/v2.0/.well-known/openid-configuration`) {
      discoveryRequests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, jwks_uri: jwksUrl, id_token_signing_alg_values_supported: ['RS256', 'ES256'] }));
      return;
    }
    res.writeHead(404).end();
  });
  const port = await listenOnLoopback(server);
  issuer = `http://127.0.0.1:${port}/${tenant}/v2.0`;
  jwksUrl = `http://127.0.0.1:${port}/${tenant}/discovery/v2.0/keys`;
  return {
    issuer,
    jwksUrl,
    get keys() {
      return keys;
    },
    get jwksRequests() {
      return jwksRequests;
    },
    get discoveryRequests() {
      return discoveryRequests;
    },
    addKey(alg) {
      const key = makeKey(alg);
      keys.push(key);
      return key;
    },
    removeKey(kid) {
      const i = keys.findIndex((k) => k.kid === kid);
      if (i >= 0) keys.splice(i, 1);
    },
    unpublishedKey: makeKey,
    sign(claims, key = keys.at(-1)!, header = {}) {
      return signJws(key.alg, { kid: key.kid, ...header }, claims, key.privateKey);
    },
    failWith(status) {
      failure = status;
    },
    stop: () => closeServer(server),
  };
}
