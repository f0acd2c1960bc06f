import { LruCache, sharedCall } from '@pullthrough/oci';

/** Scopes (repositories) whose tokens one upstream client keeps; a wildcard rule has unbounded names. */
export const DEFAULT_MAX_TOKENS = 1000;

/**
 * Bearer tokens per scope, with one shared in-flight fetch per scope. At most `maxEntries` tokens
 * are kept (at least 4); the least recently used goes first (it is fetched again when needed).
 */
export class TokenCache<F> {
  private readonly tokens: LruCache<{ token: string; expiresAt: number }>;
  private readonly inflight = new Map<string, Promise<F>>();

  constructor(maxEntries: number = DEFAULT_MAX_TOKENS) {
    this.tokens = new LruCache(Math.max(4, maxEntries));
  }

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

  get size(): number {
    return this.tokens.size;
  }

  /** Run `fetch` unless a fetch for this scope is already running; everyone shares its result. */
  shared(scope: string, fetch: () => Promise<F>): Promise<F> {
    return sharedCall(this.inflight, scope, fetch);
  }
}
