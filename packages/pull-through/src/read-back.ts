import type { Writable } from 'node:stream';
import type { PrefixReader, WrittenPrefix } from '@pullthrough/storage';
import type { Flight } from './blob-flight.js';

/** Bytes a late tap reads back from the store's temporary object at a time, into one of its two buffers. */
const READ_BACK_BYTES = 128 * 1024;

/** A late tap's first bytes, `from`..`until - 1`, read back from what the store has written (LiveTap.fillFirst). */
export interface ReadBack {
  reader: PrefixReader;
  written: WrittenPrefix;
  from: number;
  until: number;
}

/** What sendReadBack needs of its tap. */
export interface ReadBackSink {
  closed(): boolean;
  /** Hand a slice to the client (`sent` once its socket has it); false when the tap closed. */
  write(slice: Buffer, sent: () => void): Promise<boolean>;
  close(err?: Error): void;
}

/**
 * For a client that came after the fetch went past its kept first bytes: a reader of the store's
 * temporary object, where the store's written part can be read while the fetch goes on (the
 * filesystem); else undefined (the caller waits for the commit). Check `readBackFrom` after it, in the
 * tick the tap joins.
 */
export async function openWritten(running: Flight, size: number | undefined): Promise<{ reader: PrefixReader; written: WrittenPrefix } | undefined> {
  const written = running.written;
  if (!written || size === undefined) return undefined;
  const reader = await written.open().catch(() => undefined);
  return reader && { reader, written };
}

/**
 * The fetch's position, from which a tap opened with `openWritten` takes the live bytes (those before it
 * are read back), while the fetch still writes there and bytes of the range (`end` inclusive) are still
 * to come: the last byte of a blob is sent once its digest is checked. Undefined: no read-back (close
 * the reader). Must run in the same tick as the tap joins the flight: no byte may arrive in between.
 */
export function readBackFrom(running: Flight, written: WrittenPrefix, end: number): number | undefined {
  const until = running.position;
  return running.streaming && !running.followed && running.written === written && until <= end ? until : undefined;
}

/**
 * Send the bytes read back from the store's temporary object (each once written there) to `out`;
 * false when the tap closed meanwhile. With `reuse`, two buffers of its own, each read into again once
 * the socket is done with what it sent from it (a herd's late clients read back many MiB: fresh buffers
 * for each would all be garbage waiting for a full GC); else a fresh buffer per read. Closes the reader.
 */
export async function sendReadBack(out: Writable, reuse: boolean, readBack: ReadBack, sink: ReadBackSink): Promise<boolean> {
  const buffers: Array<Buffer | undefined> = [undefined, undefined];
  const sent: Array<Promise<void> | undefined> = [undefined, undefined];
  // A write's callback may never come once the client is gone.
  let onClose!: () => void;
  const closed = new Promise<void>((resolve) => (onClose = resolve));
  out.once('close', onClose);
  const gone = () => {
    if (out.destroyed) sink.close();
    return sink.closed() || out.destroyed;
  };
  try {
    for (let at = readBack.from, i = 0; at < readBack.until; i ^= 1) {
      if (gone()) return false;
      const bytes = Math.min(READ_BACK_BYTES, readBack.until - at);
      if (!(await readBack.written.whenWritten(at + bytes))) throw new Error('the store stopped writing the blob before its first bytes were read back');
      // This buffer's previous bytes have left for the socket.
      await Promise.race([sent[i], closed]);
      if (gone()) return false;
      const buffer = reuse ? (buffers[i] ??= Buffer.allocUnsafeSlow(READ_BACK_BYTES)) : Buffer.allocUnsafe(bytes);
      const read = await readBack.reader.read(buffer.subarray(0, bytes), at);
      if (read <= 0) throw new Error('the stored part of the blob ended early');
      at += read;
      let done!: () => void;
      sent[i] = new Promise<void>((resolve) => (done = resolve));
      if (!(await sink.write(buffer.subarray(0, read), done))) return false;
    }
    return true;
  } catch (err) {
    sink.close(err as Error);
    return false;
  } finally {
    out.off('close', onClose);
    await readBack.reader.close().catch(() => undefined);
  }
}
