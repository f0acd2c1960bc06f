import { createDigester, digestAlgorithm, DigestMismatchError, type Digest } from '@pullthrough/oci';
import type { Flight } from './blob-flight.js';
import type { PeerStream } from './peer-stream-client.js';

/**
 * Feed a flight from a leader's peer stream, as its upstream body would: every chunk is hashed, kept
 * in the flight's prefix (for local clients that come later) and offered to each tap, never awaited;
 * nothing is written to storage (the leader commits). The taps get their last slice only once every
 * byte is in and the digest matches. A stream that breaks, brings too few or too many bytes, or
 * another digest throws, and every tap that is not done is cut: its client sees a broken response.
 */
export async function relayPeerStream(flight: Flight, stream: PeerStream, digest: Digest): Promise<void> {
  const hash = createDigester(digestAlgorithm(digest));
  let received = 0;
  try {
    for await (const chunk of stream.body as AsyncIterable<Buffer>) {
      if (received + chunk.length > stream.size) throw new Error(`peer stream: more bytes than the blob's ${stream.size}`);
      hash.update(chunk);
      received += chunk.length;
      const offset = flight.position;
      flight.position += chunk.length;
      flight.prefix.add(chunk);
      for (const tap of flight.taps) tap.offer(chunk, offset);
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
