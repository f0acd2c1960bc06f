import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { GateFullError } from './concurrency-gate.js';
import { commonBcryptCost, HtpasswdError, HtpasswdFile, parseHtpasswd } from './htpasswd.js';

// Real htpasswd (apache2-utils), cost 4 to keep the test quick.
const line = (user: string, password: string, cost = 4) => execFileSync('htpasswd', ['-nbB', '-C', String(cost), user, password]).toString().trim();

/** bcrypt's compare, recording the hash each check was made against. */
function countingCompare() {
  const hashes: string[] = [];
  const compare = (password: string, hash: string) => {
    hashes.push(hash);
    return bcrypt.compare(password, hash);
  };
  return { hashes, compare };
}

describe('htpasswd', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'htpasswd-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('verifies bcrypt users made by htpasswd -B', async () => {
    const path = join(dir, 'a');
    writeFileSync(path, `# nodes\n${line('alice', 's3cret')}\n\n${line('pool-a', 'p@ss:word')}\n`);
    const file = new HtpasswdFile(path);
    await file.load();
    expect(file.size).toBe(2);
    expect(await file.verify('alice', 's3cret')).toBe(true);
    expect(await file.verify('alice', 'wrong')).toBe(false);
    expect(await file.verify('pool-a', 'p@ss:word')).toBe(true);
    expect(await file.verify('nobody', 's3cret')).toBe(false);
    // remembered outcomes answer the same
    expect(await file.verify('alice', 's3cret')).toBe(true);
    expect(await file.verify('alice', 'wrong')).toBe(false);
  });

  it('refuses non-bcrypt lines, naming lines and never the hash', () => {
    const md5 = execFileSync('htpasswd', ['-nbm', 'bob', 'x']).toString().trim();
    let err: unknown;
    try {
      parseHtpasswd(`${line('alice', 'a')}\n${md5}\nnot a line\n`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HtpasswdError);
    expect((err as Error).message).toContain('lines 2, 3');
    expect((err as Error).message).not.toContain(md5.split(':')[1]!);
  });

  it('re-reads the file when it changes; a broken file keeps the last good list', async () => {
    const path = join(dir, 'b');
    writeFileSync(path, `${line('alice', 'one')}\n`);
    let now = 1_000_000;
    const file = new HtpasswdFile(path, { now: () => now });
    await file.load();
    expect(await file.verify('alice', 'one')).toBe(true);
    writeFileSync(path, `${line('alice', 'two')}\n`);
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    now += 3000;
    expect(await file.verify('alice', 'two')).toBe(true);
    expect(await file.verify('alice', 'one')).toBe(false);
    writeFileSync(path, 'garbage\n');
    utimesSync(path, new Date(), new Date(Date.now() + 10000));
    now += 3000;
    expect(await file.verify('alice', 'two')).toBe(true);
  });

  it('checks an unknown user against a hash of the cost most of the file uses, on the same path as a wrong password', async () => {
    const path = join(dir, 'cost');
    // htpasswd -B's default cost is 5; one user made with a higher one.
    writeFileSync(path, `${line('alice', 'a', 5)}\n${line('bob', 'b', 5)}\n${line('carol', 'c', 6)}\n`);
    const { hashes, compare } = countingCompare();
    const file = new HtpasswdFile(path, { compare });
    await file.load();
    expect(await file.verify('alice', 'wrong')).toBe(false);
    expect(await file.verify('nobody', 'wrong')).toBe(false);
    expect(hashes).toHaveLength(2);
    expect(hashes.map((h) => bcrypt.getRounds(h))).toEqual([5, 5]);
    expect(hashes[1]).not.toBe(hashes[0]);
  });

  it('commonBcryptCost: the most common cost, the higher on a tie, undefined for none', () => {
    const h = (cost: number) => line('u', 'p', cost).split(':')[1]!;
    expect(commonBcryptCost([h(5), h(5), h(7)])).toBe(5);
    expect(commonBcryptCost([h(4), h(6)])).toBe(6);
    expect(commonBcryptCost([])).toBeUndefined();
  });

  it('remembers successes only: a good pair is checked once, whatever flood of wrong pairs comes between; a wrong pair is checked every time', async () => {
    const path = join(dir, 'cache');
    writeFileSync(path, `${line('alice', 'right')}\n`);
    const { hashes, compare } = countingCompare();
    const file = new HtpasswdFile(path, { compare });
    await file.load();
    expect(await file.verify('alice', 'right')).toBe(true);
    for (let i = 0; i < 40; i++) expect(await file.verify(i % 2 ? 'alice' : `user${i}`, `wrong-${i}`)).toBe(false);
    expect(hashes).toHaveLength(41);
    expect(await file.verify('alice', 'right')).toBe(true);
    expect(hashes).toHaveLength(41);
    expect(await file.verify('alice', 'wrong-1')).toBe(false);
    expect(await file.verify('alice', 'wrong-1')).toBe(false);
    expect(hashes).toHaveLength(43);
  });

  it('runs at most maxConcurrentChecks compares, queues maxQueuedChecks more and refuses the next at once', async () => {
    const path = join(dir, 'gate');
    writeFileSync(path, `${line('alice', 'right')}\n`);
    const release: Array<() => void> = [];
    let started = 0;
    const compare = async (password: string, hash: string) => {
      started++;
      await new Promise<void>((resolve) => release.push(resolve));
      return bcrypt.compare(password, hash);
    };
    const file = new HtpasswdFile(path, { compare, maxConcurrentChecks: 1, maxQueuedChecks: 1 });
    await file.load();
    const first = file.verify('alice', 'right');
    const second = file.verify('alice', 'wrong');
    await new Promise((r) => setImmediate(r));
    expect(file.checks).toEqual({ active: 1, queued: 1 });
    await expect(file.verify('bob', 'x')).rejects.toBeInstanceOf(GateFullError);
    expect(started).toBe(1);
    release.shift()!();
    expect(await first).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(started).toBe(2);
    release.shift()!();
    expect(await second).toBe(false);
    expect(file.checks).toEqual({ active: 0, queued: 0 });
  });
});
