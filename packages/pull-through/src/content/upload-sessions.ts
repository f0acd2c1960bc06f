import type { Hash } from 'node:crypto';
import {
  BlobUploadInvalidError,
  BlobUploadUnknownError,
  DigestInvalidError,
  DigestMismatchError,
  LruCache,
  UploadRangeError,
  createDigester,
  digestAlgorithm,
  isDigest,
  type Digest,
} from '@pullthrough/oci';
import { blobDataPath, isUploadId, type RegistryStore } from '@pullthrough/storage';

/** A blob in a repository after a push: its digest and size. */
export interface PushedBlob {
  digest: Digest;
  size: number;
}

/** Upload sessions whose running hash this process keeps (a few hundred bytes each). */
const HASHERS_KEPT = 1024;

/** A chunk's bytes pass through `hash` on their way to storage. */
async function* hashing(body: AsyncIterable<Uint8Array>, hash: Hash): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    hash.update(chunk);
    yield chunk;
  }
}

/**
 * OCI blob upload sessions over the storage driver's resumable uploads: nothing is held in memory
 * that a restart would lose (a session started on one frontend continues on another). A session
 * belongs to the repository it was started in (its id means nothing elsewhere).
 *
 * The digest is verified before anything is committed: from a running SHA-256 this process kept
 * while it appended every byte of the session (chunks are immutable once appended, so it stays
 * true), else by a verifying read of the whole upload. A single body (POST `?digest=`, or PUT on an
 * empty session) is hashed while it is written and never stored as a session at all.
 */
export class UploadSessions {
  private readonly hashers = new LruCache<{ hash: Hash; size: number }>(HASHERS_KEPT);

  constructor(private readonly store: RegistryStore) {}

  /** Start a session in `repository`; resolves to its id. */
  async start(repository: string): Promise<string> {
    return this.store.driver.createUpload({ repository });
  }

  /** Bytes received so far; BLOB_UPLOAD_UNKNOWN when the repository has no such session. */
  async status(repository: string, id: string): Promise<{ size: number }> {
    if (!isUploadId(id)) throw new BlobUploadUnknownError('blob upload unknown', { detail: { uuid: id.slice(0, 100) } });
    const status = await this.store.driver.statUpload(id);
    if (!status || status.metadata.repository !== repository) throw new BlobUploadUnknownError('blob upload unknown', { detail: { uuid: id } });
    return { size: status.size };
  }

  /**
   * Append a chunk at `offset` (undefined: wherever the session ends, a streamed PATCH). A chunk that
   * does not start at the session's end is refused (UploadRangeError, 416) and changes nothing.
   */
  async append(repository: string, id: string, offset: number | undefined, body: AsyncIterable<Uint8Array>): Promise<number> {
    const { size } = await this.status(repository, id);
    const at = offset ?? size;
    if (at !== size) throw new UploadRangeError('chunk does not start at the end of the upload (out of order or repeated)', { size, detail: { offset: at, size } });
    const kept = this.hashers.get(id);
    const hash = kept && kept.size === at ? kept.hash.copy() : at === 0 ? createDigester('sha256') : undefined;
    this.hashers.delete(id);
    const next = await this.store.driver.appendUpload(id, at, hash ? hashing(body, hash) : body);
    if (hash) this.hashers.set(id, { hash, size: next });
    return next;
  }

  /**
   * Finish a session as blob `digest`, with an optional last chunk (`body`). A digest that does not
   * match commits nothing (DIGEST_INVALID); the session stays until cancelled or purged.
   */
  async finish(repository: string, id: string, digest: Digest, body: AsyncIterable<Uint8Array> | undefined): Promise<PushedBlob> {
    const { size: before } = await this.status(repository, id);
    if (before === 0 && body) {
      // The whole blob in the PUT (containerd's way): hashed as it is written, never a session.
      const blob = await this.putBlob(repository, digest, body);
      await this.store.driver.deleteUpload(id);
      this.hashers.delete(id);
      return blob;
    }
    const size = body ? await this.append(repository, id, before, body) : before;
    const actual = await this.digestOf(id, size, digestAlgorithm(digest));
    if (actual !== digest) {
      throw new DigestInvalidError('uploaded content does not match the digest', { detail: { digest, actual, size } });
    }
    // A collection running meanwhile must not free this digest (the same bytes may be stored already, and kept as they are).
    await this.store.touchBlobs([digest]);
    await this.store.driver.commitUpload(id, blobDataPath(digest), size);
    this.hashers.delete(id);
    await this.store.linkBlob(repository, digest);
    return { digest, size };
  }

  /** Cancel a session (BLOB_UPLOAD_UNKNOWN when there is none). */
  async cancel(repository: string, id: string): Promise<void> {
    await this.status(repository, id);
    await this.store.driver.deleteUpload(id);
    this.hashers.delete(id);
  }

  /** A whole blob in one body, verified while it is written, committed and linked to `repository`. */
  async putBlob(repository: string, digest: Digest, body: AsyncIterable<Uint8Array>): Promise<PushedBlob> {
    const writer = await this.store.createBlobWriter({ digest });
    try {
      for await (const chunk of body) {
        if (!writer.write(chunk)) await new Promise<void>((resolve, reject) => {
          writer.once('drain', resolve);
          writer.once('error', reject);
        });
      }
      const committed = await writer.commit();
      await this.store.linkBlob(repository, committed.digest);
      return committed;
    } catch (err) {
      await writer.abort();
      if (err instanceof DigestMismatchError) throw new DigestInvalidError('uploaded content does not match the digest', { detail: err.detail });
      throw err;
    }
  }

  /** The digest of the upload's `size` bytes: from the hash kept while appending, else by reading it all back. */
  private async digestOf(id: string, size: number, algorithm: string): Promise<Digest> {
    const kept = this.hashers.get(id);
    if (algorithm === 'sha256' && kept && kept.size === size) return `sha256:${kept.hash.copy().digest('hex')}` as Digest;
    const stream = await this.store.driver.readUpload(id);
    if (!stream) throw new BlobUploadUnknownError('blob upload unknown', { detail: { uuid: id } });
    const hash = createDigester(algorithm);
    let read = 0;
    for await (const chunk of stream) {
      hash.update(chunk as Buffer);
      read += (chunk as Buffer).length;
    }
    if (read !== size) throw new BlobUploadInvalidError('the upload changed while it was being finished', { detail: { expected: size, actual: read } });
    const digest = `${algorithm}:${hash.digest('hex')}`;
    if (!isDigest(digest)) throw new DigestInvalidError('unsupported digest algorithm', { detail: { algorithm } });
    return digest;
  }
}
