import { cidrContains, parseCidr, parseIp, type Cidr } from '@pullthrough/egress';

/** Loopback, RFC 1918 and IPv6 unique-local blocks: where replicas of one deployment reach each other. */
export const DEFAULT_PEER_NETWORKS = '127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7';

/** The blocks of a PULLTHROUGH_PEER_ALLOWED_NETWORKS list; the entries that are not CIDR blocks in `invalid`. */
export function parsePeerNetworks(entries: readonly string[]): { networks: Cidr[]; invalid: string[] } {
  const networks: Cidr[] = [];
  const invalid: string[] = [];
  for (const entry of entries) {
    const cidr = parseCidr(entry);
    if (cidr) networks.push(cidr);
    else invalid.push(entry);
  }
  return { networks, invalid };
}

/**
 * Whether a peer URL (found in a Redis lease, so not trusted) may be contacted: its host must be an
 * IP address (no name is resolved) inside one of the allowed blocks.
 */
export function peerUrlCheck(networks: readonly Cidr[]): (url: URL) => boolean {
  return (url) => {
    const ip = parseIp(url.hostname);
    return ip !== undefined && networks.some((n) => cidrContains(n, ip));
  };
}
