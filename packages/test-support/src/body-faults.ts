import type { IncomingMessage, ServerResponse } from 'node:http';

/** Faults applied to a forwarded response's body (the status and headers pass unchanged). */
export type BodyFault =
  /** Send `afterBytes` of the body (default: half the Content-Length), then reset the connection. */
  | { kind: 'reset'; afterBytes?: number }
  /** Send `afterBytes` of the body (default: half), then close the connection cleanly: fewer bytes than Content-Length. */
  | { kind: 'truncate'; afterBytes?: number }
  /** Forward the body `bytesPerTick` bytes (default 1) every `tickMs` (default 200): a slow upstream. */
  | { kind: 'trickle'; bytesPerTick?: number; tickMs?: number }
  /** Flip one byte (XOR 0xff) at `atByte` (default: the middle of the body). */
  | { kind: 'corrupt'; atByte?: number }
  /**
   * Send the first `atByte` bytes, then hold the rest until `until` settles: proves what a client gets
   * before the body is complete. `thenReset`: reset the connection then instead of sending the rest.
   */
  | { kind: 'hold'; atByte: number; until: Promise<unknown>; thenReset?: boolean };

/** Wait for 'drain' (or 'close'), leaving no listener behind. */
function roomIn(to: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      to.off('drain', done);
      to.off('close', done);
      resolve();
    };
    to.on('drain', done);
    to.on('close', done);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pipe `from` to `to`, applying `fault`. Resolves when done (or when either side went away). */
export async function forwardWithFault(from: IncomingMessage, to: ServerResponse, fault: BodyFault): Promise<void> {
  const declared = Number(from.headers['content-length']);
  const half = Number.isFinite(declared) ? Math.floor(declared / 2) : 1;
  let sent = 0;
  let held = false;
  const gone = () => to.destroyed || to.socket === null || to.socket.destroyed;
  try {
    for await (const raw of from) {
      let chunk = raw as Buffer;
      if (gone()) break;
      switch (fault.kind) {
        case 'reset':
        case 'truncate': {
          const limit = fault.afterBytes ?? half;
          if (sent + chunk.length >= limit) {
            const part = chunk.subarray(0, Math.max(0, limit - sent));
            await new Promise<void>((resolve) => (part.length ? to.write(part, () => resolve()) : resolve()));
            from.destroy();
            if (fault.kind === 'reset') to.socket?.resetAndDestroy();
            else to.socket?.end();
            return;
          }
          break;
        }
        case 'corrupt': {
          const at = fault.atByte ?? half;
          if (at >= sent && at < sent + chunk.length) {
            chunk = Buffer.from(chunk);
            chunk[at - sent] = chunk[at - sent]! ^ 0xff;
          }
          break;
        }
        case 'hold': {
          if (!held && sent + chunk.length > fault.atByte) {
            const part = chunk.subarray(0, fault.atByte - sent);
            if (part.length && !to.write(part)) await roomIn(to);
            sent += part.length;
            chunk = chunk.subarray(part.length);
            held = true;
            await fault.until.catch(() => undefined);
            if (fault.thenReset) {
              from.destroy();
              to.socket?.resetAndDestroy();
              return;
            }
          }
          break;
        }
        case 'trickle': {
          const step = Math.max(1, fault.bytesPerTick ?? 1);
          for (let i = 0; i < chunk.length && !gone(); i += step) {
            to.write(chunk.subarray(i, i + step));
            await sleep(fault.tickMs ?? 200);
          }
          sent += chunk.length;
          continue;
        }
      }
      sent += chunk.length;
      if (!to.write(chunk)) await roomIn(to);
    }
    if (!gone()) to.end();
  } catch {
    to.destroy();
  }
}
