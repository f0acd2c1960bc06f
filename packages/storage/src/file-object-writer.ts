import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GatheringWriter, STREAM_HIGH_WATER_MARK } from './gathering-writer.js';
import type { PrefixReader, WrittenPrefix } from './storage-driver.js';

/**
 * Chunks are gathered until this many bytes (or this many chunks) and written with one vectored
 * write: the 64 KiB chunks of an upstream socket written one by one cost four times the CPU of the
 * same bytes written a MiB at a time (each is a round trip through the libuv thread pool). Pushed
 * uploads' chunks are gathered the same way (file-uploads.ts).
 */
export const GATHER_BYTES = 1024 * 1024;
const GATHER_CHUNKS = 256;
/**
 * Batches written at once, each at its own file offset: while one is in the thread pool the next is
 * gathered and started, so the disk is not idle while the event loop is busy with the network (with
 * one write at a time a miss's store fell behind its live clients and overflowed its write lag). Four,
 * as many as libuv's default thread pool has threads: paired 512 MiB cold pulls on this 2-core machine
 * (README, Performance) ran 3.5-3.9 CPU s/GiB and 329-349 MiB/s with four, against 3.1-5.7 s/GiB and
 * 241-370 MiB/s with two, whose store fell behind into lag waits in most pulls.
 */
const WRITES_IN_FLIGHT = 4;
/**
 * The most chunk bytes a FileObjectWriter holds before its caller's write callback waits: its stream
 * buffer, the batch being gathered and WRITES_IN_FLIGHT batches being written. A caller that gives its
 * chunks' memory back once written (the upstream reader's slabs) has at most this much of it out.
 */
export const FILE_WRITER_HELD_BYTES = STREAM_HIGH_WATER_MARK + GATHER_BYTES * (1 + WRITES_IN_FLIGHT);

/** Errors on which a hard link cannot be used and commit falls back to rename. */
const NO_LINK = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK', 'ENOSYS']);

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/**
 * An ObjectWriter over a temporary file. Chunks are gathered and written a MiB at a time with one
 * vectored write at its own offset, up to WRITES_IN_FLIGHT at once; `_final` waits for them, writes the rest, fsyncs and closes, so a finished stream is a durable
 * temporary file. `commit` links it into place without ever replacing an existing target.
 */
export class FileObjectWriter extends GatheringWriter {
  private handle: FileHandle | undefined;
  /** File offset of the next batch. */
  private position = 0;
  private inFlight = 0;
  /** The caller's write callback, held while WRITES_IN_FLIGHT batches are being written. */
  private held: ((error?: Error | null) => void) | undefined;
  /** The first failed batch's error. */
  private failure: Error | undefined;
  private idle: Array<() => void> = [];
  /** File offsets of the batches being written (the file's contiguous part ends at the lowest). */
  private readonly writing = new Set<number>();
  /** Who waits for the contiguous part to reach a length (WrittenPrefix.whenWritten). */
  private prefixWaits: Array<{ bytes: number; resolve: (written: boolean) => void }> = [];
  /** Bytes from offset 0 that every write has completed. */
  private contiguous = 0;
  /** The temporary file's bytes from offset 0 that every write has completed, readable while writing goes on. */
  readonly writtenPrefix: WrittenPrefix;

  constructor(
    handle: FileHandle,
    private readonly tempPath: string,
    private readonly resolvePath: (path: string) => string,
    intendedPath?: string,
  ) {
    super(intendedPath);
    this.handle = handle;
    const writer = this;
    this.writtenPrefix = {
      get bytes() {
        return writer.contiguous;
      },
      whenWritten: (bytes) => this.whenWritten(bytes),
      open: () => this.openReader(),
    };
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.writesDone()
      .then(() => {
        this.startBatch();
        return this.writesDone();
      })
      .then(async () => {
        const handle = this.handle;
        this.handle = undefined;
        if (!handle) throw new Error('writer is closed');
        await handle.sync().finally(() => handle.close());
      })
      .then(
        () => {
          // Everything is written: nobody waits for more.
          this.prefixEnded();
          callback();
        },
        callback,
      );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const handle = this.handle;
    this.handle = undefined;
    this.prefixEnded();
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

  /** Start a batch once a MiB (or 256 chunks) is gathered; the caller writes on while fewer than WRITES_IN_FLIGHT are under way. */
  protected afterGather(callback: (error?: Error | null) => void): void {
    if (this.failure) return callback(this.failure);
    if (this.gatheredBytes < GATHER_BYTES && this.gatheredCount < GATHER_CHUNKS) return callback();
    this.startBatch();
    if (this.inFlight < WRITES_IN_FLIGHT) return callback();
    this.held = callback;
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

  /** Write the gathered chunks at the next offset (nothing when none is gathered). */
  private startBatch(): void {
    const { buffers, bytes } = this.takeGathered();
    if (buffers.length === 0) return;
    const at = this.position;
    this.position += bytes;
    this.inFlight++;
    this.writing.add(at);
    this.writeAll(buffers, at).then(
      () => {
        // The bytes are in the file: their memory is the caller's again. (Not after a failed write: the
        // writer fails, and whoever holds the chunks keeps them.)
        // A hook that throws (a holder's bug) fails the writer, and must not leave it waiting for this batch.
        this.batchDone(at, this.chunksDone(buffers));
      },
      (err: unknown) => this.batchDone(at, err as Error),
    );
  }

  private batchDone(at: number, err: Error | undefined): void {
    this.inFlight--;
    this.writing.delete(at);
    if (err) this.failure ??= err;
    this.prefixWritten();
    const held = this.held;
    this.held = undefined;
    if (held) held(this.failure);
    else if (err && !this.destroyed) this.destroy(err);
    if (this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  /** The contiguous part grew (a batch completed): wake who waits for what is in it now. */
  private prefixWritten(): void {
    if (this.failure) return this.prefixEnded();
    let lowest = this.position;
    for (const at of this.writing) lowest = Math.min(lowest, at);
    this.contiguous = lowest;
    const waits = this.prefixWaits;
    this.prefixWaits = waits.filter((w) => w.bytes > lowest);
    for (const w of waits) if (w.bytes <= lowest) w.resolve(true);
  }

  /** No more bytes will be written (finished, failed or dropped): those still waiting get false. */
  private prefixEnded(): void {
    for (const w of this.prefixWaits.splice(0)) w.resolve(!this.failure && w.bytes <= this.contiguous);
  }

  private whenWritten(bytes: number): Promise<boolean> {
    if (bytes <= this.contiguous) return Promise.resolve(true);
    if (this.failure || this.destroyed || this.writableFinished) return Promise.resolve(false);
    return new Promise((resolve) => this.prefixWaits.push({ bytes, resolve }));
  }

  private async openReader(): Promise<PrefixReader> {
    const handle = await fsp.open(this.tempPath, 'r');
    return {
      read: async (buffer, position) => (await handle.read(buffer, 0, buffer.length, position)).bytesRead,
      close: () => handle.close(),
    };
  }

  /** Resolves once no batch is being written; throws the first failure. */
  private async writesDone(): Promise<void> {
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    if (this.failure) throw this.failure;
  }

  private async writeAll(buffers: Buffer[], position: number): Promise<void> {
    const handle = this.handle;
    if (!handle) throw new Error('writer is closed');
    let pending = buffers;
    let at = position;
    while (pending.length > 0) {
      const total = pending.reduce((n, b) => n + b.length, 0);
      const { bytesWritten } = await handle.writev(pending, at);
      if (bytesWritten >= total) return;
      at += bytesWritten;
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
