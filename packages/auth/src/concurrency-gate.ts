/** The gate's queue is full: the work was not started (answer "busy, retry" at once). */
export class GateFullError extends Error {
  constructor() {
    super('too much work queued');
    this.name = 'GateFullError';
  }
}

/**
 * At most `maxActive` tasks at once, at most `maxQueued` waiting (first come, first served);
 * beyond that `run` rejects at once with GateFullError instead of piling up. bcrypt is slow on
 * purpose and runs on the event loop: a flood of password checks must wait in a short line, not
 * take the process away from every other request.
 */
export class ConcurrencyGate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly maxActive: number,
    private readonly maxQueued: number,
  ) {
    if (!(maxActive >= 1) || !(maxQueued >= 0)) throw new Error('a concurrency gate needs maxActive >= 1 and maxQueued >= 0');
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.maxActive) {
      if (this.waiting.length >= this.maxQueued) throw new GateFullError();
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active++;
    }
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next in line (active stays the same), or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  /** Tasks running and waiting now (metrics, tests). */
  get load(): { active: number; queued: number } {
    return { active: this.active, queued: this.waiting.length };
  }
}
