import type { Readable, Writable } from 'node:stream';
import { FileReadStream } from '@pullthrough/storage';

class DestinationClosed extends Error {}

/**
 * A tap's rest from a stored file, sent to its direct destination in the store's pooled blocks
 * (FileReadStream.sendPieces: shared with other responses sending the same blob, at most two out at
 * once, each pooled again once the socket has its bytes) instead of a fresh buffer per read: the
 * clients that fell behind a herd's fetches all resume at once, and fresh buffers would all be
 * garbage waiting for a full GC. `write` hands one slice to the client (false: the tap closed) and
 * calls `sent`, when given, once the socket is done with it (a piece's parts are written in order, and
 * its last one's `sent` says the socket is done with all of them). False when the client went away or
 * the tap closed; rejects when the store's read fails.
 */
export async function sendStoredPieces(out: Writable, file: FileReadStream, write: (slice: Buffer, sent?: () => void) => Promise<boolean>): Promise<boolean> {
  let onClose!: () => void;
  const gone = new Promise<never>((_, reject) => (onClose = () => reject(new DestinationClosed())));
  gone.catch(() => undefined);
  out.once('close', onClose);
  try {
    return await file.sendPieces(async (parts) => {
      let sent!: () => void;
      const flushed = new Promise<void>((resolve) => (sent = resolve));
      for (let i = 0; i < parts.length; i++) {
        if (out.destroyed || !(await write(parts[i] as Buffer, i === parts.length - 1 ? sent : undefined))) return undefined;
      }
      if (parts.length === 0) sent();
      return { flushed };
    }, gone);
  } catch (err) {
    if (err instanceof DestinationClosed) return false;
    throw err;
  } finally {
    out.off('close', onClose);
  }
}

/**
 * A tap's rest from the stored blob (`stream`), sent to `out`: in the store's pooled pieces when `out` is a direct
 * destination and the store reads a file (sendStoredPieces), else chunk by chunk. False when the client went away or
 * the tap closed; rejects when the store's read fails.
 */
export async function sendStored(out: Writable, stream: Readable, direct: boolean, write: (slice: Buffer, sent?: () => void) => Promise<boolean>): Promise<boolean> {
  if (stream instanceof FileReadStream && direct) return sendStoredPieces(out, stream, write);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (out.destroyed || !(await write(chunk))) return false;
  }
  return true;
}
