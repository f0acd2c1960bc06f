import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { FailureCategory } from '@pullthrough/oci';
import type { CacheStatus, ClientBufferStats, CoalescedFetches, EnqueueStats, PeerStreamStats, PullObserver, ReadAheadStats, WriteLagStats } from '@pullthrough/pull-through';
import type { BreakerState, UpstreamStatus } from '@pullthrough/upstream';
import { httpMetrics, type HttpMetrics } from './http-metrics.js';

export interface MetricSources {
  /** Breaker state, totals and rate limits per upstream registry. */
  upstreams: () => UpstreamStatus[];
  /** Hydration enqueue outcomes (QueueHydrationEnqueuer.stats). */
  enqueue: () => EnqueueStats;
  /** Is the Redis connection up. */
  redisUp: () => boolean;
  /** Memory held for live clients of blob misses, and how many fell behind or stalled (BlobFetcher.clientBufferStats). */
  clientBuffers?: () => ClientBufferStats;
  /** Memory queued for the store's writes of blob misses, lag overflows and their completion GETs (BlobFetcher.writeLagStats). */
  writeLag?: () => WriteLagStats;
  /** Peer streams served to other replicas, followed from them, and failed (PULLTHROUGH_PEER_PORT; absent: off). */
  peerStreams?: () => PeerStreamStats;
  /** Every upstream answer by registry and bounded status label (UpstreamClientPool.answerCounts). */
  upstreamAnswers?: () => Array<{ upstream: string; status: string; count: number }>;
  /** Blob requests served from a fetch already running in this process instead of a new upstream request (BlobFetcher.coalesced). */
  coalesced?: () => CoalescedFetches;
  /** Layers fetched ahead of their client (BlobFetcher.readAheadStats). */
  readAhead?: () => ReadAheadStats;
  /**
   * The filesystem store's reads of stored blobs (absent with other storage): blocks sent to a client from another
   * response's read (`shared`), and blocks read into idle 64 KiB buffers of the process's pool (`inParts`).
   */
  storeReads?: () => { shared: number; inParts: number } | undefined;
  /** The upstream blob reader's slabs (UpstreamClientPool.blobReadSlabs; absent: PULLTHROUGH_UPSTREAM_POOLED_READS=false). */
  readSlabs?: () => { made: number; reused: number; free: number; held: number } | undefined;
}

export interface FrontendMetrics {
  registry: Registry;
  /** Feed for cache hits/misses and failures per rule (give it to the PullThroughRegistry). */
  observer: PullObserver;
  /** Request latency and served bytes (give it to createApp). */
  http: HttpMetrics;
}

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

/** A counter mirrored from a cumulative total kept elsewhere: set at scrape time. */
function mirroredCounter(registry: Registry, name: string, help: string, labelNames: string[], read: (set: (labels: Record<string, string>, value: number) => void) => void) {
  return new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      read((labels, value) => this.inc(labels, value));
    },
  });
}

/** Prometheus metrics of one frontend process (`GET /metrics` on the admin port). */
export function createFrontendMetrics(sources: MetricSources): FrontendMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pullthrough_' });

  new Gauge({
    name: 'pullthrough_upstream_breaker_state',
    help: 'Circuit breaker state per upstream registry: 0 closed, 1 half-open, 2 open',
    labelNames: ['upstream'],
    registers: [registry],
    collect() {
      this.reset();
      for (const u of sources.upstreams()) this.set({ upstream: u.upstream }, STATE_VALUE[u.state]);
    },
  });
  new Gauge({
    name: 'pullthrough_upstream_breaker_open_seconds',
    help: 'Seconds until an open breaker lets a probe through (0 when not open)',
    labelNames: ['upstream'],
    registers: [registry],
    collect() {
      this.reset();
      for (const u of sources.upstreams()) this.set({ upstream: u.upstream }, u.retryAfterSeconds ?? 0);
    },
  });
  const totals = (key: 'requests' | 'failures' | 'rejects') => (set: (l: Record<string, string>, v: number) => void) => {
    for (const u of sources.upstreams()) set({ upstream: u.upstream }, u.totals[key]);
  };
  mirroredCounter(registry, 'pullthrough_upstream_requests_total', 'Upstream calls let through the breaker', ['upstream'], totals('requests'));
  mirroredCounter(registry, 'pullthrough_upstream_failures_total', 'Upstream calls that failed (5xx, 429, timeouts, resets, truncated bodies)', ['upstream'], totals('failures'));
  mirroredCounter(registry, 'pullthrough_upstream_rejects_total', 'Upstream calls refused because the breaker was open', ['upstream'], totals('rejects'));
  const rateLimit = (name: string, help: string, pick: (u: UpstreamStatus) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['upstream'],
      registers: [registry],
      collect() {
        this.reset();
        for (const u of sources.upstreams()) {
          const v = pick(u);
          if (v !== undefined) this.set({ upstream: u.upstream }, v);
        }
      },
    });
  rateLimit('pullthrough_upstream_ratelimit_limit', 'Requests per window the upstream allows (ratelimit-limit)', (u) => u.rateLimit.limit);
  rateLimit('pullthrough_upstream_ratelimit_remaining', 'Requests left in the upstream window (ratelimit-remaining)', (u) => u.rateLimit.remaining);

  mirroredCounter(registry, 'pullthrough_hydration_enqueue_total', 'Hydration enqueues by outcome (joined: the same job was being enqueued by this process already; skipped: Redis down or slow; the pull was unaffected)', ['outcome'], (set) => {
    const s = sources.enqueue();
    set({ outcome: 'enqueued' }, s.enqueued);
    set({ outcome: 'joined' }, s.joined);
    set({ outcome: 'skipped' }, s.failed);
  });
  new Gauge({
    name: 'pullthrough_hydration_enqueue_deferred',
    help: 'Skipped hydration jobs kept in memory, enqueued again when Redis returns',
    registers: [registry],
    collect() {
      this.set(sources.enqueue().deferred);
    },
  });
  new Gauge({
    name: 'pullthrough_redis_up',
    help: '1 while the Redis connection is ready, else 0',
    registers: [registry],
    collect() {
      this.set(sources.redisUp() ? 1 : 0);
    },
  });

  new Gauge({
    name: 'pullthrough_blob_client_buffered_bytes',
    help: 'Bytes of blob misses waiting in memory for their live clients (and kept first bytes of running fetches)',
    registers: [registry],
    collect() {
      this.set(sources.clientBuffers?.().bufferedBytes ?? 0);
    },
  });
  mirroredCounter(registry, 'pullthrough_blob_clients_fell_behind_total', 'Live clients of a blob miss that fell behind their buffer (served from the stored blob once committed)', [], (set) => set({}, sources.clientBuffers?.().fellBehind ?? 0));
  mirroredCounter(registry, 'pullthrough_blob_client_waits_total', 'Times a live client of a blob miss found its buffer full while no other live client had room, and the upstream read waited for it (it kept PULLTHROUGH_CLIENT_WAIT_MIN_SHARE of the pace) instead of letting it fall behind', [], (set) => set({}, sources.clientBuffers?.().waits ?? 0));
  mirroredCounter(registry, 'pullthrough_blob_clients_stalled_total', 'Live clients of a blob miss cut off for taking no bytes for the stall timeout', [], (set) => set({}, sources.clientBuffers?.().stalled ?? 0));
  new Gauge({
    name: 'pullthrough_blob_write_lag_bytes',
    help: "Bytes of blob misses waiting in memory for the store's writers",
    registers: [registry],
    collect() {
      this.set(sources.writeLag?.().queuedBytes ?? 0);
    },
  });
  mirroredCounter(registry, 'pullthrough_blob_write_lag_waits_total', 'Times a blob miss found its write lag full and its upstream read waited for a store that kept PULLTHROUGH_WRITE_LAG_MIN_STORE_SHARE of its pace (instead of an overflow)', [], (set) => set({}, sources.writeLag?.().waits ?? 0));
  mirroredCounter(registry, 'pullthrough_blob_write_lag_overflows_total', "Blob misses whose store write fell further behind its live clients than PULLTHROUGH_WRITE_LAG_BYTES allows (or found the total used up) with a store slower than PULLTHROUGH_WRITE_LAG_MIN_STORE_SHARE of its pace, or that stalled while waited for: its rest is fetched again with a ranged GET", [], (set) => set({}, sources.writeLag?.().overflows ?? 0));
  mirroredCounter(registry, 'pullthrough_blob_write_completions_total', "GETs completing a store write after a lag overflow, by result: ranged (206), full (the upstream ignored Range: 200), failed", ['result'], (set) => {
    for (const [result, count] of Object.entries(sources.writeLag?.().completions ?? { ranged: 0, full: 0, failed: 0 })) set({ result }, count);
  });
  mirroredCounter(registry, 'pullthrough_blob_write_completion_bytes_total', 'Body bytes the completion GETs of store writes brought from the upstream', [], (set) => set({}, sources.writeLag?.().completionBytes ?? 0));

  mirroredCounter(registry, 'pullthrough_peer_streams_served_total', 'Running blob fetches streamed to another replica (this process led them)', [], (set) => set({}, sources.peerStreams?.().served ?? 0));
  mirroredCounter(registry, 'pullthrough_peer_streams_followed_total', "Blob fetches of another replica read live from its peer stream (this process's clients shared it)", [], (set) => set({}, sources.peerStreams?.().followed ?? 0));
  mirroredCounter(
    registry,
    'pullthrough_peer_streams_failed_total',
    'Peer streams not used or broken, by reason: not-allowed (outside PULLTHROUGH_PEER_ALLOWED_NETWORKS, never contacted), unreachable, refused (both before any byte: clients wait for the commit), broken (mid-body: its clients were cut)',
    ['reason'],
    (set) => {
      for (const [reason, n] of Object.entries(sources.peerStreams?.().failed ?? {})) set({ reason }, n);
    },
  );

  mirroredCounter(registry, 'pullthrough_upstream_responses_total', 'HTTP answers from upstream registries (every redirect hop and token realm), by status: 401, 403, 404, 429 or the class (2xx, 3xx, 4xx, 5xx); error: no answer (connect, reset, timeout)', ['upstream', 'status'], (set) => {
    for (const a of sources.upstreamAnswers?.() ?? []) set({ upstream: a.upstream, status: a.status }, a.count);
  });
  mirroredCounter(registry, 'pullthrough_blob_fetches_coalesced_total', 'Blob requests that shared a fetch already running in this process instead of asking the upstream: joined (waited for its commit) or tapped (read its bytes live)', ['how'], (set) => {
    const c = sources.coalesced?.() ?? { joined: 0, tapped: 0, readBack: 0 };
    set({ how: 'joined' }, c.joined);
    set({ how: 'tapped' }, c.tapped);
  });
  mirroredCounter(registry, 'pullthrough_blob_taps_read_back_total', "Of the tapped: clients that came after a fetch's kept first bytes and read them back from the store's written part while the fetch went on (then live)", [], (set) => {
    set({}, sources.coalesced?.().readBack ?? 0);
  });
  mirroredCounter(registry, 'pullthrough_storage_reads_shared_total', 'Blocks of stored blobs (filesystem storage) sent to a client from a read another response made and still held, instead of read again: clients sending the same blob in step share its reads', [], (set) => {
    set({}, sources.storeReads?.()?.shared ?? 0);
  });
  mirroredCounter(registry, 'pullthrough_storage_reads_in_slabs_total', 'Blocks of stored blobs (filesystem storage) read into idle 64 KiB buffers of the process pool (mostly upstream read slabs a fetch left idle) instead of new memory', [], (set) => {
    set({}, sources.storeReads?.()?.inParts ?? 0);
  });
  mirroredCounter(registry, 'pullthrough_upstream_read_slabs_total', 'Upstream blob body reads into pooled 64 KiB slabs: made (a new slab) or reused (a slab given back by every holder)', ['outcome'], (set) => {
    const slabs = sources.readSlabs?.();
    set({ outcome: 'made' }, slabs?.made ?? 0);
    set({ outcome: 'reused' }, slabs?.reused ?? 0);
  });
  new Gauge({
    name: 'pullthrough_upstream_read_slabs_free',
    help: 'Free read slabs kept for the next upstream blob reads',
    registers: [registry],
    collect() {
      this.set(sources.readSlabs?.()?.free ?? 0);
    },
  });
  new Gauge({
    name: 'pullthrough_upstream_read_slabs_held',
    help: 'Upstream read slabs out of the pool: being read into, held by a writer or a client, or never given back and not yet garbage collected',
    registers: [registry],
    collect() {
      this.set(sources.readSlabs?.()?.held ?? 0);
    },
  });
  mirroredCounter(registry, 'pullthrough_blob_read_ahead_total', 'Layer fetches started ahead of their client (PULLTHROUGH_BLOB_READ_AHEAD_LAYERS): started, and unasked (no client asked within the hold: it went on for the store alone)', ['outcome'], (set) => {
    const r = sources.readAhead?.() ?? { started: 0, unasked: 0 };
    set({ outcome: 'started' }, r.started);
    set({ outcome: 'unasked' }, r.unasked);
  });

  const served = new Counter({
    name: 'pullthrough_cache_requests_total',
    help: 'Manifests and blobs served per rule, by where they came from (hit, miss, revalidated, stale)',
    labelNames: ['rule', 'cache'],
    registers: [registry],
  });
  const failed = new Counter({
    name: 'pullthrough_cache_failures_total',
    help: 'Cache failures per rule by category (stale answers included: the upstream failure behind them)',
    labelNames: ['rule', 'category'],
    registers: [registry],
  });
  const mismatches = new Counter({
    name: 'pullthrough_digest_mismatches_total',
    help: 'Upstream content whose digest did not match (discarded, never stored)',
    labelNames: ['rule'],
    registers: [registry],
  });

  const answers = new Counter({
    name: 'pullthrough_rule_upstream_answers_total',
    help: "Upstream answers per rule and registry: the rule's source registry (fallback=false) or a fallback registry standing in for it (fallback=true)",
    labelNames: ['rule', 'upstream', 'fallback'],
    registers: [registry],
  });

  const observer: PullObserver = {
    upstreamAnswered(rule: string, upstream: string, fallback: boolean) {
      answers.inc({ rule, upstream, fallback: String(fallback) });
    },
    served(rule: string, cache: CacheStatus) {
      served.inc({ rule, cache });
    },
    failed(rule: string, category: FailureCategory) {
      failed.inc({ rule, category });
      if (category === 'digest-mismatch') mismatches.inc({ rule });
    },
  };
  return { registry, observer, http: httpMetrics(registry) };
}
