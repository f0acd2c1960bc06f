import type { ProxiedRequest } from './counting-proxy.js';
import type { TimedPull } from './timed-pull.js';

export interface ClientTiming {
  client: number;
  sentAt: number;
  firstByteAt: number;
  /** Time to first byte: first byte minus request sent, ms. */
  ttfbMs: number;
}

/** One blob of a herd: its upstream GET (the leader's fetch) and every client's first byte. */
export interface BlobTimings {
  digest: string;
  upstreamReceivedAt: number;
  upstreamFirstByteAt: number;
  upstreamEndedAt: number;
  /** The upstream body's duration (first to last byte), ms. */
  upstreamMs: number;
  /** The client whose first byte came first: the one whose request the fetch serves as it arrives. */
  leader: ClientTiming;
  followers: ClientTiming[];
  summary: string;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Per blob: the single upstream GET's times, the leader's and the followers' times to first byte. */
export function herdTimings(pulls: TimedPull[], upstreamGets: ProxiedRequest[]): BlobTimings[] {
  const digests = pulls[0]!.blobs.map((b) => b.digest);
  return digests.map((digest) => {
    const get = upstreamGets.find((r) => r.reference === digest);
    if (get?.firstByteAt === undefined || get.endedAt === undefined) throw new Error(`no complete upstream GET recorded for ${digest}`);
    const { firstByteAt: upstreamFirstByteAt, endedAt: upstreamEndedAt } = get;
    const clients = pulls
      .map((p, client) => ({ client, blob: p.blobs.find((b) => b.digest === digest)! }))
      .map(({ client, blob }) => ({ client, sentAt: blob.sentAt, firstByteAt: blob.firstByteAt ?? blob.endedAt, ttfbMs: (blob.firstByteAt ?? blob.endedAt) - blob.sentAt }))
      .sort((a, b) => a.firstByteAt - b.firstByteAt);
    const [leader, ...followers] = clients;
    const ttfbs = followers.map((c) => c.ttfbMs).sort((a, b) => a - b);
    const upstreamMs = upstreamEndedAt - upstreamFirstByteAt;
    const afterEnd = followers.filter((c) => c.firstByteAt > upstreamEndedAt).length;
    return {
      digest,
      upstreamReceivedAt: get.receivedAt,
      upstreamFirstByteAt,
      upstreamEndedAt,
      upstreamMs,
      leader: leader!,
      followers,
      summary:
        `${digest.slice(0, 19)} ${get.bytes} B: upstream body ${upstreamMs} ms; leader TTFB ${leader!.ttfbMs} ms; ` +
        `followers TTFB p50 ${pct(ttfbs, 50)} ms, p95 ${pct(ttfbs, 95)} ms, max ${ttfbs.at(-1)} ms; ` +
        `${afterEnd}/${followers.length} followers' first byte after the upstream body ended`,
    };
  });
}
