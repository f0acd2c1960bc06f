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
