import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { startJwksServer, unsignedJwt, type JwksServer } from '@pullthrough/test-support';
import { OidcVerifier, type OidcVerifierOptions } from './oidc-verifier.js';
import { JwksUnavailableError, OidcTokenError, type TokenRejection } from './oidc-errors.js';

const AUDIENCE = 'api://pullthrough-admin';
let issuer: JwksServer;

beforeAll(async () => {
  issuer = await startJwksServer();
});
afterAll(async () => {
  await issuer?.stop();
});

const nowS = () => Math.floor(Date.now() / 1000);
const claims = (over: Record<string, unknown> = {}) => ({ iss: issuer.issuer, aud: AUDIENCE, sub: 'user-1', exp: nowS() + 600, nbf: nowS() - 10, ...over });
const verifier = (over: Partial<OidcVerifierOptions> = {}) => new OidcVerifier({ issuer: issuer.issuer, audiences: [AUDIENCE], jwksUrl: issuer.jwksUrl, ...over });

async function rejection(v: OidcVerifier, token: string): Promise<TokenRejection> {
  const err = await v.verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof OidcTokenError)) throw new Error(`expected an OidcTokenError, got ${String(err)}`);
  return err.reason;
}

const rsa = () => issuer.keys.find((k) => k.alg === 'RS256')!;
const ec = () => issuer.keys.find((k) => k.alg === 'ES256')!;

describe('OidcVerifier', () => {
  test('RS256 and ES256 tokens verify and return their claims', async () => {
    const v = verifier();
    expect(await v.verify(issuer.sign(claims({ sub: 'rs' }), rsa()))).toMatchObject({ sub: 'rs', iss: issuer.issuer });
    expect(await v.verify(issuer.sign(claims({ sub: 'es' }), ec()))).toMatchObject({ sub: 'es' });
  });

  test('aud may be an array containing an accepted audience', async () => {
    expect(await verifier().verify(issuer.sign(claims({ aud: ['other', AUDIENCE] }))))
      .toMatchObject({ aud: ['other', AUDIENCE] });
    expect(await rejection(verifier(), issuer.sign(claims({ aud: ['other', 'another'] })))).toBe('wrong-audience');
  });

  test.each<[string, () => string, TokenRejection]>([
    ['expired beyond the skew', () => issuer.sign(claims({ exp: nowS() - 120 })), 'expired'],
    ['nbf in the future beyond the skew', () => issuer.sign(claims({ nbf: nowS() + 600 })), 'not-yet-valid'],
    ['no exp', () => issuer.sign(claims({ exp: undefined })), 'malformed'],
    ['wrong audience', () => issuer.sign(claims({ aud: 'api://someone-else' })), 'wrong-audience'],
    ['no audience', () => issuer.sign(claims({ aud: undefined })), 'wrong-audience'],
    ['wrong issuer', () => issuer.sign(claims({ iss: `${issuer.issuer}/` })), 'wrong-issuer'],
    ['alg none', () => unsignedJwt({ kid: rsa().kid }, claims()), 'unsupported-algorithm'],
    ['HS256 keyed with the public JWK', () => {
      const input = `${Buffer.from(JSON.stringify({ alg: 'HS256', kid: rsa().kid })).toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}`;
      return `${input}.${createHmac('sha256', JSON.stringify(rsa().jwk)).update(input).digest('base64url')}`;
    }, 'unsupported-algorithm'],
    ['a tampered payload', () => {
      const [h, , s] = issuer.sign(claims({ sub: 'reader' })).split('.');
      return `${h}.${Buffer.from(JSON.stringify(claims({ sub: 'admin' }))).toString('base64url')}.${s}`;
    }, 'bad-signature'],
    ['signed by a key the issuer never published, under a published kid', () => issuer.sign(claims(), issuer.unpublishedKey('RS256'), { kid: rsa().kid }), 'bad-signature'],
    ['an RS256 header on an EC key', () => issuer.sign(claims(), ec(), { alg: 'RS256' }), 'unknown-key'],
    ['not a JWT at all', () => 'not.a-jwt', 'malformed'],
    ['a header that is not JSON', () => `bm90IGpzb24.${Buffer.from('{}').toString('base64url')}.c2ln`, 'malformed'],
  ])('%s is refused', async (_label, token, reason) => {
    expect(await rejection(verifier(), token())).toBe(reason);
  });

  test('a small clock skew is tolerated', async () => {
    expect(await verifier({ clockSkewSeconds: 60 }).verify(issuer.sign(claims({ exp: nowS() - 20, nbf: nowS() + 20 })))).toMatchObject({ sub: 'user-1' });
    expect(await rejection(verifier({ clockSkewSeconds: 0 }), issuer.sign(claims({ exp: nowS() - 20 })))).toBe('expired');
  });

  test('rotation: a new kid in the JWKS is fetched once; made-up kids cost at most one fetch per interval', async () => {
    const v = verifier();
    const before = issuer.jwksRequests;
    await v.verify(issuer.sign(claims()));
    expect(issuer.jwksRequests).toBe(before + 1);
    const rotated = issuer.addKey('ES256');
    expect(await v.verify(issuer.sign(claims({ sub: 'after-rotation' }), rotated))).toMatchObject({ sub: 'after-rotation' });
    expect(issuer.jwksRequests).toBe(before + 2);
    await v.verify(issuer.sign(claims(), rotated));
    expect(issuer.jwksRequests).toBe(before + 2);
    const stranger = issuer.unpublishedKey('RS256');
    for (let i = 0; i < 5; i++) expect(await rejection(v, issuer.sign(claims(), stranger))).toBe('unknown-key');
    expect(issuer.jwksRequests).toBe(before + 2);
    issuer.removeKey(rotated.kid);
  });

  test('an unknown kid refetches again once the interval has passed', async () => {
    let now = Date.now();
    const v = verifier({ now: () => now, jwks: { unknownKidIntervalMs: 30_000 } });
    const before = issuer.jwksRequests;
    const stranger = issuer.unpublishedKey('RS256');
    expect(await rejection(v, issuer.sign(claims(), stranger))).toBe('unknown-key');
    expect(await rejection(v, issuer.sign(claims(), stranger))).toBe('unknown-key');
    expect(issuer.jwksRequests).toBe(before + 2); // first load + one unknown-kid refresh
    now += 31_000;
    const late = issuer.addKey('RS256');
    expect(await v.verify(issuer.sign({ ...claims(), exp: Math.floor(now / 1000) + 600 }, late))).toMatchObject({ sub: 'user-1' });
    expect(issuer.jwksRequests).toBe(before + 3);
    issuer.removeKey(late.kid);
  });

  test('concurrent first verifications share one JWKS fetch', async () => {
    const v = verifier();
    const before = issuer.jwksRequests;
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => v.verify(issuer.sign(claims({ sub: `c${i}` })))));
    expect(results.map((c) => c.sub)).toEqual(Array.from({ length: 10 }, (_, i) => `c${i}`));
    expect(issuer.jwksRequests).toBe(before + 1);
  });

  test('the JWKS URL may be discovered from the issuer (once: later JWKS fetches reuse it)', async () => {
    const before = issuer.discoveryRequests;
    const jwksBefore = issuer.jwksRequests;
    const v = verifier({ jwksUrl: undefined });
    expect(await v.verify(issuer.sign(claims({ sub: 'discovered' })))).toMatchObject({ sub: 'discovered' });
    const rotated = issuer.addKey('RS256');
    expect(await v.verify(issuer.sign(claims({ sub: 'rotated' }), rotated))).toMatchObject({ sub: 'rotated' });
    expect([issuer.discoveryRequests - before, issuer.jwksRequests - jwksBefore]).toEqual([1, 2]);
    issuer.removeKey(rotated.kid);
  });

  test('an unreachable JWKS is JwksUnavailableError (no keys held), retried after failureRetryMs; held keys survive a failed refresh', async () => {
    let now = Date.now();
    const down = verifier({ now: () => now, jwks: { failureRetryMs: 10_000 } });
    const before = issuer.jwksRequests;
    issuer.failWith(503);
    try {
      await expect(down.verify(issuer.sign(claims()))).rejects.toBeInstanceOf(JwksUnavailableError);
      await expect(down.verify(issuer.sign(claims()))).rejects.toBeInstanceOf(JwksUnavailableError);
    } finally {
      issuer.failWith(undefined);
    }
    expect(issuer.jwksRequests).toBe(before + 1);
    await expect(down.verify(issuer.sign(claims()))).rejects.toBeInstanceOf(JwksUnavailableError);
    now += 10_001;
    expect(await down.verify(issuer.sign({ ...claims(), exp: Math.floor(now / 1000) + 600 }))).toMatchObject({ sub: 'user-1' });
    expect(issuer.jwksRequests).toBe(before + 2);
    const v = verifier();
    await v.verify(issuer.sign(claims()));
    issuer.failWith(500);
    try {
      expect(await rejection(v, issuer.sign(claims(), issuer.unpublishedKey('ES256')))).toBe('unknown-key');
      expect(await v.verify(issuer.sign(claims({ sub: 'still' })))).toMatchObject({ sub: 'still' });
    } finally {
      issuer.failWith(undefined);
    }
  });

  test('an oversized JWKS document is refused', async () => {
    const big = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [], pad: 'x'.repeat(300 * 1024) })));
    await new Promise<void>((r) => big.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (big.address() as { port: number }).port;
      const err = await verifier({ jwksUrl: `http://127.0.0.1:${port}/keys` }).verify(issuer.sign(claims())).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(JwksUnavailableError);
      expect((err as Error).message).toMatch(/more than/);
    } finally {
      big.closeAllConnections();
      await new Promise((r) => big.close(r));
    }
  });
});
