import { createHmac, timingSafeEqual } from 'node:crypto';
import type { PeerSecret } from './peer-secret.js';

/** How long a signed peer request is good for. */
export const PEER_TOKEN_TTL_MS = 30_000;
/** A token claiming to live longer than this (clocks of replicas differ a little) is refused. */
const MAX_TOKEN_LIFETIME_MS = 2 * PEER_TOKEN_TTL_MS;
const SCHEME = 'PullthroughPeer';
const SHAPE = /^PullthroughPeer v1\.(\d{1,13})\.([A-Za-z0-9_-]{43})$/;

/** Why a peer request was refused (the listener answers status + code + message as JSON). */
export interface PeerTokenRefusal {
  status: 401 | 403;
  code: 'PEER_UNAUTHORIZED' | 'PEER_TOKEN_EXPIRED' | 'PEER_DENIED';
  message: string;
}

/**
 * The Authorization of a peer stream request: `PullthroughPeer v1.<expiry ms>.<HMAC-SHA256>`, the
 * HMAC taken with the shared PeerSecret over the flight id and the expiry, so a token opens one
 * flight for PEER_TOKEN_TTL_MS and says nothing about the key.
 */
export class PeerTokens {
  constructor(
    private readonly secret: PeerSecret,
    private readonly now: () => number = Date.now,
  ) {}

  /** The header value for a request of this flight. */
  sign(flightId: string): string {
    const expires = this.now() + PEER_TOKEN_TTL_MS;
    return `${SCHEME} v1.${expires}.${this.mac(this.secret.current, flightId, expires).toString('base64url')}`;
  }

  /** Undefined when the header opens this flight now; else why not. A mismatch reads the stored key again once before it is refused. */
  async verify(flightId: string, header: string | undefined): Promise<PeerTokenRefusal | undefined> {
    const m = header === undefined ? null : SHAPE.exec(header.trim());
    if (!m) return { status: 401, code: 'PEER_UNAUTHORIZED', message: `a peer request needs an Authorization: ${SCHEME} token` };
    const expires = Number(m[1]);
    const now = this.now();
    if (expires <= now) return { status: 401, code: 'PEER_TOKEN_EXPIRED', message: 'the peer token has expired' };
    if (expires > now + MAX_TOKEN_LIFETIME_MS) return { status: 401, code: 'PEER_UNAUTHORIZED', message: 'the peer token claims too long a lifetime' };
    const given = Buffer.from(m[2]!, 'base64url');
    if (this.matches(given, flightId, expires)) return undefined;
    // Another replica may have made the stored key after this one read it (both started on an empty store).
    if ((await this.secret.refresh()) && this.matches(given, flightId, expires)) return undefined;
    return { status: 403, code: 'PEER_DENIED', message: 'the peer token does not open this flight' };
  }

  /** A peer refused our token: the stored key may be newer than ours (read again, at most once a second). */
  async refused(): Promise<void> {
    await this.secret.refresh().catch(() => undefined);
  }

  private matches(given: Buffer, flightId: string, expires: number): boolean {
    const expected = this.mac(this.secret.current, flightId, expires);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private mac(key: Buffer, flightId: string, expires: number): Buffer {
    return createHmac('sha256', key).update(`pullthrough-peer-v1\n${flightId}\n${expires}`).digest();
  }
}
