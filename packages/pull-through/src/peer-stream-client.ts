import { request, type IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { silentLogger, type Logger } from './logger.js';
import { PeerStreamStats } from './peer-stream-stats.js';
import type { PeerTokens } from './peer-token.js';

/** A leader's live stream of a blob: its size, and the body from byte 0 as the leader receives it. */
export interface PeerStream {
  size: number;
  body: Readable;
}

/** Where a follower reads a blob another replica is fetching (BlobFetcher's `peers` option). */
export interface BlobPeers {
  /** The leader's stream of this flight, or undefined (not allowed, unreachable, refused): wait for the commit instead. */
  open(peerUrl: string, flightId: string): Promise<PeerStream | undefined>;
  readonly stats: PeerStreamStats;
}

export interface HttpBlobPeersOptions {
  tokens: PeerTokens;
  /** Whether a peer URL found in a lease may be contacted (its host an address in the allowed networks). */
  allowed: (url: URL) => boolean;
  stats?: PeerStreamStats;
  logger?: Logger;
  /** The TCP connection must be up within this long. Default 2000. */
  connectTimeoutMs?: number;
  /** The leader must answer (it does once its upstream's headers are in) within this long. Default 10000. */
  headersTimeoutMs?: number;
  /** A stream that brings no byte for this long is broken. Default 60000. */
  bodyIdleTimeoutMs?: number;
}

export const PEER_FLIGHT_PATH = '/internal/v1/blob-flights/';

/**
 * Opens leaders' peer streams over plain HTTP (the internal listener of another replica; blob bytes
 * are checked against their digest by the follower, the request is authorized by an HMAC token).
 * A URL outside the allowed networks, or with a host that is not an IP address, is never contacted.
 */
export class HttpBlobPeers implements BlobPeers {
  readonly stats: PeerStreamStats;
  private readonly logger: Logger;

  constructor(private readonly options: HttpBlobPeersOptions) {
    this.stats = options.stats ?? new PeerStreamStats();
    this.logger = options.logger ?? silentLogger;
  }

  async open(peerUrl: string, flightId: string): Promise<PeerStream | undefined> {
    let url: URL;
    try {
      url = new URL(`${peerUrl.replace(/\/+$/, '')}${PEER_FLIGHT_PATH}${flightId}`);
    } catch {
      url = new URL('invalid:');
    }
    if (url.protocol !== 'http:' || url.username || url.password || !this.options.allowed(url)) {
      this.stats.failed['not-allowed']++;
      this.logger.warn({ peer: peerUrl.slice(0, 200) }, 'peer stream: the lease names a peer outside the allowed networks; waiting for its commit');
      return undefined;
    }
    const answer = await this.get(url, flightId);
    if ('failure' in answer) {
      this.stats.failed[answer.failure]++;
      // Another replica may have made the stored key after this one read it.
      if (answer.status === 403) void this.options.tokens.refused();
      this.logger.debug({ peer: url.origin, status: answer.status, err: answer.err }, 'peer stream not opened; waiting for the commit');
      return undefined;
    }
    this.stats.followed++;
    return answer;
  }

  private get(url: URL, flightId: string): Promise<PeerStream | { failure: 'unreachable' | 'refused'; status?: number; err?: string }> {
    const connectMs = this.options.connectTimeoutMs ?? 2000;
    const headersMs = this.options.headersTimeoutMs ?? 10_000;
    const idleMs = this.options.bodyIdleTimeoutMs ?? 60_000;
    return new Promise((resolve) => {
      let settled = false;
      const finish = (value: PeerStream | { failure: 'unreachable' | 'refused'; status?: number; err?: string }) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        resolve(value);
      };
      const req = request(url, { method: 'GET', agent: false, headers: { authorization: this.options.tokens.sign(flightId) } }, (res: IncomingMessage) => {
        const size = Number(res.headers['content-length']);
        if (res.statusCode !== 200 || !Number.isSafeInteger(size) || size < 0) {
          res.resume();
          res.on('error', () => undefined);
          return finish({ failure: 'refused', status: res.statusCode });
        }
        // No byte for the idle bound: broken (the reader sees the error).
        res.setTimeout(idleMs, () => res.destroy(new Error(`peer stream: no byte for ${idleMs} ms`)));
        finish({ size, body: res });
      });
      let timer = setTimeout(() => req.destroy(new Error(`peer not connected within ${connectMs} ms`)), connectMs);
      req.on('socket', (socket) => {
        socket.once('connect', () => {
          clearTimeout(timer);
          timer = setTimeout(() => req.destroy(new Error(`peer did not answer within ${headersMs} ms`)), headersMs);
        });
      });
      req.on('error', (err) => finish({ failure: 'unreachable', err: err.message }));
      req.end();
    });
  }
}
