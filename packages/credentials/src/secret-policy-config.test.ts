import { resolve } from 'node:path';
import { z } from 'zod';
import { secretPolicyConfigFields, secretPolicyFrom, MAX_SECRET_BYTES } from './index.js';

const schema = z.object(secretPolicyConfigFields);

test('defaults: a secrets directory of its own, the PULLTHROUGH_SECRET_ prefix, no extra vault hosts', () => {
  expect(secretPolicyFrom(schema.parse({}))).toEqual({ fileDirs: ['/run/secrets/pullthrough'], envPrefix: 'PULLTHROUGH_SECRET_', keyVaultHosts: [], maxSecretBytes: MAX_SECRET_BYTES });
  expect(schema.parse({ PULLTHROUGH_SECRET_FILE_DIRS: '', PULLTHROUGH_KEYVAULT_HOSTS: '127.0.0.1, kv.local:8443' })).toMatchObject({ PULLTHROUGH_SECRET_FILE_DIRS: [], PULLTHROUGH_KEYVAULT_HOSTS: ['127.0.0.1', 'kv.local:8443'] });
});

test.each([
  ['PULLTHROUGH_SECRET_FILE_DIRS', 'relative/dir'],
  ['PULLTHROUGH_SECRET_FILE_DIRS', '/'],
  ['PULLTHROUGH_SECRET_ENV_PREFIX', ''],
  ['PULLTHROUGH_SECRET_ENV_PREFIX', 'PULLTHROUGH_'],
  ['PULLTHROUGH_SECRET_ENV_PREFIX', 'REDIS'],
  ['PULLTHROUGH_SECRET_ENV_PREFIX', 'BAD-PREFIX'],
  ['PULLTHROUGH_KEYVAULT_HOSTS', 'https://kv.local/'],
])('%s=%j is refused at start', (key, value) => {
  const parsed = schema.safeParse({ [key]: value });
  expect(parsed.success).toBe(false);
  expect(parsed.error?.issues[0]?.path).toEqual([key]);
});

test('the data directory (admin token, redis password, signing keys) is refused, as an absolute path', () => {
  const policy = secretPolicyFrom({ ...schema.parse({}), PULLTHROUGH_DATA_DIR: './data' });
  expect(policy.refusedDirs).toEqual([resolve('./data')]);
});
