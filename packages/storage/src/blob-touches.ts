import type { Digest } from '@pullthrough/oci';

/**
 * Where the store says "this blob is in use now" before it writes, commits or links one (and
 * before a manifest naming it is stored), so a garbage collection running meanwhile keeps it
 * (the mark generation: see the README "Garbage collection"). `touch` resolves once the touch is
 * recorded, or once a collector that was deleting one of these blobs has finished doing so (the
 * caller then finds it missing and writes it again). It never rejects: a touch that cannot be
 * recorded is only logged, and the grace period still protects the blob.
 */
export interface BlobTouches {
  touch(digests: readonly Digest[]): Promise<void>;
}

/** No collector to tell (single process tests, tools). */
export const noBlobTouches: BlobTouches = { touch: async () => undefined };
