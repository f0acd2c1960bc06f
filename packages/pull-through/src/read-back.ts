import type { Writable } from 'node:stream';
import type { PrefixReader, WrittenPrefix } from '@pullthrough/storage';
import type { Flight } from './blob-flight.js';

/** Bytes a late tap reads back from the store's temporary object at a time, into one of its two buffers. */
const READ_BACK_BYTES = 128 * 1024;

/** A late tap's bytes `from` on, read back from what the store has written (LiveTap.chase). */
export interface ReadBack {
  reader: PrefixReader;
  written: WrittenPrefix;
  from: number;
  /** The range's last byte (inclusive). */
  end: number;
  /** The fetch's position while it still receives (and writes to `written`); else undefined. */
  position(): number | undefined;
  /** Within this many bytes of the position, the tap takes the live bytes from there on. */
  joinWithin: number;
  /** Where the store's writer stopped being fed, if it did: what it has from there on comes from a later GET, unchecked until the commit. */
  storeLeftAt(): number | undefined;
}

/** What sendReadBack needs of its tap. */
export interface ReadBackSink {
  closed(): boolean;
  /** Hand a slice to the client (`sent` once its socket has it); false when the tap closed. */
  write(slice: Buffer, sent: () => void): Promise<boolean>;
  close(err?: Error): void;
  /** Take the live bytes from `at` on (same tick as the position was read). */
  join(at: number): void;
  /** No live bytes (any taken are dropped): the rest from `at` on comes from the stored blob once committed. */
  behind(at: number): void;
}

/**
 * A client after the kept first bytes reads back only while at least this many client buffers of the
 * blob are still to come. Below that its wait for the commit is short, and it is cheaper for memory:
 * in the bench's herd (8 MiB layers, 20 clients) reading back made the frontend's peak RSS 142 MiB
 * (median of 9 rounds) against 119 waiting for the commits (the reads came at the fetches' peak instead
 * of after it), the herd no faster and 12 % more CPU.
 */
export const READ_BACK_MIN_REMAINING_BUFFERS = 4;

/**
 * For a client that came after the fetch went past its kept first bytes: a reader of the store's
 * temporary object, where the store's written part can be read while the fetch goes on (the
 * filesystem) and at least `minRemaining` bytes of the blob are still to come; else undefined (the
 * caller waits for the commit).
 */
export async function openWritten(running: Flight, size: number | undefined, minRemaining: number): Promise<{ reader: PrefixReader; written: WrittenPrefix } | undefined> {
  const written = running.written;
  if (!written || size === undefined || size - running.position < minRemaining || running.storeLeftAt !== undefined) return undefined;
  const reader = await written.open().catch(() => undefined);
  return reader && { reader, written };
}

/**
 * Send the bytes read back from the store's temporary object (each once written there) to `out`,
 * chasing the fetch's position: within `joinWithin` of it the tap joins the live bytes, and the read-back
 * ends where they start; a fetch that stops receiving first leaves the tap behind (the stored blob
 * continues it). The last byte of a blob is never read back: it comes live or stored, after the digest
 * check. False when the tap closed meanwhile. With `reuse`, two buffers of its own, each read into again
 * once the socket is done with what it sent from it (a herd's late clients read back many MiB: fresh
 * buffers would all be garbage waiting for a full GC); else a fresh buffer per read. Closes the reader.
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
  let until: number | undefined;
  try {
    for (let at = readBack.from, i = 0; ; i ^= 1) {
      if (gone()) return false;
      let to = until;
      if (to === undefined) {
        const position = readBack.position();
        if (position === undefined || position > readBack.end) {
          sink.behind(at);
          return true;
        }
        if (position - at <= readBack.joinWithin) {
          until = position;
          sink.join(position);
        }
        to = position;
      }
      if (at >= to) return true;
      let bytes = Math.min(READ_BACK_BYTES, to - at);
      if (!(await readBack.written.whenWritten(Math.min(at + bytes, readBack.storeLeftAt() ?? Infinity)))) throw new Error('the store stopped writing the blob before its bytes were read back');
      // Never past where the store was left behind (it may have overflowed meanwhile): from there, the stored blob.
      bytes = Math.min(bytes, (readBack.storeLeftAt() ?? Infinity) - at);
      if (bytes <= 0) {
        sink.behind(at);
        return true;
      }
      // This buffer's previous bytes have left for the socket.
      await Promise.race([sent[i], closed]);
      if (gone()) return false;
      const buffer = reuse ? (buffers[i] ??= Buffer.allocUnsafeSlow(READ_BACK_BYTES)) : Buffer.allocUnsafe(bytes);
      const read = await readBack.reader.read(buffer.subarray(0, bytes), at);
      if (read <= 0) throw new Error('the stored part of the blob ended early');
      if (gone()) return false;
      at += read;
      let done!: () => void;
      sent[i] = new Promise<void>((resolve) => (done = resolve));
      if (!(await sink.write(buffer.subarray(0, read), done))) return false;
    }
  } catch (err) {
    sink.close(err as Error);
    return false;
  } finally {
    out.off('close', onClose);
    await readBack.reader.close().catch(() => undefined);
  }
}
