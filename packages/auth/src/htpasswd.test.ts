import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HtpasswdError, HtpasswdFile, parseHtpasswd } from './htpasswd.js';

// Real htpasswd (apache2-utils), cost 4 to keep the test quick.
const line = (user: string, password: string) => execFileSync('htpasswd', ['-nbB', '-C', '4', user, password]).toString().trim();

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
    const file = new HtpasswdFile(path, () => now);
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
});
