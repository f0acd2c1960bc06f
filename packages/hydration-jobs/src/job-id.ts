/**
 * BullMQ job ids may not contain `:` (it separates Redis key parts), so the digest's
 * algorithm separator is encoded. One id per (downstream repository, manifest digest):
 * duplicate enqueues collapse into the job that is already queued, running or kept.
 */
export function hydrationJobId(downstreamRepository: string, digest: string): string {
  return `${downstreamRepository}@${digest.replace(':', '-')}`;
}
