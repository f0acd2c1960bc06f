import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { publicKeyOf } from './jwt.js';

/** A token signing key as it is kept durably (the private key is a secret: its store writes 0600). */
export interface StoredSigningKey {
  kid: string;
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** ISO time the key was made; it signs until a newer key exists. */
  createdAt: string;
}

/** Where signing keys live; shared by every frontend so any of them verifies any token. */
export interface SigningKeyStore {
  list(): Promise<StoredSigningKey[]>;
  put(key: StoredSigningKey): Promise<void>;
  delete(kid: string): Promise<void>;
}

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  createdAt: number;
}

export interface KeyRingOptions {
  /** A key signs for this long before a new one is made. */
  rotationMs: number;
  /** The longest lifetime of any token we sign: a retired key verifies for this long after it stopped signing. */
  maxTokenLifetimeMs: number;
  now?: () => number;
}

/** The key id: a thumbprint of the public key (stable, reveals nothing). */
function kidOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 32);
}

/**
 * Token signing keys with rotation without downtime: the newest key signs; a key that a newer
 * one replaced keeps verifying until every token it signed has expired, then it is deleted.
 * Several frontends share the store: whoever finds the newest key too old makes the next one
 * (two at once is harmless, both verify), and a token with an unknown `kid` makes a reload.
 */
export class KeyRing {
  private keys: SigningKey[] = [];
  private readonly now: () => number;
  private lastReload = 0;

  constructor(
    private readonly store: SigningKeyStore,
    private readonly options: KeyRingOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Load the stored keys, make a new one when the newest is due, and drop keys no token can need. */
  async refresh(): Promise<void> {
    const now = this.now();
    let stored = await this.store.list();
    const newest = stored.reduce<StoredSigningKey | undefined>((a, k) => (!a || Date.parse(k.createdAt) > Date.parse(a.createdAt) ? k : a), undefined);
    if (!newest || now - Date.parse(newest.createdAt) >= this.options.rotationMs) {
      const fresh = this.generate(now);
      await this.store.put(fresh);
      stored = [...stored, fresh];
    }
    const keys = stored.map(parseKey).filter((k): k is SigningKey => k !== undefined).sort((a, b) => b.createdAt - a.createdAt);
    const signer = keys[0];
    // A key stops signing when the next newer one is made; its tokens live at most maxTokenLifetimeMs after that.
    const keep = keys.filter((_k, i) => i === 0 || keys[i - 1]!.createdAt + this.options.maxTokenLifetimeMs > now);
    for (const k of keys) if (!keep.includes(k)) await this.store.delete(k.kid).catch(() => undefined);
    this.keys = keep;
    this.lastReload = now;
    if (!signer) throw new Error('no usable signing key');
  }

  /** The key that signs now. */
  signer(): SigningKey {
    const key = this.keys[0];
    if (!key) throw new Error('key ring not loaded');
    return key;
  }

  /** The public key for `kid`, reloading the store (at most once a second) when it is unknown. */
  async verifier(kid: string): Promise<KeyObject | undefined> {
    const known = this.keys.find((k) => k.kid === kid);
    if (known) return known.publicKey;
    if (this.now() - this.lastReload < 1000) return undefined;
    await this.refresh();
    return this.keys.find((k) => k.kid === kid)?.publicKey;
  }

  /** Public keys as a JWKS (for anyone who wants to check our tokens). */
  jwks(): { keys: Array<Record<string, unknown>> } {
    return { keys: this.keys.map((k) => ({ ...(k.publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: k.kid, use: 'sig', alg: 'ES256' })) };
  }

  private generate(now: number): StoredSigningKey {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return { kid: kidOf(publicKey), privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, createdAt: new Date(now).toISOString() };
  }
}

function parseKey(stored: StoredSigningKey): SigningKey | undefined {
  try {
    const privateKey = createPrivateKey(stored.privateKeyPem);
    const createdAt = Date.parse(stored.createdAt);
    if (!Number.isFinite(createdAt)) return undefined;
    return { kid: stored.kid, privateKey, publicKey: publicKeyOf(privateKey), createdAt };
  } catch {
    return undefined;
  }
}
