import type { Dispatcher } from 'undici';
import { request } from '@pullthrough/egress';
import { importJwk, type JwkKey } from './jwk-key.js';
import { JwksUnavailableError } from './oidc-errors.js';

export interface JwksCacheOptions {
  /** Where the keys are: a direct JWKS URL, or a function that finds it (OIDC discovery). */
  jwksUrl: string | (() => Promise<string>);
  /** The egress dispatcher every fetch goes through (undici's global one when unset). */
  dispatcher?: Dispatcher;
  /** Keys older than this are fetched again on the next use (default 1 h). */
  maxAgeMs?: number;
  /** At most one fetch for an unknown `kid` per this interval (default 60 s): a flood of made-up kids costs one fetch. */
  unknownKidIntervalMs?: number;
  /** After a failed fetch, the next is not tried before this (default 10 s): no hammering a down issuer. */
  failureRetryMs?: number;
  /** A fetch slower than this fails (default 5 s). */
  timeoutMs?: number;
  /** Largest JWKS document read (default 256 KiB). */
  maxBytes?: number;
  /** Most keys kept from one document (default 50). */
  maxKeys?: number;
  now?: () => number;
}

/** GET a JSON document through `dispatcher`, bounded in time and size. */
export async function fetchJson(url: string, { dispatcher, timeoutMs, maxBytes }: { dispatcher?: Dispatcher; timeoutMs: number; maxBytes: number }): Promise<unknown> {
  const u = new URL(url);
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new JwksUnavailableError(`${u.protocol} is not an http(s) URL`);
  const signal = AbortSignal.timeout(timeoutMs);
  const res = await request(u, { method: 'GET', headers: { accept: 'application/json' }, signal, ...(dispatcher ? { dispatcher } : {}) });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new JwksUnavailableError(`${u.origin}${u.pathname} answered ${res.statusCode}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      res.body.destroy();
      throw new JwksUnavailableError(`${u.origin}${u.pathname} sent more than ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new JwksUnavailableError(`${u.origin}${u.pathname} did not send JSON`);
  }
}

/**
 * An issuer's signing keys, fetched when first needed, again when they are older than `maxAgeMs`,
 * and again (at most once per `unknownKidIntervalMs`) when a token names a `kid` not held: that
 * is how a key rotation is picked up. Concurrent callers share one fetch. A failed refresh keeps
 * the keys already held.
 */
export class JwksCache {
  private keys: JwkKey[] = [];
  private fetchedAt = -Infinity;
  private attemptedAt = -Infinity;
  private unknownKidFetchAt = -Infinity;
  private inFlight: Promise<void> | undefined;
  private lastError: JwksUnavailableError | undefined;
  /** Fetches started (tests and diagnostics). */
  fetches = 0;
  private readonly maxAgeMs: number;
  private readonly unknownKidIntervalMs: number;
  private readonly failureRetryMs: number;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly maxKeys: number;
  private readonly now: () => number;

  constructor(private readonly options: JwksCacheOptions) {
    this.maxAgeMs = options.maxAgeMs ?? 3_600_000;
    this.unknownKidIntervalMs = options.unknownKidIntervalMs ?? 60_000;
    this.failureRetryMs = options.failureRetryMs ?? 10_000;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.maxBytes = options.maxBytes ?? 256 * 1024;
    this.maxKeys = options.maxKeys ?? 50;
    this.now = options.now ?? Date.now;
  }

  /**
   * The keys that may have signed a token with this `kid` (every key when the token names none).
   * Empty when the issuer has no such key even after a permitted refresh. Throws
   * JwksUnavailableError when no keys are held because the issuer could not be reached.
   */
  async keysFor(kid: string | undefined): Promise<JwkKey[]> {
    // Stale keys are fetched again (after a failed fetch, not before failureRetryMs).
    // A fetch already under way is waited for, whatever started it.
    const stale = this.now() - this.fetchedAt >= this.maxAgeMs && (this.lastError === undefined || this.now() - this.attemptedAt >= this.failureRetryMs);
    if (stale || this.inFlight) await this.refresh();
    if (this.keys.length === 0 && this.lastError) throw this.lastError;
    let found = this.select(kid);
    if (found.length === 0 && kid !== undefined && this.now() - this.unknownKidFetchAt >= this.unknownKidIntervalMs) {
      this.unknownKidFetchAt = this.now();
      await this.refresh();
      found = this.select(kid);
    }
    return found;
  }

  private select(kid: string | undefined): JwkKey[] {
    return kid === undefined ? this.keys : this.keys.filter((k) => k.kid === kid);
  }

  /** Fetch the JWKS, one fetch for all concurrent callers. A failure keeps the keys held and throws only when there are none. */
  private async refresh(): Promise<void> {
    this.inFlight ??= this.load().finally(() => {
      this.inFlight = undefined;
    });
    try {
      await this.inFlight;
      this.lastError = undefined;
    } catch (err) {
      this.lastError = err instanceof JwksUnavailableError ? err : new JwksUnavailableError(`the issuer's keys could not be fetched: ${(err as Error).message}`);
      if (this.keys.length === 0) throw this.lastError;
    }
  }

  private async load(): Promise<void> {
    this.fetches++;
    this.attemptedAt = this.now();
    const url = typeof this.options.jwksUrl === 'string' ? this.options.jwksUrl : await this.options.jwksUrl();
    const doc = await fetchJson(url, { dispatcher: this.options.dispatcher, timeoutMs: this.timeoutMs, maxBytes: this.maxBytes });
    const list = (doc as { keys?: unknown })?.keys;
    if (!Array.isArray(list)) throw new JwksUnavailableError('the JWKS document has no "keys" array');
    this.keys = list.slice(0, this.maxKeys).flatMap((jwk) => importJwk(jwk) ?? []);
    this.fetchedAt = this.now();
  }
}
