import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { ClientBuffers } from './client-buffers.js';
import { ClientWaits } from './client-waits.js';
import { LiveTap } from './live-tap.js';
import { ReceivePace } from './receive-pace.js';

const KiB = 1024;
const CHUNK = 16 * KiB;
const blob = randomBytes(512 * KiB);

/** A tap on the whole blob whose client reads nothing. */
function stoppedTap(buffers: ClientBuffers): LiveTap {
  const sink = new PassThrough({ highWaterMark: 16 * KiB });
  sink.on('error', () => undefined);
  const tap = new LiveTap(0, blob.length - 1, true, buffers, 0);
  tap.sendTo(sink).catch((err: Error) => sink.destroy(err));
  return tap;
}

/** Offer the blob chunk by chunk to `tap` alone, as the read loop does, waiting whenever ClientWaits says so. */
async function feed(waits: ClientWaits, tap: LiveTap): Promise<void> {
  for (let offset = 0; offset < blob.length; offset += CHUNK) {
    const waitFor = waits.offer([tap], blob.subarray(offset, offset + CHUNK), offset);
    if (waitFor.length > 0) await waits.room(waitFor);
  }
}

describe('ClientWaits', () => {
  it("bounds the read's waits for clients over one fetch: once they add up to the limit, a full client falls behind at once", async () => {
    const buffers = new ClientBuffers({ perClientBytes: 64 * KiB, totalBytes: 4096 * KiB, waitStallMs: 100 });
    const waits = new ClientWaits(new ReceivePace(), 0.5, 150);
    // Each client stops reading: waited for until the 100 ms stall, then it falls behind.
    const first = stoppedTap(buffers);
    await feed(waits, first);
    expect(buffers.stats).toMatchObject({ waits: 1, fellBehind: 1 });
    const second = stoppedTap(buffers);
    await feed(waits, second);
    expect(buffers.stats).toMatchObject({ waits: 2, fellBehind: 2 });
    // 200 ms waited in all, past the 150 ms limit: the third is not waited for.
    const third = stoppedTap(buffers);
    const started = Date.now();
    await feed(waits, third);
    expect(Date.now() - started).toBeLessThan(100);
    expect(buffers.stats).toMatchObject({ waits: 2, fellBehind: 3 });
  });

  it('a minimum share of 1 never waits', async () => {
    const buffers = new ClientBuffers({ perClientBytes: 64 * KiB, totalBytes: 4096 * KiB, waitStallMs: 100 });
    const waits = new ClientWaits(new ReceivePace(), 1);
    await feed(waits, stoppedTap(buffers));
    expect(buffers.stats).toMatchObject({ waits: 0, fellBehind: 1 });
  });
});
