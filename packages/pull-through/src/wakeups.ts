/** Waits that any change ends (`wakeAll`), or their own timeout. */
export class Wakeups {
  private readonly waiters = new Set<() => void>();

  /** Resolves true at the next `wakeAll`, or false after `timeoutMs`. */
  next(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const settle = (woken: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(woken);
      };
      const wake = () => settle(true);
      const timer = setTimeout(() => settle(false), timeoutMs);
      this.waiters.add(wake);
    });
  }

  wakeAll(): void {
    if (this.waiters.size === 0) return;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiters) wake();
  }
}
