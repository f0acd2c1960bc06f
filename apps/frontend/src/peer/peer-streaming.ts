import type { Server } from 'node:http';
import { HttpBlobPeers, PeerSecret, PeerStreamStats, PeerTokens, peerFlightHandler, type BlobFetcher, type Logger } from '@pullthrough/pull-through';
import type { ControlStore } from '@pullthrough/storage';
import { listen, type ListenerLimits } from '@pullthrough/operations';
import type { FrontendConfig } from '../config.js';
import { parsePeerNetworks, peerUrlCheck } from './peer-networks.js';

/** Peer streaming as configured (PULLTHROUGH_PEER_*): what the leases, the fetcher and the listener need. */
export interface PeerStreaming {
  /** Where the other replicas reach this one (put in the leases this process holds). */
  url: string;
  /** Opens the leaders' streams for this process's followers. */
  peers: HttpBlobPeers;
  stats: PeerStreamStats;
  /** Listen on the peer port, serving the fetches `fetcher` runs. */
  listen(fetcher: BlobFetcher, limits: ListenerLimits): Promise<Server>;
}

/** The URL of the peer listener as the others reach it: PULLTHROUGH_PEER_URL, else the bind address and port. */
export function peerUrlOf(config: Pick<FrontendConfig, 'PULLTHROUGH_PEER_URL' | 'PULLTHROUGH_PEER_HOST' | 'PULLTHROUGH_PEER_PORT'>): string {
  if (config.PULLTHROUGH_PEER_URL) return config.PULLTHROUGH_PEER_URL.replace(/\/+$/, '');
  const host = config.PULLTHROUGH_PEER_HOST.includes(':') ? `[${config.PULLTHROUGH_PEER_HOST}]` : config.PULLTHROUGH_PEER_HOST;
  return `http://${host}:${config.PULLTHROUGH_PEER_PORT}`;
}

/**
 * Undefined when PULLTHROUGH_PEER_PORT is 0 (off: followers wait for the leader's commit). The
 * HMAC key is read from (or made in) the storage control area, shared by every frontend.
 */
export async function peerStreamingFrom(config: FrontendConfig, control: ControlStore, logger: Logger): Promise<PeerStreaming | undefined> {
  if (config.PULLTHROUGH_PEER_PORT === 0) return undefined;
  const tokens = new PeerTokens(await PeerSecret.load(control));
  const stats = new PeerStreamStats();
  const { networks } = parsePeerNetworks(config.PULLTHROUGH_PEER_ALLOWED_NETWORKS);
  const peers = new HttpBlobPeers({ tokens, allowed: peerUrlCheck(networks), stats, logger, bodyIdleTimeoutMs: config.PULLTHROUGH_UPSTREAM_IDLE_TIMEOUT_MS * 2 });
  return {
    url: peerUrlOf(config),
    peers,
    stats,
    listen: (fetcher, limits) => listen(peerFlightHandler({ fetcher, tokens, stats, logger }), config.PULLTHROUGH_PEER_HOST, config.PULLTHROUGH_PEER_PORT, limits),
  };
}
