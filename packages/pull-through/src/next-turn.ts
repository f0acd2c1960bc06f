/**
 * Work put off until the event loop's check phase (one setImmediate for all of it): what the poll phase
 * read meanwhile is gathered first. A live tap flushes its slices here, so a client gets every chunk the
 * upstream sockets delivered in one poll phase in one corked write (one writev, one syscall), not one
 * write per chunk.
 */
export class NextTurn {
  private readonly due = new Set<() => void>();
  private scheduled = false;

  /** Run `fn` in the next check phase (once, however often it is asked for before then). */
  soon(fn: () => void): void {
    this.due.add(fn);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.run());
  }

  private run(): void {
    this.scheduled = false;
    const due = [...this.due];
    this.due.clear();
    for (const fn of due) fn();
  }
}

/** The process's one NextTurn for live taps. */
export const liveFlushes = new NextTurn();
