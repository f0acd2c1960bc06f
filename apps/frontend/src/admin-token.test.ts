import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveAdminToken } from './admin-token.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'admin-token-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

test('a generated admin token is written 0600, also over an unusable (too short) readable file', async () => {
  const first = await resolveAdminToken(undefined, dir);
  expect(first.generated).toBe(true);
  expect((await stat(join(dir, 'admin-token'))).mode & 0o777).toBe(0o600);
  expect((await readFile(join(dir, 'admin-token'), 'utf8')).trim()).toBe(first.token);

  await writeFile(join(dir, 'admin-token'), 'short\n', { mode: 0o644 });
  const second = await resolveAdminToken(undefined, dir);
  expect(second.generated).toBe(true);
  expect(second.token).not.toBe(first.token);
  expect((await stat(join(dir, 'admin-token'))).mode & 0o777).toBe(0o600);
});
