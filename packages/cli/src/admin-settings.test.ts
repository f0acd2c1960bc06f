import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminBaseUrl, readConfigFile, resolveSettings } from './admin-settings.js';
import { EXIT } from './exit-codes.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-settings-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function file(name: string, body: unknown, mode: number): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof body === 'string' ? body : JSON.stringify(body));
  await chmod(path, mode);
  return path;
}

test('a token file readable by group or others is refused; without a token the mode does not matter', async () => {
  for (const mode of [0o640, 0o604, 0o644]) {
    const path = await file(`open-${mode.toString(8)}.json`, { url: 'http://127.0.0.1:5001', token: 'tok-0123456789' }, mode);
    await expect(readConfigFile(path, true)).rejects.toMatchObject({ exitCode: EXIT.usage, message: expect.stringContaining(`run chmod 600 ${path}`) });
  }
  expect(await readConfigFile(await file('owner.json', { url: 'http://127.0.0.1:5001', token: 'tok-0123456789' }, 0o600), true)).toEqual({ url: 'http://127.0.0.1:5001', token: 'tok-0123456789' });
  expect(await readConfigFile(await file('no-token.json', { url: 'http://127.0.0.1:5001' }, 0o644), true)).toEqual({ url: 'http://127.0.0.1:5001' });
});

test('a missing default file is no file; a missing named file, bad JSON or unknown keys are errors', async () => {
  expect(await readConfigFile(join(dir, 'absent.json'), false)).toEqual({});
  await expect(readConfigFile(join(dir, 'absent.json'), true)).rejects.toMatchObject({ message: expect.stringContaining('cannot be read (ENOENT)') });
  await expect(readConfigFile(await file('bad.json', '{url', 0o600), true)).rejects.toMatchObject({ message: expect.stringContaining('is not valid JSON') });
  await expect(readConfigFile(await file('keys.json', { url: 'http://x', insecure: true }, 0o600), true)).rejects.toMatchObject({ message: expect.stringContaining('insecure: unknown key') });
});

test('flags win over the environment, which wins over the file; caFile is relative to the file', async () => {
  await writeFile(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const path = await file('full.json', { url: 'http://file:1', token: 'file-token', caFile: 'ca.pem' }, 0o600);
  const fromFile = await resolveSettings({ config: path }, {}, dir);
  expect(fromFile).toEqual({ url: 'http://file:1', token: 'file-token', ca: expect.stringContaining('BEGIN CERTIFICATE'), insecure: false });
  const fromEnv = await resolveSettings({ config: path }, { PULLTHROUGH_CLI_URL: 'https://env:2/', PULLTHROUGH_CLI_TOKEN: 'env-token' }, dir);
  expect(fromEnv).toMatchObject({ url: 'https://env:2', token: 'env-token' });
  const fromFlags = await resolveSettings({ config: path, url: 'http://flag:3/prefix/', token: 'flag-token', insecure: true }, { PULLTHROUGH_CLI_URL: 'https://env:2', PULLTHROUGH_CLI_TOKEN: 'env-token' }, dir);
  expect(fromFlags).toMatchObject({ url: 'http://flag:3/prefix', token: 'flag-token', insecure: true });
  await expect(resolveSettings({}, {}, dir)).rejects.toMatchObject({ exitCode: EXIT.usage, message: expect.stringContaining('no admin URL') });
});

test('the URL must be http(s) without credentials, query or fragment', () => {
  expect(adminBaseUrl('http://127.0.0.1:5001/', '--url')).toBe('http://127.0.0.1:5001');
  expect(() => adminBaseUrl('ftp://host', '--url')).toThrow('must be an http:// or https:// URL');
  expect(() => adminBaseUrl('https://user:pw@host', '--url')).toThrow('must not carry credentials');
  expect(() => adminBaseUrl('https://host/?a=1', '--url')).toThrow('must not have a query');
  expect(() => adminBaseUrl('not a url', '--url')).toThrow('is not a URL');
});
