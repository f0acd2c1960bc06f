import { randomBytes } from 'node:crypto';
import { controlMadeOnce, type ControlStore } from '@pullthrough/storage';

const KIND = 'peer-stream';
const NAME = 'secret';
/** A secret that did not verify (or was refused) is read from storage again at most this often. */
const REFRESH_INTERVAL_MS = 1000;

type Control = Pick<ControlStore, 'getControl' | 'putControl' | 'createControl'>;

function valid(stored: unknown): stored is { secret: string } {
  const secret = (stored as { secret?: unknown } | undefined)?.secret;
  return typeof secret === 'string' && /^[0-9a-f]{64}$/.test(secret);
}

/**
 * The key replicas sign their peer stream requests with (HMAC, PeerTokens): 32 random bytes made
 * once and kept in the storage control area, written owner-only (0600 on a filesystem) like the
 * token signing keys. Every frontend shares the storage, so every one reads the same key; it is
 * never logged and never put in Redis. Replicas starting at once on an empty store each try to
 * make it, but only where none is stored yet: one wins and every one reads that one, so their first
 * peer requests already verify. A key that does not verify (or is refused) is read again (`refresh`):
 * a key replaced in storage is picked up after one failed request.
 */
export class PeerSecret {
  private lastRefresh = 0;

  private constructor(
    private readonly control: Control,
    private key: Buffer,
  ) {}

  /** Read the stored key, making it if there is none. */
  static async load(control: Control): Promise<PeerSecret> {
    return new PeerSecret(control, await PeerSecret.read(control));
  }

  private static async read(control: Control): Promise<Buffer> {
    const made = await controlMadeOnce(control, 'peer stream key', { kind: KIND, name: NAME }, valid, () => ({ secret: randomBytes(32).toString('hex') }), { private: true });
    return Buffer.from(made.secret, 'hex');
  }

  get current(): Buffer {
    return this.key;
  }

  /** Read the stored key again (at most once a second); true when it changed. */
  async refresh(now = Date.now()): Promise<boolean> {
    if (now - this.lastRefresh < REFRESH_INTERVAL_MS) return false;
    this.lastRefresh = now;
    const stored = await this.control.getControl<{ secret?: unknown }>(KIND, NAME);
    if (!valid(stored)) return false;
    const key = Buffer.from(stored.secret, 'hex');
    if (key.equals(this.key)) return false;
    this.key = key;
    return true;
  }
}
