import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { BlobFetcher } from './blob-fetcher.js';
import { silentLogger, type Logger } from './logger.js';
import { PEER_FLIGHT_PATH } from './peer-stream-client.js';
import type { PeerStreamStats } from './peer-stream-stats.js';
import type { PeerTokens } from './peer-token.js';

export interface PeerFlightHandlerOptions {
  fetcher: Pick<BlobFetcher, 'tapForPeer'>;
  tokens: PeerTokens;
  stats: PeerStreamStats;
  logger?: Logger;
}

const FLIGHT_PATH = new RegExp(`^${PEER_FLIGHT_PATH.replace(/\//g, '\\/')}([0-9a-f]{64})$`);

function refuse(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers });
  res.end(body);
}

/**
 * The peer listener (PULLTHROUGH_PEER_PORT; never the data or admin port): `GET
 * /internal/v1/blob-flights/<flight id>` with a PeerTokens Authorization streams a blob this process
 * is fetching from its upstream, from byte 0, as its bytes arrive (BlobFetcher.tapForPeer: the same
 * bounded buffer, fall-behind and stall rules as a local client), Content-Length the blob's size. A
 * fetch that is not running here, or whose first bytes are no longer kept, is a 404: the follower
 * then waits for the commit. Anything else gets a small JSON error (401/403/404/405), never a 500
 * for what the request said.
 */
export function peerFlightHandler(options: PeerFlightHandlerOptions): RequestListener {
  const logger = options.logger ?? silentLogger;
  return (req: IncomingMessage, res: ServerResponse) => {
    void serve(req, res).catch((err: unknown) => {
      logger.warn({ err: (err as Error).message }, 'peer stream: request failed');
      if (!res.headersSent) refuse(res, 500, 'INTERNAL', 'the peer stream could not be served');
      else res.destroy();
    });
  };

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A body is never read: drain it so the connection stays usable.
    req.resume();
    const path = (req.url ?? '').split('?')[0]!;
    const match = FLIGHT_PATH.exec(path);
    if (!match) return refuse(res, 404, 'NOT_FOUND', `the peer listener serves only GET ${PEER_FLIGHT_PATH}<flight id: 64 hex>`);
    if (req.method !== 'GET') return refuse(res, 405, 'METHOD_NOT_ALLOWED', 'only GET is served', { allow: 'GET' });
    const flightId = match[1]!;
    const refused = await options.tokens.verify(flightId, req.headers.authorization);
    if (refused) return refuse(res, refused.status, refused.code, refused.message);
    const live = await options.fetcher.tapForPeer(flightId);
    if (!live) return refuse(res, 404, 'FLIGHT_UNAVAILABLE', 'no fetch of this flight is running here with its first bytes still kept');
    if (res.destroyed) {
      live.stream.destroy();
      return;
    }
    options.stats.served++;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(live.size), 'cache-control': 'no-store' });
    // The tap writes to the response itself. A fetch that fails cuts the response (the follower sees a
    // broken body, never a short one); a follower that goes away ends its tap.
    await live.sendTo(res).catch((err: unknown) => {
      res.destroy();
      logger.debug({ flightId, err: (err as Error).message }, 'peer stream ended early');
    });
  }
}
