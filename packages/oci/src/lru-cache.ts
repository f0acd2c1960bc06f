/**
 * A bounded in-memory LRU map. Each entry has a weight (bytes of a manifest, or 1 for a small
 * record) and the map keeps the total at or under `maxWeight`, evicting the least recently used.
 * Entries may also expire: `set(key, value, ttlMs)` keeps a value for at most `ttlMs`.
 * Used for metadata that is read on every hit (manifests, tag records) and for everything held in
 * memory per name that must stay bounded (upstream tokens, resolved secrets, per-client rate limits).
 * It lives here, in the package every other one depends on, so each can bound its own caches.
 *
 * Recency is refreshed only for an entry read while in the older half of the order (moving an entry is
 * a Map delete and insert, the most expensive part of a hit, and a hot entry is read thousands of times a
 * second): an entry is evicted only once at least half the entries were put or moved after it was last.
 */
export class LruCache<V> {
  private readonly entries = new Map<string, { value: V; weight: number; expiresAt: number; seq: number }>();
  private weight = 0;
  /** Order of the next put or move: an entry's `seq` says how far back in the order it is. */
  private seq = 0;

  constructor(
    private readonly maxWeight: number,
    private readonly weigh: (value: V) => number = () => 1,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.delete(key);
      return undefined;
    }
    // Refresh recency (Map iteration order is insertion order), only for an entry in the older half.
    if (this.seq - entry.seq > this.entries.size / 2) {
      this.entries.delete(key);
      entry.seq = this.seq++;
      this.entries.set(key, entry);
    }
    return entry.value;
  }

  /** Keep `value` (for at most `ttlMs`); a value heavier than a quarter of the bound is not kept. */
  set(key: string, value: V, ttlMs = Infinity): void {
    this.delete(key);
    const weight = this.weigh(value);
    if (weight > this.maxWeight / 4 || ttlMs <= 0) return;
    this.entries.set(key, { value, weight, expiresAt: this.now() + ttlMs, seq: this.seq++ });
    this.weight += weight;
    for (const [k, e] of this.entries) {
      if (this.weight <= this.maxWeight) break;
      this.entries.delete(k);
      this.weight -= e.weight;
    }
  }

  delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.weight -= entry.weight;
  }

  clear(): void {
    this.entries.clear();
    this.weight = 0;
  }

  get size(): number {
    return this.entries.size;
  }

  get totalWeight(): number {
    return this.weight;
  }
}
