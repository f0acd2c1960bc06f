import { LruCache, type Descriptor } from '@pullthrough/oci';

/** How long the layers of a manifest just fetched from the upstream are read ahead of its clients. */
const READ_AHEAD_FOR_MS = 60_000;

/** Default: how long a fetch read ahead waits at its kept first bytes for a client (then it goes on for the store alone). */
export const DEFAULT_READ_AHEAD_HOLD_MS = 5_000;
/** Fetches read ahead (held or going on for the store) at once, per process. */
export const READ_AHEAD_MAX_RUNNING = 16;

/** Layer fetches started ahead of their client, and those whose hold ran out before any client asked (for the metrics). */
export interface ReadAheadStats {
  started: number;
  unasked: number;
}

/**
 * After the first client taps a fetch read ahead, how long its read still stops at the kept prefix (ms).
 * A herd's clients ask for the layer within milliseconds of each other, but their requests reach the
 * event loop a few ms apart when it is busy; the upstream bytes queued in the socket while the fetch
 * held would otherwise go past the prefix at once, and those clients would wait for the commit. The
 * first client is not kept waiting: it reads the prefix meanwhile.
 */
export const READ_AHEAD_GATHER_MS = 10;

/**
 * A fetch started ahead of its client (BlobFetcher's read-ahead) keeps its first bytes (ReceivedPrefix)
 * and its upstream read stops there, before the chunk that would not fit, until the first client taps
 * the fetch (`tapped`; then `gatherMs` more, for the clients that come with it) or `holdMs` pass after
 * the stop: then it goes on without one, for the store (a late client waits for the commit). So a
 * layer read ahead holds at most the prefix in memory and takes no more of the upstream link than that
 * before a client wants it.
 */
export class ReadAheadHold {
  private waiting: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private done = false;
  private readonly onTapped: Array<() => void> = [];
  /** Set by the first tap: the read stops at the prefix until it resolves. */
  private gathering: { until: Promise<void>; end: () => void } | undefined;
  /** The hold ran out with no client: the fetch went on for the store alone. */
  expired = false;

  /** `holdMs` 0: no hold (released from the start: the fetch goes straight on). */
  constructor(
    private readonly holdMs: number,
    private readonly gatherMs = READ_AHEAD_GATHER_MS,
  ) {
    this.done = holdMs <= 0;
  }

  get released(): boolean {
    return this.done;
  }

  /** Released and not gathering: the read has nothing left to wait for (nor `release` to end). */
  get settled(): boolean {
    return this.done && this.gathering === undefined;
  }

  /** Until a client taps the fetch, or `holdMs` from the first call. */
  wait(): Promise<void> {
    if (this.done) return Promise.resolve();
    this.waiting ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.expired = !this.done;
        this.open();
      }, this.holdMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    return this.waiting;
  }

  /**
   * The read is at the end of the kept prefix (the next chunk would not fit): what it waits for before
   * going on (undefined: nothing). A client, then the gathering after its tap; or the hold's end.
   */
  atPrefixEnd(): Promise<void> | undefined {
    if (!this.done) return this.wait().then(() => this.gathering?.until);
    return this.gathering?.until;
  }

  /** A client tapped the fetch: released, and the read stops at the prefix `gatherMs` more (ended early by `release`). */
  tapped(): void {
    if (this.done) return;
    if (this.gatherMs > 0) {
      let end!: () => void;
      const until = new Promise<void>((resolve) => (end = resolve));
      const timer = setTimeout(() => this.endGathering(), this.gatherMs);
      this.gathering = {
        until,
        end: () => {
          clearTimeout(timer);
          end();
        },
      };
    }
    this.open();
  }

  /** Released at once (a clean shutdown, a client waiting for the commit): no gathering either. */
  release(): void {
    this.endGathering();
    this.open();
  }

  private open(): void {
    if (this.done) return;
    this.done = true;
    this.wake?.();
    if (!this.expired) for (const fn of this.onTapped.splice(0)) fn();
  }

  private endGathering(): void {
    const gathering = this.gathering;
    this.gathering = undefined;
    gathering?.end();
  }

  /** `fn` once a client taps the fetch (at once if one did or there is no hold; never if the hold ran out first). */
  whenTapped(fn: () => void): void {
    if (!this.done) this.onTapped.push(fn);
    else if (!this.expired) fn();
  }
}

/** One image manifest's layers, in its order, and how far they have been read ahead. */
interface LayerRun {
  layers: readonly Descriptor[];
  /** The first layer not read ahead yet. */
  next: number;
}

/**
 * Which layers to read ahead of a client: the layers of an image manifest this process just fetched
 * from the upstream (`expect`, for a minute), in the manifest's order, up to `window` beyond the
 * furthest one a client asked for (`after`), each once. Clients (docker, containerd, podman) fetch a
 * pull's layers in that order, a few at a time; one that already has some layers skips them, and
 * nothing is read ahead of a layer it did not ask for. Nothing is read ahead with the manifest
 * itself: many clients that got it at once (a herd) ask for every layer at once, and fetches held at
 * their first bytes by then would burst those and more (socket buffers) at them as they tap, more
 * than their buffers take (measured: herd peak RSS 107 -> 133 MiB, the herd 1.2 -> 1.6-2.5 s).
 */
export class ReadAheadPlan {
  private readonly positions = new LruCache<{ run: LayerRun; index: number }>(4096);

  constructor(private readonly window: number) {}

  /** An image manifest's layers (`keyOf`: the flight key of a digest), read ahead once a client asks for one of them. */
  expect(layers: readonly Descriptor[], keyOf: (layer: Descriptor) => string): void {
    const run: LayerRun = { layers, next: 0 };
    layers.forEach((layer, index) => this.positions.set(keyOf(layer), { run, index }, READ_AHEAD_FOR_MS));
  }

  /** A client asked for the blob with this flight key: the layers after it to read ahead now (none for a blob not expected). */
  after(key: string): Descriptor[] {
    const at = this.positions.get(key);
    return at ? this.take(at.run, at.index) : [];
  }

  private take(run: LayerRun, index: number): Descriptor[] {
    const start = Math.max(run.next, index + 1);
    const end = Math.min(run.layers.length, index + 1 + this.window);
    if (start >= end) return [];
    run.next = end;
    return run.layers.slice(start, end);
  }
}
