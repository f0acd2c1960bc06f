import { createServer, type Server } from 'node:net';
import { AddressInUseError, freePort, withFreePort } from './free-port.js';

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

test('freePort gives a port that can be listened on', async () => {
  const server = await listen(await freePort());
  await new Promise((r) => server.close(r));
});

test('freePort does not hand out a port again soon (the kernel often gives a port just closed to the next listen)', async () => {
  const ports: number[] = [];
  for (let i = 0; i < 1000; i++) ports.push(await freePort());
  expect(new Set(ports).size).toBe(ports.length);
});

test('withFreePort retries on EADDRINUSE / AddressInUseError, with a new port each time', async () => {
  const taken = await listen(0);
  const seen: number[] = [];
  try {
    const result = await withFreePort(async (port) => {
      seen.push(port);
      if (seen.length === 1) await listen((taken.address() as { port: number }).port); // real EADDRINUSE
      if (seen.length === 2) throw new AddressInUseError(port);
      return port;
    });
    expect(seen).toHaveLength(3);
    expect(result).toBe(seen[2]);
  } finally {
    await new Promise((r) => taken.close(r));
  }
});

test('withFreePort does not retry other errors, and gives up after the attempts', async () => {
  let calls = 0;
  await expect(withFreePort(async () => (calls++, Promise.reject(new Error('boom'))))).rejects.toThrow('boom');
  expect(calls).toBe(1);
  await expect(withFreePort((port) => Promise.reject(new AddressInUseError(port)), 3)).rejects.toBeInstanceOf(AddressInUseError);
});
