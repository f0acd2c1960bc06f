import { BlobUnknownError, type Digest } from '@pullthrough/oci';
import type { BlobWriter, RegistryStore } from '@pullthrough/storage';
import type { BlobContent } from '@pullthrough/upstream';
import { unwrapAnswer } from './upstream-answers.js';
import { withFailover } from './upstream-failover.js';
import type { UpstreamTarget } from './upstream-target.js';

/** A blob's upstream GET, answered, and the store object its bytes go to. */
export interface UpstreamDownload {
  /** The upstream that answered (the rule's source, or a fallback). */
  via: UpstreamTarget;
  content: BlobContent;
  /** The store object, expecting `size` when known. */
  writer(size: number | undefined): Promise<BlobWriter>;
  /** Remove the store object (nothing was committed); resolves once it is gone. */
  drop(): Promise<void>;
}

/**
 * Ask the upstream for a blob and open its store object (its garbage collection touch, its temp
 * file) at once: under load the opening takes milliseconds the first byte would otherwise wait for
 * after the headers. A GET that fails or is refused removes the object before its error is thrown.
 * withFailover annotates a failure (rule, upstream, every registry tried).
 */
export async function startDownload(store: RegistryStore, target: UpstreamTarget, digest: Digest): Promise<UpstreamDownload> {
  const opening = store.createBlobWriter({ digest });
  opening.catch(() => undefined);
  const drop = () => opening.then((w) => w.abort(), () => undefined);
  try {
    const { value, via } = await withFailover(target, (t) => t.client.getBlob(t.upstreamRepository, digest));
    const content = unwrapAnswer(value, via, `blob ${digest}`, BlobUnknownError);
    const writer = async (size: number | undefined) => {
      const w = await opening;
      if (size !== undefined) w.expectSize(size);
      return w;
    };
    return { via, content, writer, drop };
  } catch (err) {
    await drop();
    throw err;
  }
}
