import type { Digest } from '@pullthrough/oci';

/** Who asked for a write, for the events it emits. */
export interface WriteContext {
  requestId?: string;
  userAgent?: string;
}

/** A manifest (or a tag of one) that was pushed or deleted. */
export interface WrittenManifest {
  digest: Digest;
  mediaType: string;
  size: number;
  tag?: string;
}

/**
 * Where local writes are reported (the frontend sends them as `push` / `delete` webhooks). Called
 * after the write is durable; a reporter must not throw for its own failures (a push that is stored
 * is a push, whether or not its event could be queued).
 */
export interface WriteEvents {
  pushed(repository: string, manifest: WrittenManifest, ctx: WriteContext): Promise<void>;
  deleted(repository: string, manifest: WrittenManifest, ctx: WriteContext): Promise<void>;
}

export const noWriteEvents: WriteEvents = {
  pushed: async () => undefined,
  deleted: async () => undefined,
};
