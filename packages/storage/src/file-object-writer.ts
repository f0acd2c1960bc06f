import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GatheringWriter } from './gathering-writer.js';

/**
 * Chunks are gathered until this many bytes (or this many chunks) and written with one vectored
 * write: the 64 KiB chunks of an upstream socket written one by one cost four times the CPU of the
 * same bytes written a MiB at a time (each is a round trip through the libuv thread pool).
 */
const GATHER_BYTES = 1024 * 1024;
const GATHER_CHUNKS = 256;

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
export class FileObjectWriter extends GatheringWriter {
  private handle: FileHandle | undefined;

  constructor(
    handle: FileHandle,
    private readonly tempPath: string,
    private readonly resolvePath: (path: string) => string,
    intendedPath?: string,
  ) {
    super(intendedPath);
    this.handle = handle;
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

  /** Write once a MiB (or 256 chunks) is gathered. */
  protected afterGather(callback: (error?: Error | null) => void): void {
    if (this.gatheredBytes < GATHER_BYTES && this.gatheredCount < GATHER_CHUNKS) return callback();
    this.flush().then(() => callback(), callback);
  }

  protected resolveTarget(path: string): string {
    return this.resolvePath(path);
  }

  protected place(_path: string, target: string): Promise<void> {
    return placeWithoutReplacing(this.tempPath, target);
  }

  protected discard(): Promise<void> {
    return fsp.rm(this.tempPath, { force: true });
  }

  private flush(): Promise<void> {
    const batch = this.takeGathered().buffers;
    return batch.length > 0 ? this.writeAll(batch) : Promise.resolve();
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
