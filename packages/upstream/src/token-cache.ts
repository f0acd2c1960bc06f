/** Bearer tokens per scope, with one shared in-flight fetch per scope. */
export class TokenCache<F> {
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();
  private readonly inflight = new Map<string, Promise<F>>();

  /** A token still inside its lifetime (the margin was taken off when it was stored). */
  get(scope: string, now: number = Date.now()): string | undefined {
    const entry = this.tokens.get(scope);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > now) return entry.token;
    this.tokens.delete(scope);
    return undefined;
  }

  /**
   * Keep a token for `expiresInSeconds` minus a margin of 10% (at most 10 s), so it is not
   * used in the last moments of its life.
   */
  set(scope: string, token: string, expiresInSeconds: number, now: number = Date.now()): void {
    const lifetimeMs = expiresInSeconds * 1000;
    const marginMs = Math.min(10_000, lifetimeMs / 10);
    this.tokens.set(scope, { token, expiresAt: now + lifetimeMs - marginMs });
  }

  /** Forget the token for a scope, but only if it is still the one that was refused. */
  forget(scope: string, refused: string): void {
    if (this.tokens.get(scope)?.token === refused) this.tokens.delete(scope);
  }

  clear(): void {
    this.tokens.clear();
  }

  /** Run `fetch` unless a fetch for this scope is already running; everyone shares its result. */
  shared(scope: string, fetch: () => Promise<F>): Promise<F> {
    const running = this.inflight.get(scope);
    if (running) return running;
    const started = fetch().finally(() => this.inflight.delete(scope));
    this.inflight.set(scope, started);
    return started;
  }
}
