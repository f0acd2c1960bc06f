import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { FilesystemDriver, type CreateWriterOptions, type ObjectWriter } from '@pullthrough/storage';

/**
 * The fault for the write-through tests: a filesystem driver whose writers take no byte while the
 * disk is held (`hold()`), as a stalled or very slow disk would, and write through to the real
 * filesystem writer once it is released (`release()`). A hold applies to every chunk written while
 * it lasts, also by writers made before it (a disk that stalls in the middle of a write).
 */
export class HeldFilesystemDriver extends FilesystemDriver {
  /** Settles when the disk is released; undefined while it is not held. */
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  override async createWriter(options: CreateWriterOptions = {}): Promise<ObjectWriter> {
    return new HeldWriter(await super.createWriter(options), () => this.gate);
  }
}

/** Passes every chunk to `inner` once the gate of the moment (if any) settles, with backpressure (a small buffer of its own). */
class HeldWriter extends Writable implements ObjectWriter {
  constructor(
    private readonly inner: ObjectWriter,
    private readonly gate: () => Promise<void> | undefined,
  ) {
    super({ highWaterMark: 64 * 1024 });
    inner.on('error', (err) => this.destroy(err));
  }

  get bytesWritten(): number {
    return this.inner.bytesWritten;
  }

  /** What the real writer has in its file (nothing more while the disk is held). */
  get writtenPrefix(): ObjectWriter['writtenPrefix'] {
    return this.inner.writtenPrefix;
  }

  /** The real writer tells of each chunk (the same buffer this one was given) once it is in the file. */
  onChunkDone(hook: (chunk: Buffer) => void): void {
    this.inner.onChunkDone?.(hook);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    void (this.gate() ?? Promise.resolve()).then(() => {
      if (this.inner.write(chunk)) callback();
      else this.inner.once('drain', () => callback());
    });
  }

  override _final(callback: (error?: Error | null) => void): void {
    void (this.gate() ?? Promise.resolve()).then(() => {
      this.inner.end();
      finished(this.inner, { readable: false }).then(() => callback(), callback);
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A finished stream is destroyed on its own (autoDestroy) and waits for commit().
    if (this.writableFinished && !error) return callback(error);
    this.inner.abort().then(
      () => callback(error),
      () => callback(error),
    );
  }

  async commit(path: string): Promise<void> {
    if (!this.writableEnded) this.end();
    await finished(this, { readable: false });
    await this.inner.commit(path);
  }

  async abort(): Promise<void> {
    if (!this.destroyed) this.destroy();
    await this.inner.abort();
  }
}
