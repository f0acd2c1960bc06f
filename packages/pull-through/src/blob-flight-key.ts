import { createHash } from 'node:crypto';
import type { Digest } from '@pullthrough/oci';
import type { UpstreamTarget } from './upstream-target.js';

/**
 * Who may share an upstream blob request: callers that would get the same answer, i.e. the same
 * upstream registry and repository asked with the same credential set (or none) for the same
 * digest. A request for another repository, or through a rule with other credentials, never joins
 * a fetch (or a HEAD) it was not authorized for.
 */
export function blobFlightKey(target: UpstreamTarget, digest: Digest): string {
  // The fallbacks too: a caller shares a fetch only if every registry it may be served from is its own.
  const fallbacks = target.upstreams.slice(1).map((u) => u.registry);
  return JSON.stringify([target.upstreamRegistry, target.upstreamRepository, target.rule.credentialSetName ?? null, fallbacks, digest]);
}

/**
 * The flight key's public name: its sha256 in hex. Names its Redis lease and its peer stream
 * (GET /internal/v1/blob-flights/<id>) without showing the repository or credential set.
 */
export function blobFlightId(flightKey: string): string {
  return createHash('sha256').update(flightKey).digest('hex');
}
