import { EgressPolicy, PooledHttpClient } from '@pullthrough/egress';
import type { Agent } from 'undici';
import { createBlobReader, createUpstreamAgent } from './upstream-agent.js';
import type { CredentialsProvider } from './upstream-answer.js';
import type { SharedBreakerBoard } from './shared-breaker-board.js';
import { UpstreamBreaker, type UpstreamBreakerOptions, type UpstreamBreakerStats } from './upstream-breaker.js';
import { UpstreamClient, type UpstreamClientOptions } from './upstream-client.js';
import { UpstreamRateLimit, type RateLimitSnapshot } from './upstream-rate-limit.js';
import { UpstreamAnswerTally } from './upstream-answer-tally.js';

/** One upstream registry's health, as the admin API and metrics show it. */
export interface UpstreamStatus extends UpstreamBreakerStats {
  rateLimit: RateLimitSnapshot;
}

export interface UpstreamClientPoolOptions {
  /** host[:port] entries the operator allows over plain http. */
  insecureRegistries?: readonly string[];
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
  userAgent?: string;
  maxManifestBytes?: number;
  breaker?: UpstreamBreakerOptions;
  /** Every connection (registry, token realm, redirect hop) is checked against it. Default: no exceptions. */
  egress?: EgressPolicy;
  /**
   * Read blob bodies with PooledHttpClient (into reused slabs, through the same egress policy and
   * timeouts) instead of undici. Default true.
   */
  pooledBlobReads?: boolean;
}

export interface UpstreamClientRequest {
  insecure: boolean;
  /** Names the credential set (never the secret); clients are cached per (registry, credentialsKey). */
  credentialsKey?: string;
  /** Used when the client for this key is first created; later calls reuse that client. */
  credentials?: CredentialsProvider;
  /** With `credentials`: called when the upstream refuses them (see UpstreamClientOptions). */
  onCredentialsRejected?: () => void;
  /** With `credentialsKey`: Entra ID token for ACR's token exchange (see UpstreamClientOptions). */
  identityToken?: UpstreamClientOptions['identityToken'];
}

/**
 * Clients per (registry, credentials key), sharing ONE breaker and one set of connection pools
 * per upstream registry host, so every credential set sees (and feeds) the same health.
 */
export class UpstreamClientPool {
  private readonly insecure: ReadonlySet<string>;
  private readonly clients = new Map<string, UpstreamClient>();
  private readonly breakers = new Map<string, UpstreamBreaker>();
  private readonly agents = new Map<string, Agent>();
  private readonly rateLimits = new Map<string, UpstreamRateLimit>();
  private readonly answers = new Map<string, UpstreamAnswerTally>();
  private board: SharedBreakerBoard | undefined;
  /** The policy every connection of this pool is checked against (login checks use it too). */
  readonly egress: EgressPolicy;
  /** Blob bodies of every registry (one slab pool for the process's upstream reads). */
  private readonly blobReader: PooledHttpClient | undefined;

  constructor(private readonly options: UpstreamClientPoolOptions = {}) {
    this.egress = options.egress ?? new EgressPolicy();
    if (options.pooledBlobReads !== false) this.blobReader = createBlobReader(this.egress, options);
    this.insecure = new Set((options.insecureRegistries ?? []).map((r) => r.toLowerCase()));
  }

  isInsecure(registry: string): boolean {
    return this.insecure.has(registry.toLowerCase());
  }

  get(registry: string, request: UpstreamClientRequest): UpstreamClient {
    if (request.credentials !== undefined && request.credentialsKey === undefined) {
      throw new TypeError('credentials need a credentialsKey, or clients with different credentials would be shared');
    }
    const key = JSON.stringify([registry, request.insecure, request.credentialsKey ?? null]);
    let client = this.clients.get(key);
    if (client === undefined) {
      client = new UpstreamClient({
        registry,
        insecure: request.insecure,
        credentials: request.credentials,
        onCredentialsRejected: request.onCredentialsRejected,
        identityToken: request.identityToken,
        connectTimeoutMs: this.options.connectTimeoutMs,
        idleTimeoutMs: this.options.idleTimeoutMs,
        userAgent: this.options.userAgent,
        maxManifestBytes: this.options.maxManifestBytes,
        breaker: this.breakerFor(registry),
        rateLimit: this.rateLimitFor(registry),
        answers: this.answersFor(registry),
        dispatcher: this.agentFor(registry),
        ...(this.blobReader ? { blobReader: this.blobReader } : {}),
      });
      this.clients.set(key, client);
    }
    return client;
  }

  /** The breaker of one upstream registry host (health for rule status, whatever the credentials). */
  breakerFor(registry: string): UpstreamBreaker {
    let breaker = this.breakers.get(registry);
    if (breaker === undefined) {
      breaker = new UpstreamBreaker(registry, this.options.breaker);
      if (this.board !== undefined) breaker.shareThrough(this.board);
      this.breakers.set(registry, breaker);
    }
    return breaker;
  }

  /** Share every breaker's opens and holds, and the rate-limit views, with the other replicas through `board` (call once, at start). */
  shareBreakersThrough(board: SharedBreakerBoard): void {
    this.board = board;
    for (const breaker of this.breakers.values()) breaker.shareThrough(board);
    for (const [registry, rateLimit] of this.rateLimits) rateLimit.shareThrough(registry, board);
    board.onClosed((upstream) => this.breakers.get(upstream)?.closeFromBoard());
  }

  /** The rate-limit state of one upstream registry host. */
  rateLimitFor(registry: string): UpstreamRateLimit {
    let rateLimit = this.rateLimits.get(registry);
    if (rateLimit === undefined) {
      rateLimit = new UpstreamRateLimit();
      if (this.board !== undefined) rateLimit.shareThrough(registry, this.board);
      this.rateLimits.set(registry, rateLimit);
    }
    return rateLimit;
  }

  private answersFor(registry: string): UpstreamAnswerTally {
    let tally = this.answers.get(registry);
    if (tally === undefined) this.answers.set(registry, (tally = new UpstreamAnswerTally()));
    return tally;
  }

  /** Answers of every upstream registry so far by bounded status label (`200`... as `2xx`, `404`, `error`), for the metrics. */
  answerCounts(): Array<{ upstream: string; status: string; count: number }> {
    return [...this.answers].flatMap(([upstream, tally]) => [...tally.snapshot()].map(([status, count]) => ({ upstream, status, count })));
  }

  /** Every upstream registry contacted so far: breaker state and statistics, rate-limit headroom. */
  status(): UpstreamStatus[] {
    // Upstreams held by another replica show here too, even before this one has called them.
    for (const upstream of this.board?.upstreams() ?? []) this.breakerFor(upstream);
    return [...this.breakers.values()]
      .map((breaker) => ({ ...breaker.stats(), rateLimit: this.rateLimitFor(breaker.upstream).current() }))
      .sort((a, b) => a.upstream.localeCompare(b.upstream));
  }

  /**
   * The blob reader's slabs: made since the start, reads that reused one, free ones kept, and those out of the
   * pool now (SlabPool.held: also any never given back) (undefined without pooled reads).
   */
  blobReadSlabs(): { made: number; reused: number; free: number; held: number } | undefined {
    const pool = this.blobReader?.pool;
    return pool ? { made: pool.made, reused: pool.reused, free: pool.freeSlabs, held: pool.held } : undefined;
  }

  /** Close every connection pool and stop the breakers; the pool is empty afterwards. */
  async close(): Promise<void> {
    const agents = [...this.agents.values()];
    for (const breaker of this.breakers.values()) breaker.shutdown();
    this.clients.clear();
    this.breakers.clear();
    this.rateLimits.clear();
    this.agents.clear();
    await Promise.all([...agents.map((agent) => agent.close()), this.blobReader?.close()]);
  }

  private agentFor(registry: string): Agent {
    let agent = this.agents.get(registry);
    if (agent === undefined) {
      agent = createUpstreamAgent({ ...this.options, egress: this.egress });
      this.agents.set(registry, agent);
    }
    return agent;
  }
}
