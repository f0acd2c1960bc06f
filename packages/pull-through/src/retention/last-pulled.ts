import type { Redis } from 'ioredis';
import type { RegistryStore } from '@pullthrough/storage';
import type { Logger } from '../logger.js';

/**
 * When each tag and manifest of a repository was last pulled (GET or HEAD of a manifest), as epoch
 * milliseconds keyed by the tag name or the manifest digest (a tag never contains `:`, a digest
 * always does). Read by retention and by the usage API.
 */
export type PullTimes = ReadonlyMap<string, number>;

/** The reader side: what retention and `GET /api/v1/usage` use. */
export interface LastPulled {
  /** Pull times of one repository (empty when it was never pulled, or nothing is known). */
  forRepository(repository: string): Promise<PullTimes>;
  /** Pull times of every repository known. */
  all(): Promise<ReadonlyMap<string, PullTimes>>;
}

/** The control-area document that keeps pull times across a Redis loss. */
export const LAST_PULLED_KIND = 'retention';
export const LAST_PULLED_NAME = 'last-pulled';
interface Snapshot {
  version: 1;
  repositories: Record<string, Record<string, number>>;
}

export interface LastPulledBookOptions {
  /** The process's Redis connection (commands fail fast while it is down: notes stay buffered). */
  redis: Redis;
  /** Key prefix (the deployment's queue prefix). */
  prefix: string;
  store: RegistryStore;
  logger: Logger;
  /** Buffered notes are written to Redis this often (default 5 s). */
  flushEveryMs?: number;
  /** Redis and the stored snapshot are merged into storage this often (default 5 min). */
  snapshotEveryMs?: number;
  /** Notes kept in memory at most while Redis is unreachable; beyond it the oldest are dropped. */
  maxPending?: number;
  clock?: () => number;
}

/**
 * Records pulls without a write per request: `note` updates an in-memory map (the latest time per
 * repository and tag or digest), `flush` writes it to Redis in one pipeline (`ZADD GT` into a sorted
 * set per repository, so concurrent frontends keep the latest), and `snapshot` merges Redis with the
 * stored snapshot into the control area, so pull times survive a Redis loss. Readers merge both.
 */
export class LastPulledBook implements LastPulled {
  private pending = new Map<string, Map<string, number>>();
  private pendingCount = 0;
  private timers: NodeJS.Timeout[] = [];
  private flushing: Promise<void> | undefined;
  private stored: { at: number; value: Snapshot } | undefined;
  /** Pipelines written to Redis (how many writes the notes cost). */
  flushes = 0;
  private readonly clock: () => number;

  constructor(private readonly options: LastPulledBookOptions) {
    this.clock = options.clock ?? Date.now;
  }

  private get repositoriesKey(): string {
    return `${this.options.prefix}:last-pulled:repositories`;
  }
  private key(repository: string): string {
    return `${this.options.prefix}:last-pulled:repo:${repository}`;
  }

  /** A pull of `reference` (a tag or a digest) in `repository`, and of the manifest `digest` it resolved to. */
  note(repository: string, reference: string, digest?: string, at: number = this.clock()): void {
    let times = this.pending.get(repository);
    if (!times) this.pending.set(repository, (times = new Map()));
    for (const member of digest && digest !== reference ? [reference, digest] : [reference]) {
      const before = times.get(member);
      if (before === undefined) this.pendingCount += 1;
      if (before === undefined || before < at) times.set(member, at);
    }
    if (this.pendingCount > (this.options.maxPending ?? 100_000)) this.dropOldest();
  }

  private dropOldest(): void {
    const first = this.pending.keys().next();
    if (first.done) return;
    this.pendingCount -= this.pending.get(first.value)!.size;
    this.pending.delete(first.value);
  }

  /** Write buffered notes to Redis in one pipeline; on failure they stay buffered for the next flush. */
  flush(): Promise<void> {
    this.flushing ??= this.writePending().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async writePending(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.pendingCount = 0;
    const pipeline = this.options.redis.pipeline();
    pipeline.sadd(this.repositoriesKey, ...batch.keys());
    for (const [repository, times] of batch) {
      const args: string[] = [];
      for (const [member, at] of times) args.push(String(at), member);
      pipeline.zadd(this.key(repository), 'GT', ...args);
    }
    try {
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([err]) => err);
      if (failed) throw failed[0];
      this.flushes += 1;
    } catch (err) {
      for (const [repository, times] of batch) for (const [member, at] of times) this.note(repository, member, undefined, at);
      this.options.logger.debug({ err: (err as Error).message }, 'last-pulled flush failed; notes kept for the next one');
    }
  }

  /** Merge Redis and the stored snapshot (latest wins) and store the result. */
  async snapshot(keep?: (repository: string, member: string) => boolean): Promise<void> {
    await this.flush();
    const merged = await this.all();
    const repositories: Snapshot['repositories'] = {};
    for (const [repository, times] of merged) {
      const entries = [...times].filter(([member]) => keep?.(repository, member) ?? true);
      if (entries.length > 0) repositories[repository] = Object.fromEntries(entries);
    }
    const value: Snapshot = { version: 1, repositories };
    await this.options.store.putControl(LAST_PULLED_KIND, LAST_PULLED_NAME, value);
    this.stored = { at: this.clock(), value };
  }

  /** Forget members (evicted tags and manifests) in Redis; the next snapshot drops them too when told by `keep`. */
  async forget(repository: string, members: readonly string[]): Promise<void> {
    const pending = this.pending.get(repository);
    for (const member of members) if (pending?.delete(member)) this.pendingCount -= 1;
    if (members.length > 0) await this.options.redis.zrem(this.key(repository), ...members).catch(() => undefined);
  }

  async forRepository(repository: string): Promise<PullTimes> {
    const merged = new Map(Object.entries((await this.readSnapshot()).repositories[repository] ?? {}));
    mergeInto(merged, await this.readRedis(repository));
    mergeInto(merged, this.pending.get(repository));
    return merged;
  }

  async all(): Promise<ReadonlyMap<string, PullTimes>> {
    const snapshot = await this.readSnapshot();
    const out = new Map<string, Map<string, number>>();
    for (const [repository, times] of Object.entries(snapshot.repositories)) out.set(repository, new Map(Object.entries(times)));
    let repositories: string[] = [];
    try {
      repositories = await this.options.redis.smembers(this.repositoriesKey);
    } catch {
      // Redis down: the snapshot and this process's notes are what is known.
    }
    for (const repository of new Set([...repositories, ...this.pending.keys()])) {
      const times = out.get(repository) ?? new Map<string, number>();
      mergeInto(times, await this.readRedis(repository));
      mergeInto(times, this.pending.get(repository));
      out.set(repository, times);
    }
    return out;
  }

  private async readRedis(repository: string): Promise<Map<string, number>> {
    try {
      const flat = await this.options.redis.zrange(this.key(repository), '0', '-1', 'WITHSCORES');
      const times = new Map<string, number>();
      for (let i = 0; i + 1 < flat.length; i += 2) times.set(flat[i]!, Number(flat[i + 1]));
      return times;
    } catch {
      return new Map();
    }
  }

  /** The stored snapshot, re-read at most once per flush interval. */
  private async readSnapshot(): Promise<Snapshot> {
    const now = this.clock();
    if (this.stored && now - this.stored.at < (this.options.flushEveryMs ?? 5000)) return this.stored.value;
    const raw = await this.options.store.getControl<Partial<Snapshot>>(LAST_PULLED_KIND, LAST_PULLED_NAME);
    const value: Snapshot = { version: 1, repositories: raw && typeof raw.repositories === 'object' && raw.repositories ? raw.repositories : {} };
    this.stored = { at: now, value };
    return value;
  }

  /** Flush every `flushEveryMs` and snapshot every `snapshotEveryMs` (0: never). */
  start(): void {
    const fail = (what: string) => (err: unknown) => this.options.logger.warn({ err: (err as Error).message }, `last-pulled ${what} failed`);
    const flushMs = this.options.flushEveryMs ?? 5000;
    const snapshotMs = this.options.snapshotEveryMs ?? 300_000;
    if (flushMs > 0) this.timers.push(setInterval(() => void this.flush().catch(fail('flush')), flushMs));
    if (snapshotMs > 0) this.timers.push(setInterval(() => void this.snapshot().catch(fail('snapshot')), snapshotMs));
    for (const t of this.timers) t.unref();
  }

  /** Stop the timers and write what is buffered (best effort). */
  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.flush().catch(() => undefined);
  }
}

function mergeInto(target: Map<string, number>, source: ReadonlyMap<string, number> | undefined): void {
  if (!source) return;
  for (const [member, at] of source) if (!(target.get(member)! >= at)) target.set(member, at);
}
