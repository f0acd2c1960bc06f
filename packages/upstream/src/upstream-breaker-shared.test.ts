import { UpstreamThrottledError, UpstreamUnavailableError } from '@pullthrough/oci';
import type { SharedBreakerBoard, SharedHold } from './shared-breaker-board.js';
import { UpstreamBreaker } from './upstream-breaker.js';

/** An in-process board for breakers of one process (the Redis one is tested in apps/frontend/test). */
class MemoryBoard implements SharedBreakerBoard {
  readonly holds = new Map<string, SharedHold>();
  readonly announced: (SharedHold | 'closed')[] = [];
  claimWins = true;
  private readonly listeners: ((upstream: string) => void)[] = [];
  hold = (upstream: string) => this.holds.get(upstream);
  upstreams = () => [...this.holds.keys()];
  announceOpen(upstream: string, hold: SharedHold): void {
    this.announced.push(hold);
    const cur = this.holds.get(upstream);
    if (cur === undefined || cur.until < hold.until) this.holds.set(upstream, hold);
  }
  announceClosed(upstream: string): void {
    this.announced.push('closed');
    this.holds.delete(upstream);
  }
  claimProbe = () => Promise.resolve(this.claimWins);
  rateLimit = () => undefined;
  announceRateLimit = () => undefined;
  onClosed(listener: (upstream: string) => void): void {
    this.listeners.push(listener);
  }
  /** Another replica closed it. */
  closeFromElsewhere(upstream: string): void {
    this.holds.delete(upstream);
    this.listeners.forEach((l) => l(upstream));
  }
}

describe('UpstreamBreaker with a shared board', () => {
  const breakers: UpstreamBreaker[] = [];
  const make = (board: SharedBreakerBoard, resetTimeoutMs = 300, volumeThreshold = 1): UpstreamBreaker => {
    const b = new UpstreamBreaker('upstream.example', { volumeThreshold, resetTimeoutMs });
    b.shareThrough(board);
    board.onClosed(() => b.closeFromBoard());
    breakers.push(b);
    return b;
  };
  afterEach(() => breakers.splice(0).forEach((b) => b.shutdown()));

  it('announces its open and its Retry-After holds (throttled or not)', async () => {
    const board = new MemoryBoard();
    const breaker = make(board);
    const before = Date.now();
    await breaker.fire(() => Promise.reject(new Error('boom'))).catch(() => undefined);
    expect(breaker.state()).toBe('open');
    expect(board.announced).toHaveLength(1);
    const opened = board.announced[0] as SharedHold;
    expect(opened.throttled).toBe(false);
    expect(opened.until).toBeGreaterThanOrEqual(before + 300);
    expect(opened.until).toBeLessThanOrEqual(Date.now() + 300);
    breaker.holdOpen(5, true);
    expect(board.announced[1]).toEqual({ until: expect.any(Number), throttled: true });
    expect((board.announced[1] as SharedHold).until).toBeGreaterThanOrEqual(before + 5000);
  });

  it("refuses during another replica's hold without calling, TOOMANYREQUESTS when that hold is a 429's", async () => {
    const board = new MemoryBoard();
    const breaker = make(board);
    board.holds.set('upstream.example', { until: Date.now() + 2500, throttled: true });
    let called = 0;
    const err = await breaker.fire(async () => called++).catch((e: unknown) => e);
    expect(called).toBe(0);
    expect(err).toBeInstanceOf(UpstreamThrottledError);
    expect(err).toMatchObject({ retryAfterSeconds: 3, detail: { upstream: 'upstream.example' } });
    board.holds.set('upstream.example', { until: Date.now() + 60_000, throttled: false });
    await expect(breaker.fire(async () => called++)).rejects.toBeInstanceOf(UpstreamUnavailableError);
    expect(called).toBe(0);
    expect(breaker.stats()).toMatchObject({ state: 'open', retryAfterSeconds: 60, totals: { requests: 0, rejects: 2 } });
  });

  it('after the hold, only the claim winner calls: a lost claim refuses, a won one closes for everyone, a failed one holds everyone again', async () => {
    const board = new MemoryBoard();
    // Its own breaker stays closed (volume 10): the holds come from the board.
    const breaker = make(board, 300, 10);
    board.holds.set('upstream.example', { until: Date.now() - 1, throttled: false });
    expect(breaker.state()).toBe('half-open');
    board.claimWins = false;
    let called = 0;
    await expect(breaker.fire(async () => called++)).rejects.toMatchObject({ retryAfterSeconds: 1 });
    expect(called).toBe(0);

    board.claimWins = true;
    const failedAt = Date.now();
    await expect(breaker.fire(() => Promise.reject(new Error('still down')))).rejects.toThrow('still down');
    const again = board.hold('upstream.example')!;
    expect(again.until).toBeGreaterThanOrEqual(failedAt + 300);

    board.holds.set('upstream.example', { until: Date.now() - 1, throttled: false });
    await expect(breaker.fire(async () => 'ok')).resolves.toBe('ok');
    expect(board.announced.at(-1)).toBe('closed');
    expect(board.hold('upstream.example')).toBeUndefined();
    expect(breaker.state()).toBe('closed');
  });

  it('a shared trial answered by a new Retry-After holds everyone that long, not a reset window', async () => {
    const board = new MemoryBoard();
    const breaker = make(board, 60_000, 10);
    board.holds.set('upstream.example', { until: Date.now() - 1, throttled: true });
    const at = Date.now();
    const throttled = new UpstreamThrottledError('slow down', { retryAfterSeconds: 2 });
    await expect(breaker.fire(() => Promise.reject(throttled))).rejects.toBe(throttled);
    const hold = board.hold('upstream.example')!;
    expect(hold.throttled).toBe(true);
    expect(hold.until).toBeGreaterThanOrEqual(at + 2000);
    expect(hold.until).toBeLessThan(at + 3000);
  });

  it("another replica's close closes an open breaker here (no announcement back)", async () => {
    const board = new MemoryBoard();
    const breaker = make(board, 60_000);
    await breaker.fire(() => Promise.reject(new Error('boom'))).catch(() => undefined);
    breaker.holdOpen(30);
    expect(breaker.state()).toBe('open');
    const announced = board.announced.length;
    board.closeFromElsewhere('upstream.example');
    expect(breaker.state()).toBe('closed');
    expect(board.announced).toHaveLength(announced);
    await expect(breaker.fire(async () => 'ok')).resolves.toBe('ok');
  });
});
