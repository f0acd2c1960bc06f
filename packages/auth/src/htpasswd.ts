import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import bcrypt from 'bcryptjs';

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
const USER = /^[A-Za-z0-9._@-]{1,100}$/;
/** Compared against when the user is unknown, so a miss costs what a wrong password costs. */
const DUMMY_HASH = '$2b$10$ra8x.uSZYJJlJyxf5AtchOs1am/6WidvWHU1K9Ryv429.PVpUmBrq';
const MAX_CACHED = 1000;
const RECHECK_MS = 2000;

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

/**
 * Users from an htpasswd file, re-read when the file changes (checked at most every 2 s).
 * bcrypt is slow on purpose; a node sending Basic credentials with every request must not pay it
 * each time, so outcomes are remembered by a hash of (user, password, stored hash) until the
 * file changes (bounded, oldest dropped first).
 */
export class HtpasswdFile {
  private users = new Map<string, string>();
  private mtimeMs = -1;
  private checkedAt = 0;
  private readonly outcomes = new Map<string, boolean>();

  constructor(
    private readonly path: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Read the file now (at start: a broken file stops the process with the reason). */
  async load(): Promise<void> {
    const info = await stat(this.path);
    this.users = parseHtpasswd(await readFile(this.path, 'utf8'));
    this.mtimeMs = info.mtimeMs;
    this.checkedAt = this.now();
    this.outcomes.clear();
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

  async verify(user: string, password: string): Promise<boolean> {
    await this.reloadIfChanged();
    const hash = this.users.get(user);
    const key = createHash('sha256').update(`${user}\u0000${password}\u0000${hash ?? ''}`).digest('base64');
    const known = this.outcomes.get(key);
    if (known !== undefined) return known;
    const ok = (await bcrypt.compare(password, hash ?? DUMMY_HASH)) && hash !== undefined;
    if (this.outcomes.size >= MAX_CACHED) this.outcomes.delete(this.outcomes.keys().next().value as string);
    this.outcomes.set(key, ok);
    return ok;
  }
}
