import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ObjectWriter } from './storage-driver.js';

export const STREAM_HIGH_WATER_MARK = 1024 * 1024;

/**
 * Chunks are gathered until this many bytes (or this many chunks) and written with one vectored
 * write: the 64 KiB chunks of an upstream socket written one by one cost four times the CPU of the
 * same bytes written a MiB at a time (each is a round trip through the libuv thread pool).
 */
const GATHER_BYTES = 1024 * 1024;
const GATHER_CHUNKS = 256;

type State = 'writing' | 'committing' | 'committed' | 'aborted';

/** Errors on which a hard link cannot be used and commit falls back to rename. */
const NO_LINK = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK', 'ENOSYS']);

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/**
 * An ObjectWriter over a temporary file. Chunks are gathered and written a MiB at a time with one
 * vectored write; `_final` writes the rest, fsyncs and closes, so a finished stream is a durable
 * temporary file. `commit` links it into place without ever replacing an existing target.
 */
export class FileObjectWriter extends Writable implements ObjectWriter {
  private written = 0;
  private state: State = 'writing';
  private handle: FileHandle | undefined;
  private aborting: Promise<void> | undefined;
  private gathered: Buffer[] = [];
  private gatheredBytes = 0;

  constructor(
    handle: FileHandle,
    private readonly tempPath: string,
    private readonly resolveTarget: (path: string) => string,
    /** The path the writer was created for (CreateWriterOptions.path), if any. */
    private readonly intendedPath?: string,
  ) {
    super({ highWaterMark: STREAM_HIGH_WATER_MARK });
    this.handle = handle;
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

  override _final(callback: (error?: Error | null) => void): void {
    this.flush()
      .then(async () => {
        const handle = this.handle;
        this.handle = undefined;
        if (!handle) throw new Error('writer is closed');
        await handle.sync().finally(() => handle.close());
      })
      .then(() => callback(), callback);
  }

  /** Keep the chunks (nobody reuses a chunk it has written); write once a MiB is gathered. */
  private gather(buffers: Buffer[], callback: (error?: Error | null) => void): void {
    for (const buffer of buffers) {
      if (buffer.length === 0) continue;
      this.gathered.push(buffer);
      this.gatheredBytes += buffer.length;
      this.written += buffer.length;
    }
    if (this.gatheredBytes < GATHER_BYTES && this.gathered.length < GATHER_CHUNKS) return callback();
    this.flush().then(() => callback(), callback);
  }

  private flush(): Promise<void> {
    const batch = this.gathered;
    this.gathered = [];
    this.gatheredBytes = 0;
    return batch.length > 0 ? this.writeAll(batch) : Promise.resolve();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const handle = this.handle;
    this.handle = undefined;
    const cleanup = async (): Promise<void> => {
      await handle?.close().catch(() => undefined);
      // Destroyed before finishing (error, or caller gave up): the temporary object is garbage.
      if (!this.writableFinished && this.state === 'writing') {
        this.state = 'aborted';
        await fsp.rm(this.tempPath, { force: true });
      }
    };
    cleanup().then(() => callback(error), () => callback(error));
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
      await placeWithoutReplacing(this.tempPath, target);
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
      if (!this.destroyed) this.destroy();
      await finished(this).catch(() => undefined);
      await fsp.rm(this.tempPath, { force: true });
    })();
    return this.aborting;
  }

  private async writeAll(buffers: Buffer[]): Promise<void> {
    const handle = this.handle;
    if (!handle) throw new Error('writer is closed');
    let pending = buffers;
    while (pending.length > 0) {
      const total = pending.reduce((n, b) => n + b.length, 0);
      const { bytesWritten } = await handle.writev(pending);
      if (bytesWritten >= total) return;
      pending = skipBytes(pending, bytesWritten);
    }
  }
}

function skipBytes(buffers: Buffer[], count: number): Buffer[] {
  let rest = count;
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (rest >= b.length) rest -= b.length;
    else {
      out.push(rest > 0 ? b.subarray(rest) : b);
      rest = 0;
    }
  }
  return out;
}

/**
 * Move `temp` to `target` unless `target` exists (then drop `temp`). A hard link is atomic and
 * never replaces; where links are unsupported, fall back to stat + rename (same content anyway).
 * Retries when a concurrent delete prunes the freshly created parent directory.
 */
export async function placeWithoutReplacing(temp: string, target: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    await fsp.mkdir(dirname(target), { recursive: true });
    try {
      try {
        await fsp.link(temp, target);
      } catch (err) {
        if (!NO_LINK.has(errno(err) ?? '')) throw err;
        if (await fsp.stat(target).then(() => true, () => false)) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
        await fsp.rename(temp, target);
        return;
      }
    } catch (err) {
      if (errno(err) === 'ENOENT' && attempt < 5) continue;
      if (errno(err) !== 'EEXIST') throw err;
    }
    await fsp.rm(temp, { force: true });
    return;
  }
}
