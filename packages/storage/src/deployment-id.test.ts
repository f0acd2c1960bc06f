import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deploymentId } from './deployment-id.js';
import { FilesystemDriver } from './filesystem-driver.js';
import { RegistryStore } from './registry-store.js';

// The deployment id in a real filesystem control area, as processes sharing it see it.
let dir: string;
const control = () => new RegistryStore(new FilesystemDriver(dir)).control;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deployment-id-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

test('processes starting at once on an empty store get one id; later ones read it', async () => {
  const ids = await Promise.all(Array.from({ length: 6 }, () => deploymentId(control())));
  expect(ids[0]).toMatch(/^[0-9a-f]{16}$/);
  expect(new Set(ids).size).toBe(1);
  expect(await deploymentId(control())).toBe(ids[0]);
});

test('a damaged id is replaced', async () => {
  await control().putControl('deployment', 'id', { id: 'nope' });
  const id = await deploymentId(control());
  expect(id).toMatch(/^[0-9a-f]{16}$/);
  expect(await control().getControl('deployment', 'id')).toEqual({ id });
});
