import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import { ConcurrencyGate } from './concurrency-gate.js';

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
const USER = /^[A-Za-z0-9._@-]{1,100}$/;
const MAX_CACHED = 1000;
const RECHECK_MS = 2000;
/** Cost of the stand-in hash when the file has no users at all (bcryptjs's default). */
const EMPTY_FILE_COST = 10;

export interface HtpasswdOptions {
  now?: () => number;
  /** bcrypt compares running at once (each takes the event loop in turns); default 2. */
  maxConcurrentChecks?: number;
  /** Checks waiting for a turn; one more is refused at once with GateFullError; default 32. */
  maxQueuedChecks?: number;
  /** The password check (tests count calls through it); default bcrypt's compare. */
  compare?: (password: string, hash: string) => Promise<boolean>;
}

export class HtpasswdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HtpasswdError';
  }
}

/** Parse htpasswd text: `user:bcrypt-hash` per line, `#` comments. Only bcrypt (`htpasswd -B`) is accepted. */
export function parseHtpasswd(text: string): Map<string, string> {
  const users = new Map<string, string>();
  const bad: number[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (colon < 1 || !USER.test(user) || !BCRYPT.test(hash)) bad.push(i + 1);
    else users.set(user, hash);
  });
  // Line numbers only: a hash is a secret too.
  if (bad.length) throw new HtpasswdError(`htpasswd lines ${bad.slice(0, 10).join(', ')} are not "user:bcrypt-hash" (make them with htpasswd -B)`);
  return users;
}

/** The bcrypt cost most of the hashes use (ties: the higher cost); undefined for no hashes. */
export function commonBcryptCost(hashes: Iterable<string>): number | undefined {
  const counts = new Map<number, number>();
  for (const hash of hashes) {
    const cost = bcrypt.getRounds(hash);
    counts.set(cost, (counts.get(cost) ?? 0) + 1);
  }
  let best: [number, number] | undefined;
  for (const [cost, n] of counts) if (!best || n > best[1] || (n === best[1] && cost > best[0])) best = [cost, n];
  return best?.[0];
}

/**
 * Users from an htpasswd file, re-read when the file changes (checked at most every 2 s).
 * bcrypt is slow on purpose, so:
 * - an unknown user is checked against a stand-in hash of the cost most of the file's users have
 *   (made at load), so a miss costs what a wrong password costs (`htpasswd -B` defaults to cost 5);
 * - successful logins are remembered by a hash of (user, password, stored hash) until the file
 *   changes (least recently used dropped first, bounded): a node sending Basic credentials with
 *   every request pays bcrypt once. Failures are not remembered: the caller limits them per client
 *   (FailedLoginLimiter), so a flood of wrong pairs neither evicts good ones nor gets free answers;
 * - at most a few compares run at once and a short line waits; beyond it `verify` rejects at once
 *   with GateFullError, so a flood cannot starve the event loop.
 */
export class HtpasswdFile {
  private users = new Map<string, string>();
  private mtimeMs = -1;
  private checkedAt = 0;
  private dummyHash = '';
  private readonly successes = new Map<string, true>();
  private readonly now: () => number;
  private readonly compare: (password: string, hash: string) => Promise<boolean>;
  private readonly gate: ConcurrencyGate;

  constructor(
    private readonly path: string,
    options: HtpasswdOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.compare = options.compare ?? ((password, hash) => bcrypt.compare(password, hash));
    this.gate = new ConcurrencyGate(options.maxConcurrentChecks ?? 2, options.maxQueuedChecks ?? 32);
  }

  /** Read the file now (at start: a broken file stops the process with the reason). */
  async load(): Promise<void> {
    const info = await stat(this.path);
    const users = parseHtpasswd(await readFile(this.path, 'utf8'));
    const cost = commonBcryptCost(users.values()) ?? EMPTY_FILE_COST;
    if (!this.dummyHash || bcrypt.getRounds(this.dummyHash) !== cost) this.dummyHash = await bcrypt.hash(randomBytes(18).toString('base64'), cost);
    this.users = users;
    this.mtimeMs = info.mtimeMs;
    this.checkedAt = this.now();
    this.successes.clear();
  }

  get size(): number {
    return this.users.size;
  }

  has(user: string): boolean {
    return this.users.has(user);
  }

  private async reloadIfChanged(): Promise<void> {
    if (this.now() - this.checkedAt < RECHECK_MS) return;
    this.checkedAt = this.now();
    try {
      if ((await stat(this.path)).mtimeMs !== this.mtimeMs) await this.load();
    } catch {
      // A file being replaced or broken keeps the last good user list.
    }
  }

  /** Are these a user's credentials? Rejects with GateFullError when too many checks are waiting. */
  async verify(user: string, password: string): Promise<boolean> {
    await this.reloadIfChanged();
    const hash = this.users.get(user);
    const key = createHash('sha256').update(`${user}\u0000${password}\u0000${hash ?? ''}`).digest('base64');
    if (hash !== undefined && this.successes.delete(key)) {
      this.successes.set(key, true);
      return true;
    }
    // Known or not, one compare against a hash of the same cost: the same path, the same time.
    const matches = await this.gate.run(() => this.compare(password, hash ?? this.dummyHash));
    if (!matches || hash === undefined) return false;
    // Remembered only while the file still says so (it may have been re-read meanwhile).
    if (this.users.get(user) === hash) {
      this.successes.set(key, true);
      if (this.successes.size > MAX_CACHED) this.successes.delete(this.successes.keys().next().value as string);
    }
    return true;
  }

  /** Password checks running and waiting now (tests, metrics). */
  get checks(): { active: number; queued: number } {
    return this.gate.load;
  }
}
