import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { connect } from 'node:net';
import Redis from 'ioredis';
import { startRedis, uniquePrefix } from './index.js';

describe('startRedis', () => {
  test('answers PING, then stop() kills it and removes its directory', async () => {
    const redis = await startRedis();
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await client.connect();
      expect(await client.ping()).toBe('PONG');
      await client.set('k', 'v');
      expect(await client.get('k')).toBe('v');
    } finally {
      client.disconnect();
    }
    await redis.stop();
    expect(existsSync(dirname(redis.logPath))).toBe(false);
    await expect(tcpConnect(redis.port)).rejects.toThrow(/ECONNREFUSED/);
    await redis.stop(); // idempotent
  });

  test('kill() is an outage and restart() brings it back on the same port; a client reconnects', async () => {
    const redis = await startRedis();
    const client = new Redis(redis.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 100 });
    client.on('error', () => undefined);
    try {
      await waitFor(async () => (await client.ping().catch(() => '')) === 'PONG');
      await redis.kill();
      await expect(tcpConnect(redis.port)).rejects.toThrow(/ECONNREFUSED/);
      await expect(client.ping()).rejects.toThrow();
      await redis.restart();
      await waitFor(async () => (await client.ping().catch(() => '')) === 'PONG');
      expect(existsSync(redis.logPath)).toBe(true);
    } finally {
      client.disconnect();
      await redis.stop();
    }
  });

  test('two servers run side by side on different ports', async () => {
    const [a, b] = await Promise.all([startRedis(), startRedis()]);
    try {
      expect(a.port).not.toBe(b.port);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});

describe('uniquePrefix', () => {
  test('is unique, readable and has no colon (BullMQ uses it as a key prefix)', () => {
    const a = uniquePrefix('hydration: worker');
    const b = uniquePrefix('hydration: worker');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^test-hydration-worker-\d+-[0-9a-f]{8}$/);
    expect(a).not.toContain(':');
  });
});

function tcpConnect(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve();
    });
    socket.on('error', reject);
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
