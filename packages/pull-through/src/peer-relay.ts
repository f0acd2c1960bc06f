import { createDigester, digestAlgorithm, DigestMismatchError, type Digest } from '@pullthrough/oci';
import type { Flight } from './blob-flight.js';
import { DEFAULT_CLIENT_WAIT_MIN_SHARE } from './client-buffers.js';
import { ClientWaits } from './client-waits.js';
import type { PeerStream } from './peer-stream-client.js';
import { ReceivePace } from './receive-pace.js';

/**
 * Feed a flight from a leader's peer stream, as its upstream body would: every chunk is hashed, kept
 * in the flight's prefix (for local clients that come later) and offered to each tap; the stream's
 * read waits for a full client only as ClientWaits decides (the only live client, or every one full,
 * and it kept `minClientShare` of the stream's pace), else the client falls behind. The leader's tap
 * for this stream then fills in turn, and waits or falls behind by the same rules there. Nothing is
 * written to storage (the leader commits). The taps get their last slice only once every
 * byte is in and the digest matches. A stream that breaks, brings too few or too many bytes, or
 * another digest throws, and every tap that is not done is cut: its client sees a broken response.
 */
export async function relayPeerStream(flight: Flight, stream: PeerStream, digest: Digest, minClientShare = DEFAULT_CLIENT_WAIT_MIN_SHARE): Promise<void> {
  const hash = createDigester(digestAlgorithm(digest));
  const pace = new ReceivePace();
  const clients = new ClientWaits(pace, minClientShare);
  let received = 0;
  try {
    for await (const chunk of stream.body as AsyncIterable<Buffer>) {
      if (received + chunk.length > stream.size) throw new Error(`peer stream: more bytes than the blob's ${stream.size}`);
      hash.update(chunk);
      received += chunk.length;
      const offset = flight.position;
      flight.position += chunk.length;
      flight.prefix.add(chunk);
      pace.add(chunk.length);
      const waitFor = clients.offer(flight.taps, chunk, offset);
      if (waitFor.length > 0) await clients.room(waitFor);
    }
    if (received !== stream.size) throw new Error(`peer stream: ended after ${received} of ${stream.size} bytes`);
    const actual = `${digestAlgorithm(digest)}:${hash.digest('hex')}`;
    if (actual !== digest) throw new DigestMismatchError('peer stream: the bytes do not match the digest', { detail: { digest, actual } });
  } catch (err) {
    stream.body.destroy();
    stop(flight);
    for (const tap of flight.taps) tap.fail(err as Error);
    throw err;
  }
  stop(flight);
  for (const tap of flight.taps) tap.complete();
}

function stop(flight: Flight): void {
  flight.streaming = false;
  flight.prefix.drop();
}
