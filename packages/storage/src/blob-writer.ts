import type { Hash } from 'node:crypto';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { DigestMismatchError, createDigester, digestAlgorithm, type Digest } from '@pullthrough/oci';
import { STREAM_HIGH_WATER_MARK } from './gathering-writer.js';
import type { ObjectWriter, WrittenPrefix } from './storage-driver.js';
import { blobDataPath } from './store-layout.js';
import { inSpan, type Span } from '@pullthrough/telemetry';

export interface ExpectedBlob {
  digest: Digest;
  /** When known (e.g. from a descriptor or Content-Length), checked as well as the digest. */
  size?: number;
}

export interface CommittedBlob {
  digest: Digest;
  size: number;
}

type CallbackFn = (error?: Error | null) => void;

/**
 * A Writable that hashes every byte as it passes to a temporary object (no copies), and on
 * `commit()` verifies digest and size before committing the blob at its content address.
 * A mismatch aborts and throws DigestMismatchError: nothing becomes visible. Writing more bytes
 * than an expected size fails the stream at once.
 */
export class BlobWriter extends Writable {
  private readonly hash: Hash;
  private size = 0;
  /** The digest of what was written, once `verify()` (or commit) has computed it. */
  private digest: Digest | undefined;
  private state: 'open' | 'committing' | 'committed' | 'aborted' = 'open';
  /** The caller's expectation (a copy): the digest, and the size once known. */
  private readonly wanted: ExpectedBlob;

  constructor(
    private readonly target: ObjectWriter,
    expected: ExpectedBlob,
    /** Runs after the content is verified, just before it is committed (BlobStore touches the blob). */
    private readonly beforeCommit: () => Promise<void> = async () => undefined,
  ) {
    super({ highWaterMark: STREAM_HIGH_WATER_MARK });
    this.wanted = { ...expected };
    this.hash = createDigester(digestAlgorithm(expected.digest));
    target.on('error', (err) => this.destroy(err));
  }

  /** The digest, and the size once known. */
  get expected(): Readonly<ExpectedBlob> {
    return this.wanted;
  }

  /**
   * The size the blob must have, learnt after the writer was opened (a pull-through cache opens it
   * while the upstream is still being asked; the size comes with the response's headers). Checked
   * like a size given at creation, including against what was written before. A different size
   * than one already expected fails the writer.
   */
  expectSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`invalid expected blob size: ${size}`);
    if (this.wanted.size === size) return;
    const before = this.wanted.size;
    this.wanted.size = size;
    if ((before !== undefined || this.size > size) && !this.destroyed) this.destroy(this.mismatch(undefined));
  }

  /**
   * Before the first write: `hook` is called with each chunk once the driver's writer is done with its
   * memory (ObjectWriter.onChunkDone). False when the driver keeps no such record (then nothing written
   * here may be reused). Chunks reach the driver as they were written (hashed, never copied).
   */
  onChunkDone(hook: (chunk: Buffer) => void): boolean {
    if (!this.target.onChunkDone) return false;
    this.target.onChunkDone(hook);
    return true;
  }

  /** The part of the object written so far, readable while writing goes on (undefined: the driver cannot). */
  get writtenPrefix(): WrittenPrefix | undefined {
    return this.target.writtenPrefix;
  }

  /** Bytes hashed so far. */
  get bytesWritten(): number {
    return this.size;
  }

  /**
   * A copy of the hash of every byte written so far (Node's Hash.copy()): whoever stops writing at
   * this offset can go on hashing the rest of the blob elsewhere while this writer's own hash stays
   * where it is, to continue with the bytes written later.
   */
  hashState(): Hash {
    return this.hash.copy();
  }

  /**
   * Every chunk is hashed (and counted against the expected size) as it is written, before the
   * stream queues it: once the last chunk is written, `verify()` knows whether the content is
   * right, long before the temporary object is flushed, fsynced and committed.
   */
  override write(chunk: string | Uint8Array, callback?: CallbackFn): boolean;
  override write(chunk: string | Uint8Array, encoding: BufferEncoding, callback?: CallbackFn): boolean;
  override write(chunk: string | Uint8Array, encodingOrCallback?: BufferEncoding | CallbackFn, callback?: CallbackFn): boolean {
    if (typeof chunk === 'string') chunk = Buffer.from(chunk, typeof encodingOrCallback === 'string' ? encodingOrCallback : 'utf8');
    if (this.digest !== undefined && !this.destroyed) {
      // Verified content is final: a later byte would be committed unchecked.
      this.destroy(new Error('cannot write to a blob writer after verify()'));
      return false;
    }
    if (!this.destroyed && !this.writableEnded) {
      this.hash.update(chunk);
      this.size += chunk.byteLength;
      if (this.wanted.size !== undefined && this.size > this.wanted.size) {
        this.destroy(this.mismatch(undefined));
        return false;
      }
    }
    return super.write(chunk, typeof encodingOrCallback === 'function' ? encodingOrCallback : callback);
  }

  /** `end(chunk)` hashes its chunk like `write` (Writable's own end would queue it unhashed). */
  override end(callback?: () => void): this;
  override end(chunk: string | Uint8Array, callback?: () => void): this;
  override end(chunk: string | Uint8Array, encoding: BufferEncoding, callback?: () => void): this;
  override end(chunk?: string | Uint8Array | (() => void), encodingOrCallback?: BufferEncoding | (() => void), callback?: () => void): this {
    if (chunk === undefined || chunk === null || typeof chunk === 'function') return super.end(chunk);
    if (typeof encodingOrCallback === 'string') this.write(chunk, encodingOrCallback);
    else this.write(chunk);
    return super.end(typeof encodingOrCallback === 'function' ? encodingOrCallback : callback);
  }

  /**
   * Whether what was written is the expected blob: throws DigestMismatchError when not. Call it
   * after the last write; no more may be written afterwards. `commit()` checks the same.
   */
  verify(): Digest {
    this.digest ??= `${digestAlgorithm(this.wanted.digest)}:${this.hash.digest('hex')}` as Digest;
    const expectedSize = this.wanted.size;
    if (this.digest !== this.wanted.digest || (expectedSize !== undefined && expectedSize !== this.size)) throw this.mismatch(this.digest);
    return this.digest;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: CallbackFn): void {
    this.forward([chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: CallbackFn): void {
    this.forward(
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  override _final(callback: CallbackFn): void {
    this.target.end();
    finished(this.target, { readable: false }).then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: CallbackFn): void {
    // A cleanly finished stream waits for commit(); anything else drops the temporary object.
    if (this.state === 'committed' || (this.writableFinished && !error)) return callback(error);
    if (this.state === 'open') this.state = 'aborted';
    this.target.abort().then(
      () => callback(error),
      () => callback(error),
    );
  }

  /** Verify and commit. Ends the stream if the caller has not. */
  async commit(): Promise<CommittedBlob> {
    if (this.state !== 'open') throw new Error(`cannot commit a blob writer that is ${this.state}`);
    this.state = 'committing';
    return inSpan('storage blob commit', { 'pullthrough.digest': this.wanted.digest }, (span) => this.verifyAndCommit(span));
  }

  private async verifyAndCommit(span: Span): Promise<CommittedBlob> {
    try {
      if (!this.writableEnded) this.end();
      await finished(this, { readable: false });
      const actual = this.verify();
      await this.beforeCommit();
      await this.target.commit(blobDataPath(actual));
      this.state = 'committed';
      span.setAttribute('pullthrough.blob.size', this.size);
      return { digest: actual, size: this.size };
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  /** Drop everything written. Idempotent; a no-op after commit. */
  async abort(): Promise<void> {
    if (this.state === 'committed') return;
    this.state = 'aborted';
    if (!this.destroyed) this.destroy();
    await this.target.abort();
  }

  private forward(buffers: Buffer[], callback: CallbackFn): void {
    let ok = true;
    for (const buffer of buffers) ok = this.target.write(buffer);
    if (ok) callback();
    else this.target.once('drain', () => callback());
  }

  private mismatch(actual: Digest | undefined): DigestMismatchError {
    const detail = {
      expected: this.wanted.digest,
      actual: actual ?? null,
      expectedSize: this.wanted.size ?? null,
      actualSize: this.size,
    };
    const what = actual === undefined ? 'blob is larger than its expected size' : 'blob content does not match its digest';
    return new DigestMismatchError(what, { detail });
  }
}
