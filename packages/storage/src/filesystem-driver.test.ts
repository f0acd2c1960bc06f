import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { runDriverContract } from './driver-contract.js';
import { runUploadContract } from './upload-contract.js';
import { FilesystemDriver } from './filesystem-driver.js';

async function tempRoot(): Promise<string> {
  return fsp.mkdtemp(join(tmpdir(), 'pullthrough-fs-driver-'));
}

const freshFilesystem = async () => {
  const root = await tempRoot();
  return { driver: new FilesystemDriver(root), cleanup: () => fsp.rm(root, { recursive: true, force: true }) };
};
runDriverContract('filesystem', freshFilesystem);
runUploadContract('filesystem', freshFilesystem);

async function filesUnder(root: string): Promise<string[]> {
  const entries = await fsp.readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(root, join(e.parentPath, e.name)));
}

/**
 * Child process: loads the driver's TypeScript through @swc/core, starts a writer, writes a few
 * megabytes, reports, and waits to be killed (it never commits).
 */
const CHILD = `
const Module = require('node:module');
const fs = require('node:fs');
const swc = require(process.env.SWC_CORE);
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (request.startsWith('.') && request.endsWith('.js')) {
    try { return resolveFilename.call(this, request.slice(0, -3) + '.ts', parent, ...rest); } catch {}
  }
  return resolveFilename.call(this, request, parent, ...rest);
};
require.extensions['.ts'] = (module, filename) => {
  const { code } = swc.transformSync(fs.readFileSync(filename, 'utf8'), {
    filename, jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};
const { FilesystemDriver } = require(process.env.DRIVER_MODULE);
(async () => {
  const driver = new FilesystemDriver(process.env.STORAGE_ROOT);
  await driver.putContent('committed/before', Buffer.from('ok'));
  const writer = await driver.createWriter();
  const chunk = Buffer.alloc(1024 * 1024, 7);
  for (let i = 0; i < 4; i++) await new Promise((r) => writer.write(chunk, r));
  process.send('written');
  setInterval(() => writer.write(chunk), 5);
})();
`;

describe('filesystem driver specifics', () => {
  let root: string;
  beforeEach(async () => {
    root = await tempRoot();
  });
  afterEach(async () => {
    await fsp.rm(root, { recursive: true, force: true });
  });

  test('a writer killed mid-write leaves nothing outside _uploads/, and purge clears it', async () => {
    const scriptPath = `${root}-child.js`;
    await fsp.writeFile(scriptPath, CHILD);
    try {
      const child = fork(scriptPath, [], {
        execArgv: ['--conditions=source'],
        cwd: __dirname,
        env: { ...process.env, STORAGE_ROOT: root, DRIVER_MODULE: join(__dirname, 'filesystem-driver.ts'), SWC_CORE: require.resolve('@swc/core') },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => res(signal)));
      await new Promise<void>((res, rej) => {
        child.once('message', () => res());
        child.once('exit', (code) => rej(new Error(`child exited early with ${code}`)));
      });
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
    } finally {
      await fsp.rm(scriptPath, { force: true });
    }

    const files = await filesUnder(root);
    expect(files.filter((f) => !f.startsWith('_uploads/'))).toEqual(['committed/before']);
    expect(files.filter((f) => f.startsWith('_uploads/'))).toHaveLength(1);

    const driver = new FilesystemDriver(root);
    expect(await driver.list('')).toEqual(['committed']);
    expect(await driver.purgeUploads(0)).toBe(1);
    expect(await filesUnder(root)).toEqual(['committed/before']);
  });

  test('objects land at the documented place under the root', async () => {
    const driver = new FilesystemDriver(root);
    await driver.putContent('a/b/c', Buffer.from('x'));
    expect(await fsp.readFile(join(root, 'a', 'b', 'c'), 'utf8')).toBe('x');
  });

  test('chunks written without waiting (several batches in flight, each at its own offset) land intact and in order', async () => {
    const driver = new FilesystemDriver(root);
    const data = randomBytes(24 * 1024 * 1024 + 12_345);
    const writer = await driver.createWriter();
    // Every 64 KiB chunk at once, ignoring backpressure: the writer starts a batch per gathered MiB.
    for (let at = 0; at < data.length; at += 64 * 1024) writer.write(data.subarray(at, at + 64 * 1024));
    await writer.commit('batched/obj');
    expect(writer.bytesWritten).toBe(data.length);
    const back = await fsp.readFile(join(root, 'batched', 'obj'));
    expect(back.length).toBe(data.length);
    expect(back.equals(data)).toBe(true);
  });

  test('the written part reads back while the writer goes on, in whole batches; a reader opened before the commit reads on after it; a dropped writer answers false', async () => {
    const driver = new FilesystemDriver(root);
    const MiB = 1024 * 1024;
    const data = randomBytes(5 * MiB + 77);
    const writer = await driver.createWriter();
    const prefix = writer.writtenPrefix!;
    expect(prefix.bytes).toBe(0);
    // 2.5 MiB written: two whole MiB batches reach the file; the half MiB still gathers.
    for (let at = 0; at < 2.5 * MiB; at += 64 * 1024) writer.write(data.subarray(at, at + 64 * 1024));
    await expect(prefix.whenWritten(2 * MiB)).resolves.toBe(true);
    expect(prefix.bytes).toBe(2 * MiB);
    const reader = await prefix.open();
    try {
      const first = Buffer.alloc(2 * MiB);
      expect(await reader.read(first, 0)).toBe(2 * MiB);
      expect(first.equals(data.subarray(0, 2 * MiB))).toBe(true);
      const waiting = prefix.whenWritten(data.length);
      writer.write(data.subarray(2.5 * MiB));
      await writer.commit('read-back/obj');
      await expect(waiting).resolves.toBe(true);
      // The temporary file is gone from its name; the open reader still reads it.
      const rest = Buffer.alloc(data.length - 2 * MiB);
      expect(await reader.read(rest, 2 * MiB)).toBe(rest.length);
      expect(rest.equals(data.subarray(2 * MiB))).toBe(true);
    } finally {
      await reader.close();
    }
    await expect(prefix.open()).rejects.toThrow(/ENOENT/);

    const dropped = await driver.createWriter();
    dropped.write(data.subarray(0, MiB / 2));
    const never = dropped.writtenPrefix!.whenWritten(MiB);
    await dropped.abort();
    await expect(never).resolves.toBe(false);
    await expect(dropped.writtenPrefix!.whenWritten(MiB)).resolves.toBe(false);
  });

  test('a writer whose file fails mid-write errors, and commit rejects and leaves nothing', async () => {
    const driver = new FilesystemDriver(root);
    const writer = await driver.createWriter();
    const failed = new Promise<Error>((resolve) => writer.once('error', resolve));
    // The writer's file is swapped for one opened read-only: its batches fail (EBADF).
    const inside = writer as unknown as { handle: fsp.FileHandle };
    const original = inside.handle;
    await fsp.writeFile(join(root, 'read-only'), 'x');
    inside.handle = await fsp.open(join(root, 'read-only'), 'r');
    try {
      const chunk = Buffer.alloc(64 * 1024, 1);
      for (let i = 0; i < 64; i++) writer.write(chunk);
      expect((await failed).message).toMatch(/EBADF|bad file descriptor/i);
      await expect(writer.commit('failed/obj')).rejects.toThrow();
      expect(await driver.stat('failed/obj')).toBeUndefined();
    } finally {
      await original.close();
    }
  });

  test('names that would climb out of the root are refused', async () => {
    const driver = new FilesystemDriver(root);
    await expect(driver.getContent('a/../../etc/passwd')).rejects.toThrow();
    await expect(driver.stat('..')).rejects.toThrow();
  });
});
