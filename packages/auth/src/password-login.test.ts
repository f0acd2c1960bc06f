import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { FailedLoginLimiter } from './failed-login-limiter.js';
import { HtpasswdFile } from './htpasswd.js';
import { PasswordLogin } from './password-login.js';

let dir: string;
let now = 5_000_000;
let compares = 0;
let login: PasswordLogin;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'password-login-'));
  const path = join(dir, 'htpasswd');
  writeFileSync(path, execFileSync('htpasswd', ['-nbB', '-C', '4', 'alice', 'alice-pw']).toString());
  const users = new HtpasswdFile(path, {
    now: () => now,
    compare: (password, hash) => {
      compares++;
      return bcrypt.compare(password, hash);
    },
  });
  await users.load();
  login = new PasswordLogin(users, new FailedLoginLimiter({ burst: 5, perMinute: 12, maxClients: 100, now: () => now }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('after `burst` wrong logins from one client the next is throttled without a password check; others still log in; it recovers', async () => {
  for (let i = 0; i < 5; i++) expect(await login.check('address:10.0.0.1', i % 2 ? 'alice' : `nobody${i}`, `wrong${i}`)).toEqual({ kind: 'refused' });
  expect(compares).toBe(5);
  expect(await login.check('address:10.0.0.1', 'nobody', 'again')).toEqual({ kind: 'throttled', reason: 'too-many-failures', retryAfterSeconds: 5 });
  // A limited client is limited for every password login, right ones included: otherwise the
  // answers would still tell a guesser when a guess was right.
  expect(await login.check('address:10.0.0.1', 'alice', 'alice-pw')).toMatchObject({ kind: 'throttled' });
  expect(compares).toBe(5);
  expect(await login.check('address:10.0.0.2', 'alice', 'alice-pw')).toEqual({ kind: 'accepted', user: 'alice' });
  now += 5_000;
  expect(await login.check('address:10.0.0.1', 'alice', 'alice-pw')).toEqual({ kind: 'accepted', user: 'alice' });
});

test('successful logins take nothing from the limit', async () => {
  for (let i = 0; i < 20; i++) expect(await login.check('address:10.0.0.3', 'alice', 'alice-pw')).toEqual({ kind: 'accepted', user: 'alice' });
  expect(await login.check('address:10.0.0.3', 'alice', 'wrong')).toEqual({ kind: 'refused' });
});

test('an empty user name is refused and counted', async () => {
  for (let i = 0; i < 5; i++) expect(await login.check('address:10.0.0.4', '', 'x')).toEqual({ kind: 'refused' });
  expect(await login.check('address:10.0.0.4', 'alice', 'alice-pw')).toMatchObject({ kind: 'throttled', reason: 'too-many-failures' });
});

test('too many checks at once: refused at once as checks-busy (retry in 1 s), and not counted as a failure', async () => {
  const path = join(dir, 'busy');
  writeFileSync(path, execFileSync('htpasswd', ['-nbB', '-C', '4', 'bob', 'bob-pw']).toString());
  let release!: () => void;
  const users = new HtpasswdFile(path, { maxConcurrentChecks: 1, maxQueuedChecks: 0, compare: () => new Promise<boolean>((resolve) => (release = () => resolve(false))) });
  await users.load();
  const limiter = new FailedLoginLimiter({ burst: 1, perMinute: 1, maxClients: 10 });
  const busy = new PasswordLogin(users, limiter);
  const first = busy.check('address:10.0.0.5', 'bob', 'x');
  expect(await busy.check('address:10.0.0.6', 'bob', 'y')).toEqual({ kind: 'throttled', reason: 'checks-busy', retryAfterSeconds: 1 });
  expect(limiter.retryAfterSeconds('address:10.0.0.6')).toBeUndefined();
  release();
  expect(await first).toEqual({ kind: 'refused' });
});
