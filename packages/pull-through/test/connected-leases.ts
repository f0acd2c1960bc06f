import { RedisBlobLeases } from '../src/redis-blob-leases.js';

/**
 * Redis blob leases once their connections are up: a claim made before that answers "alone" and a
 * notice published before the subscription is lost, so the tests wait for both. With `peerUrl`, the
 * leases it leads name it (where its peer stream is read). The caller closes them.
 */
export async function connectedLeases(url: string, prefix: string, leaseMs: number, peerUrl?: string): Promise<RedisBlobLeases> {
  const leases = new RedisBlobLeases({ url, prefix, leaseMs, ...(peerUrl ? { peerUrl } : {}) });
  for (let i = 0; i < 100 && (!leases.listening || (await leases.acquire(`probe-${i}`)).kind === 'alone'); i++) await new Promise((r) => setTimeout(r, 50));
  return leases;
}
