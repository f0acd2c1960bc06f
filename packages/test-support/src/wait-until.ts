export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** What is being waited for, for the timeout message. */
  what: string;
  /** Checked before every attempt: return an Error to stop waiting with it (e.g. the process died). */
  abort?: () => Error | undefined;
}

/** Poll `check` until it returns true. Exceptions from `check` count as "not yet". */
export async function waitUntil(check: () => Promise<boolean>, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  const interval = options.intervalMs ?? 25;
  let lastError: unknown;
  for (;;) {
    const aborted = options.abort?.();
    if (aborted) throw aborted;
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${options.what}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}
