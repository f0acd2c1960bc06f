import { randomUUID } from 'node:crypto';
import { redisSubscriber } from './redis-subscriber.js';
import { Redis } from 'ioredis';
import { blobFlightId } from './blob-flight-key.js';
import { silentLogger, type Logger } from './logger.js';
import { RedisScript, RENEW_IF_OWNED } from './redis-script.js';

/**
 * Who fetches a blob: this process (renew until `release`), another one, or nobody can say (Redis
 * down: fetch alone). A lease held by another process names that process's peer URL when it serves
 * its running fetches to the other replicas (PULLTHROUGH_PEER_PORT): its bytes can be read live there.
 * A lease this process leads says whether its last holder let it go after committing the blob, in the
 * last `leaseMs` (`afterCommit`: the blob may be stored now though it was not when the caller looked).
 * `release(digest)` after a commit announces it and leaves that mark; `release()` leaves nothing.
 */
export type BlobLeaseClaim = { kind: 'led'; afterCommit: boolean; release(committed?: string): void } | { kind: 'held'; peerUrl?: string } | { kind: 'alone' };

/**
 * One upstream fetch per blob flight key across processes. `acquire` never waits on Redis longer
 * than a few tens of ms; `waitForCommit` resolves on a "committed" notification for the digest or
 * after `ms`, whichever comes first (the caller then looks at the store and the lease again).
 */
export interface BlobLeases {
  acquire(flightKey: string): Promise<BlobLeaseClaim>;
  committed(digest: string): void;
  waitForCommit(digest: string, ms: number): Promise<void>;
  /** A client of another process waits for the fetch of this flight key: its leader should not hold it back (a read-ahead's stop). */
  wanted(flightKey: string): void;
  /** Called with the flight id (blobFlightId) of each fetch another process's client waits for. */
  onWanted(listener: (flightId: string) => void): void;
}

/** Every process for itself (no Redis): today's behaviour. */
export const noBlobLeases: BlobLeases = {
  acquire: async () => ({ kind: 'alone' }),
  committed: () => undefined,
  waitForCommit: (_digest, ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()),
  wanted: () => undefined,
  onWanted: () => undefined,
};

export interface RedisBlobLeasesOptions {
  url: string;
  /** Key prefix shared by every replica (the apps use their queue prefix). */
  prefix: string;
  logger?: Logger;
  /** How long a lease lives without renewal (a dead leader's lease is free after this). Default 15000. */
  leaseMs?: number;
  /** Renew the lease this often while the fetch runs. Default leaseMs / 3. */
  renewMs?: number;
  /** The longest the request path waits for Redis to answer a claim. Default DEFAULT_CLAIM_TIMEOUT_MS. */
  claimTimeoutMs?: number;
  /** Where the other replicas read this process's running fetches live (its peer listener); unset: they wait for its commits. */
  peerUrl?: string;
}

/**
 * How long a miss waits for Redis to answer its lease claim by default. Unanswered, the process fetches
 * alone: a second upstream GET of the blob when another replica fetches it too. 50 ms (the first default)
 * was missed on a loaded 2-core node (60 clients, 5 processes: claims answered after 85-99 ms, a second
 * GET for 4 of 5 blobs); a healthy Redis answers within a millisecond, so only a slow one costs the wait.
 */
export const DEFAULT_CLAIM_TIMEOUT_MS = 250;

/** What a lease holds for `leaseMs` once its holder committed the blob and let it go (no owner id has this form). */
const COMMITTED_MARK = '-committed';

// KEYS: lease. ARGV: our value, PX, the committed mark. Ours: {1}; ours, its last holder having committed:
// {2}; held by another: {0, its value}. One round trip on any Redis (SET NX GET needs Redis 7).
const CLAIM = new RedisScript(`local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[3] then return {0, v} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if v then return {2} end
return {1}`);
// KEYS: lease. ARGV: our value, the committed digest ('' for none), the mark, its PX, the commit channel.
// The commit is announced whoever holds the lease now; the lease is let go (or marked) only if it is ours.
const RELEASE = new RedisScript(`if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[5], ARGV[2]) end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1`);

/**
 * Blob fetch leases in Redis: `<prefix>:blob-lease:<sha256 of the flight key>` holds the owner's id
 * (followed by a space and its peer URL when it has one) with a PX expiry, renewed while the fetch
 * runs and released (compare-and-delete) when it ends; `<prefix>:blob-done` carries the digest of
 * every committed blob by pub/sub, and `<prefix>:blob-wanted` the flight id of every fetch a follower's
 * client waits for (its leader lets a read-ahead go on at once). A leader that committed releases, announces and marks in one script:
 * the lease then holds `-committed` for leaseMs, and the next claim takes it over saying so
 * (`afterCommit`); only such a claim needs to look at the store again before fetching. Its own connections, no offline queue: with Redis down (or slow)
 * every claim answers `alone` and each process fetches on its own, as without Redis.
 */
export class RedisBlobLeases implements BlobLeases {
  private readonly redis: Redis;
  private readonly subscriber: Redis;
  private readonly id = randomUUID();
  /** What our leases hold: the id, and the peer URL when there is one. Renew and release compare all of it. */
  private readonly value: string;
  private readonly channel: string;
  private readonly wantedChannel: string;
  private readonly wantedListeners: Array<(flightId: string) => void> = [];
  private subscribed = false;
  private readonly logger: Logger;
  private readonly leaseMs: number;
  private readonly renewMs: number;
  private readonly claimTimeoutMs: number;
  private readonly waiters = new Map<string, Set<() => void>>();
  private closed = false;

  constructor(private readonly options: RedisBlobLeasesOptions) {
    this.logger = options.logger ?? silentLogger;
    this.leaseMs = options.leaseMs ?? 15_000;
    this.renewMs = options.renewMs ?? Math.max(1, Math.floor(this.leaseMs / 3));
    this.claimTimeoutMs = options.claimTimeoutMs ?? DEFAULT_CLAIM_TIMEOUT_MS;
    this.channel = `${options.prefix}:blob-done`;
    this.wantedChannel = `${options.prefix}:blob-wanted`;
    if (options.peerUrl !== undefined && /\s/.test(options.peerUrl)) throw new TypeError('blob leases: the peer URL may not contain spaces');
    this.value = options.peerUrl ? `${this.id} ${options.peerUrl}` : this.id;
    const connection = { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 2_000, retryStrategy: (n: number) => Math.min(n * 200, 2_000) };
    // No auto-pipelining: ioredis defers such commands to setImmediate and runs one pipeline at a time,
    // which puts a claim behind the loop's other I/O and the previous round trip: the claim's 50 ms
    // budget is for Redis, not for that queue (the bench's herd3 saw claims time out with it on).
    this.redis = new Redis(options.url, connection);
    this.subscriber = redisSubscriber(
      options.url,
      connection,
      [this.channel, this.wantedChannel],
      (err) => this.logger.debug({ err: err.message }, 'blob leases: subscribe failed'),
      () => (this.subscribed = true),
    );
    for (const r of [this.redis, this.subscriber]) r.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'blob leases: redis connection error'));
    this.subscriber.on('close', () => (this.subscribed = false));
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.wantedChannel) return this.wake(message);
      for (const listener of this.wantedListeners) listener(message);
    });
  }

  /** This process's owner id (the value of the leases it holds). */
  get owner(): string {
    return this.id;
  }

  async acquire(flightKey: string): Promise<BlobLeaseClaim> {
    if (this.closed || this.redis.status !== 'ready') return { kind: 'alone' };
    const key = this.leaseKey(flightKey);
    let timer: NodeJS.Timeout | undefined;
    // Redis gets claimTimeoutMs of this process's time: the answer may be waiting in the socket when a
    // busy event loop fires the timer (read it first), and a timer that fired late because the loop was
    // blocked gives Redis its time once more, after which the claim gives up.
    const sentAt = Date.now();
    const tooLate = new Promise<'late'>((resolve) => {
      const expire = (last: boolean) => {
        timer = setTimeout(() => {
          setImmediate(() => {
            const blocked = Date.now() - sentAt > 2 * this.claimTimeoutMs;
            if (blocked && !last) expire(true);
            else resolve('late');
          });
        }, this.claimTimeoutMs);
      };
      expire(false);
    });
    const claim = CLAIM.run(this.redis, [key], [this.value, this.leaseMs, COMMITTED_MARK]) as Promise<[number, string | null] | [number]>;
    try {
      const answer = await Promise.race([claim, tooLate]);
      if (answer === 'late') {
        // Too slow: fetch alone, and give the lease back if it was ours after all.
        // Info, not debug: another process may fetch the same blob (a second upstream GET), and this says why.
        this.logger.info({ waitedMs: Date.now() - sentAt }, 'blob leases: claim unanswered in time, fetching alone');
        claim.then(([ours]) => ours !== 0 && this.release(key, undefined)).catch(() => undefined);
        return { kind: 'alone' };
      }
      if (answer[0] !== 0) return { kind: 'led', afterCommit: answer[0] === 2, release: this.renewing(key) };
      return this.heldBy(answer[1] ?? null);
    } catch (err) {
      this.logger.info({ err: (err as Error).message }, 'blob leases: claim refused, fetching alone');
      return { kind: 'alone' }; // Redis refused the command: this process decides alone
    } finally {
      clearTimeout(timer);
    }
  }

  committed(digest: string): void {
    this.wake(digest);
    if (this.closed || this.redis.status !== 'ready') return;
    this.redis.publish(this.channel, digest).catch((err: Error) => this.logger.debug({ err: err.message }, 'blob leases: commit not announced'));
  }

  wanted(flightKey: string): void {
    if (this.closed || this.redis.status !== 'ready') return;
    this.redis.publish(this.wantedChannel, blobFlightId(flightKey)).catch((err: Error) => this.logger.debug({ err: err.message }, 'blob leases: wanted not announced'));
  }

  onWanted(listener: (flightId: string) => void): void {
    this.wantedListeners.push(listener);
  }

  /** Whether the commit and wanted notices reach this process now (subscribed). */
  get listening(): boolean {
    return this.subscribed;
  }

  waitForCommit(digest: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.waiters.get(digest) ?? new Set<() => void>();
      this.waiters.set(digest, waiters);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.waiters.get(digest) === waiters) this.waiters.delete(digest);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      waiters.add(done);
    });
  }

  /** Close both connections (held leases expire on their own). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.redis.disconnect();
    this.subscriber.disconnect();
  }

  /** Another lease holder: its peer URL, unless it is this very process (it never reads from itself). */
  private heldBy(value: string | null): BlobLeaseClaim {
    const space = value?.indexOf(' ') ?? -1;
    if (!value || space < 0 || value.slice(0, space) === this.id) return { kind: 'held' };
    return { kind: 'held', peerUrl: value.slice(space + 1) };
  }

  private wake(digest: string): void {
    for (const waiter of [...(this.waiters.get(digest) ?? [])]) waiter();
  }

  /** Renew the lease until the returned function is called, which releases it (announcing a commit and marking the lease). */
  private renewing(key: string): (committed?: string) => void {
    const timer = setInterval(() => {
      if (this.closed || this.redis.status !== 'ready') return;
      RENEW_IF_OWNED.run(this.redis, [key], [this.value, this.leaseMs]).catch((err: Error) => this.logger.debug({ err: err.message }, 'blob leases: renewal failed'));
    }, this.renewMs);
    timer.unref();
    let released = false;
    return (committed?: string) => {
      if (released) return;
      released = true;
      clearInterval(timer);
      this.release(key, committed);
    };
  }

  /** Let the lease go if it is still ours; with a digest, announce its commit (one round trip) and mark the lease committed for leaseMs. */
  private release(key: string, committed: string | undefined): void {
    if (committed !== undefined) this.wake(committed);
    if (this.closed || this.redis.status !== 'ready') return;
    RELEASE.run(this.redis, [key], [this.value, committed ?? '', COMMITTED_MARK, this.leaseMs, this.channel]).catch((err: Error) => this.logger.debug({ err: err.message }, 'blob leases: release failed'));
  }

  private leaseKey(flightKey: string): string {
    return `${this.options.prefix}:blob-lease:${blobFlightId(flightKey)}`;
  }
}
