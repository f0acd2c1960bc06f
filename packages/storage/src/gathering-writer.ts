import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ObjectWriter } from './storage-driver.js';

export const STREAM_HIGH_WATER_MARK = 1024 * 1024;

export type WriterState = 'writing' | 'committing' | 'committed' | 'aborted';

/**
 * What the filesystem and Azure Blob writers share: chunks are kept as they come (the caller may reuse a
 * chunk's memory only once the writer's onChunkDone hook told it) until the subclass takes them (`takeGathered`) in `afterGather`, which
 * also decides when the caller may write on; `commit` ends the stream, waits for `_final` and then
 * places the object (never replacing one), aborting on any failure; `abort` destroys the stream
 * and discards what was written. Subclasses write the bytes (`afterGather`, `_final`) and place
 * or discard the object.
 */
export abstract class GatheringWriter extends Writable implements ObjectWriter {
  protected state: WriterState = 'writing';
  protected gatheredBytes = 0;
  protected gatheredCount = 0;
  private written = 0;
  private gathered: Buffer[] = [];
  private aborting: Promise<void> | undefined;
  /** Told of each chunk once the writer no longer needs its memory (ObjectWriter.onChunkDone). */
  private chunkDone: ((chunk: Buffer) => void) | undefined;

  /** `intendedPath`: the path the writer was created for (CreateWriterOptions.path), if any. */
  constructor(protected readonly intendedPath: string | undefined) {
    super({ highWaterMark: STREAM_HIGH_WATER_MARK });
  }

  get bytesWritten(): number {
    return this.written;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.gather([chunk], callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.gather(
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  async commit(path: string): Promise<void> {
    if (this.state !== 'writing') throw new Error(`cannot commit a writer that is ${this.state}`);
    this.state = 'committing';
    try {
      const target = this.resolveTarget(path);
      if (this.intendedPath !== undefined && path !== this.intendedPath) {
        throw new Error('cannot commit a writer to another path than the one it was created for');
      }
      if (!this.writableEnded) this.end();
      await finished(this, { readable: false });
      if (!this.writableFinished) throw new Error('writer was destroyed before it finished');
      await this.place(path, target);
      this.state = 'committed';
    } catch (err) {
      this.state = 'writing';
      await this.abort();
      throw err;
    }
  }

  abort(): Promise<void> {
    if (this.state === 'committed') return Promise.resolve();
    this.state = 'aborted';
    this.aborting ??= (async () => {
      this.onAbort();
      if (!this.destroyed) this.destroy();
      await finished(this).catch(() => undefined);
      await this.discard();
    })();
    return this.aborting;
  }

  onChunkDone(hook: (chunk: Buffer) => void): void {
    this.chunkDone = hook;
  }

  /**
   * The writer no longer needs these chunks' memory: tell the onChunkDone hook (if any). Returns the error of a
   * hook that throws (a holder's bug), which the subclass fails the writer with.
   */
  protected chunksDone(chunks: Buffer[]): Error | undefined {
    const done = this.chunkDone;
    if (!done) return undefined;
    try {
      for (const chunk of chunks) done(chunk);
      return undefined;
    } catch (err) {
      return err as Error;
    }
  }

  /** The gathered chunks (and their total), handed over: the writer keeps none of them. */
  protected takeGathered(): { buffers: Buffer[]; bytes: number } {
    const taken = { buffers: this.gathered, bytes: this.gatheredBytes };
    this.gathered = [];
    this.gatheredBytes = 0;
    this.gatheredCount = 0;
    return taken;
  }

  /** Validates `path` (throws StoragePathError) and says where it is for `place`. */
  protected abstract resolveTarget(path: string): string;
  /** After the stream finished: put the object at `path` (`target`) unless one is there already. */
  protected abstract place(path: string, target: string): Promise<void>;
  /** Chunks were gathered: call `callback` when the caller may write on (write the batch first, or not). */
  protected abstract afterGather(callback: (error?: Error | null) => void): void;
  /** First thing `abort` does (before the stream is destroyed). */
  protected onAbort(): void {}
  /** After an abort, once the stream is done: delete what was written. */
  protected abstract discard(): Promise<void>;

  private gather(buffers: Buffer[], callback: (error?: Error | null) => void): void {
    for (const buffer of buffers) {
      if (buffer.length === 0) continue;
      this.gathered.push(buffer);
      this.gatheredBytes += buffer.length;
      this.gatheredCount++;
      this.written += buffer.length;
    }
    this.afterGather(callback);
  }
}
