import { KeyRing, type SigningKeyStore, type StoredSigningKey } from './key-ring.js';
import { decodeJwt, JwtInvalidError } from './jwt.js';
import { TokenService } from './token-service.js';

/** The key store contract in memory (the frontend's is the storage control area). */
function memoryStore(): SigningKeyStore & { keys: Map<string, StoredSigningKey> } {
  const keys = new Map<string, StoredSigningKey>();
  return {
    keys,
    list: async () => [...keys.values()],
    put: async (k) => void keys.set(k.kid, k),
    delete: async (kid) => void keys.delete(kid),
  };
}

const HOUR = 3600_000;

function setup(now: { t: number }, store = memoryStore()) {
  const ring = new KeyRing(store, { rotationMs: 24 * HOUR, maxTokenLifetimeMs: 2 * HOUR, now: () => now.t });
  const tokens = new TokenService(ring, { service: 'cache', issuer: 'pullthrough', accessTtlSeconds: 300, refreshTtlSeconds: 7200, now: () => now.t });
  return { ring, tokens, store };
}

const access = [{ type: 'repository' as const, name: 'a/b', actions: ['pull' as const] }];

describe('TokenService', () => {
  it('issues ES256 access tokens with a kid and the distribution access claim, and verifies them', async () => {
    const now = { t: Date.parse('2026-12-01T00:00:00Z') };
    const { ring, tokens } = setup(now);
    await ring.refresh();
    const issued = tokens.issueAccess('alice', access);
    const decoded = decodeJwt(issued.token);
    expect(decoded.header).toEqual({ alg: 'ES256', kid: ring.signer().kid, typ: 'JWT' });
    expect(decoded.claims).toMatchObject({ sub: 'alice', aud: 'cache', iss: 'pullthrough', access, use: 'access' });
    expect(issued.expiresIn).toBe(300);
    await expect(tokens.verifyAccess(issued.token)).resolves.toEqual({ subject: 'alice', anonymous: false, access });
  });

  it('refuses expired, tampered, foreign and mixed-up tokens', async () => {
    const now = { t: Date.parse('2026-12-01T00:00:00Z') };
    const { ring, tokens } = setup(now);
    await ring.refresh();
    const issued = tokens.issueAccess('alice', access);
    const refresh = tokens.issueRefresh('alice');
    const [h, , s] = issued.token.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...decodeJwt(issued.token).claims, sub: 'root' })).toString('base64url')}.${s}`;
    await expect(tokens.verifyAccess(forged)).rejects.toThrow('bad signature');
    await expect(tokens.verifyAccess(refresh.token)).rejects.toThrow('not an access token');
    await expect(tokens.verifyRefresh(issued.token)).rejects.toThrow('not an refresh token');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', kid: ring.signer().kid })).toString('base64url')}.${issued.token.split('.')[1]}.`;
    await expect(tokens.verifyAccess(none)).rejects.toThrow('algorithm none is not accepted');
    const other = setup(now);
    await other.ring.refresh();
    await expect(tokens.verifyAccess(other.tokens.issueAccess('alice', access).token)).rejects.toThrow('unknown signing key');
    now.t += 331_000;
    await expect(tokens.verifyAccess(issued.token)).rejects.toBeInstanceOf(JwtInvalidError);
    await expect(tokens.verifyAccess(issued.token)).rejects.toThrow('expired');
    await expect(tokens.verifyRefresh(refresh.token)).resolves.toBe('alice');
  });

  it('rotates keys without downtime: old tokens verify until they expire, then the old key is dropped', async () => {
    const now = { t: Date.parse('2026-12-01T00:00:00Z') };
    const store = memoryStore();
    const a = setup(now, store);
    await a.ring.refresh();
    const oldKid = a.ring.signer().kid;
    now.t += 24 * HOUR; // rotation due
    // A second frontend sharing the store rotates; the first learns the new kid on first sight.
    const b = setup(now, store);
    await b.ring.refresh();
    expect(b.ring.signer().kid).not.toBe(oldKid);
    expect(store.keys.size).toBe(2);
    const fresh = b.tokens.issueAccess('alice', access);
    now.t += 2000;
    await expect(a.tokens.verifyAccess(fresh.token)).resolves.toMatchObject({ subject: 'alice' });
    // The retired key is kept while a token it signed could still be valid ...
    now.t += HOUR;
    await b.ring.refresh();
    expect(store.keys.size).toBe(2);
    // ... and is dropped once every token it could have signed has expired (2 h after it retired).
    now.t += HOUR;
    await b.ring.refresh();
    expect([...store.keys.keys()]).toEqual([b.ring.signer().kid]);
  });

  it('a token signed just before rotation verifies after it', async () => {
    const now = { t: Date.parse('2026-12-01T00:00:00Z') };
    const { ring, tokens } = setup(now);
    await ring.refresh();
    now.t += 24 * HOUR - 1000;
    const issued = tokens.issueAccess('alice', access);
    now.t += 2000;
    await ring.refresh();
    expect(decodeJwt(tokens.issueAccess('alice', access).token).header.kid).not.toBe(decodeJwt(issued.token).header.kid);
    await expect(tokens.verifyAccess(issued.token)).resolves.toMatchObject({ subject: 'alice' });
  });
});
