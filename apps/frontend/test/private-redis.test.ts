import { readFile, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort, startProcess, tempDir, waitUntil, type ManagedProcess, type TempDir } from '@pullthrough/test-support';

const ROOT = join(__dirname, '..', '..', '..');
// scripts/start.js's own piece (plain CommonJS, outside the TypeScript projects).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { privateRedis } = require(join(ROOT, 'scripts', 'private-redis.js')) as {
  privateRedis(dataDir: string, port: number): { args: string[]; url: string; display: string };
};

describe("scripts/start.js's private redis-server", () => {
  let work: TempDir;
  let proc: ManagedProcess | undefined;
  beforeAll(async () => {
    work = await tempDir('private-redis-');
  });
  afterAll(async () => {
    await proc?.stop();
    await work?.remove();
  });

  test('requires the generated password, which is kept 0600 in the data dir and never on the command line', async () => {
    const dataDir = join(work.path, 'data');
    const port = await freePort();
    const redis = privateRedis(dataDir, port);
    const password = (await readFile(join(dataDir, 'redis-password'), 'utf8')).trim();
    expect(password).toMatch(/^[0-9a-f]{64}$/);
    expect(redis.url).toBe(`redis://:${password}@127.0.0.1:${port}`);
    expect(redis.display).not.toContain(password);
    expect(redis.args.join(' ')).not.toContain(password);
    expect((await stat(join(dataDir, 'redis-password'))).mode & 0o777).toBe(0o600);
    expect((await stat(redis.args[0]!)).mode & 0o777).toBe(0o600);

    proc = await startProcess({ command: 'redis-server', args: redis.args, logPath: join(work.path, 'redis.log') });
    await waitUntil(async () => (await ping(redis.url).catch(() => '')) === 'PONG', { what: 'redis-server to answer with the password' });
    expect(await rawPing(port)).toMatch(/^-NOAUTH /);
    const cmdline = await readFile(`/proc/${proc.pid}/cmdline`, 'utf8');
    expect(cmdline).not.toContain(password);
    // A restart keeps the same password (the URL the apps were given stays valid).
    expect(privateRedis(dataDir, port).url).toBe(redis.url);
  });

  test('keeps its data: an append-only file in <data dir>/redis, fsync every second', async () => {
    const dataDir = join(work.path, 'data-aof');
    const port = await freePort();
    const redis = privateRedis(dataDir, port);
    const own = await startProcess({ command: 'redis-server', args: redis.args, logPath: join(work.path, 'redis-aof.log') });
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await waitUntil(async () => (await ping(redis.url).catch(() => '')) === 'PONG', { what: 'redis-server to answer' });
      await client.connect();
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'yes']);
      expect(await client.config('GET', 'appendfsync')).toEqual(['appendfsync', 'everysec']);
      expect(await client.config('GET', 'dir')).toEqual(['dir', join(dataDir, 'redis')]);
      expect(await client.config('GET', 'save')).toEqual(['save', '']);
    } finally {
      client.disconnect();
      await own.stop();
    }
  });
});

/** PING with a fresh client (no retries), then disconnect. */
async function ping(url: string): Promise<string> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await client.ping();
  } finally {
    client.disconnect();
  }
}

/** An inline PING without authenticating: the first reply line. */
function rawPing(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    let reply = '';
    socket.on('data', (c: Buffer) => {
      reply += c.toString('latin1');
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.split('\r\n')[0]!);
      }
    });
    socket.on('error', reject);
  });
}
