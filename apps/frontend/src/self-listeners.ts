import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { EgressPolicy } from '@pullthrough/egress';
import type { UpstreamClientPool } from '@pullthrough/upstream';

/**
 * Make one of our listeners a refused destination (port 0 is not known yet: the caller adds the
 * actual port after listen). A listener on 0.0.0.0 or :: is reachable on every local address,
 * so those are recorded too.
 */
export function addSelfListener(egress: EgressPolicy, address: string, port: number): void {
  if (port === 0 || !egress.self.add(address, port)) return;
  const local = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
  egress.self.setLocalAddresses(local);
}

/**
 * The save-time check of a rule's upstream host: an IP literal (any numeric form) in a refused
 * range, or one of our listeners, is refused; a name is left to the connect-time check.
 */
export function upstreamHostCheck(egress: EgressPolicy, pool: UpstreamClientPool): (registry: string) => string | undefined {
  return (registry) => {
    const decision = egress.checkHostLiteral(registry, pool.isInsecure(registry) ? 80 : 443);
    return decision && !decision.allowed ? decision.reason : undefined;
  };
}

/** `http://<address>:<port>` of a listening server (IPv6 bracketed). */
export function listenerUrl(server: Server): string {
  const a = server.address() as AddressInfo;
  return `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
}
