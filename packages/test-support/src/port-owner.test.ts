import { spawn } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { listensOn } from './port-owner.js';
import { AddressInUseError, freePort } from './free-port.js';
import { startRedis } from './redis-server.js';

function listen(port = 0, onSocket?: (socket: import('node:net').Socket) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(onSocket);
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
const portOf = (server: Server): number => (server.address() as AddressInfo).port;
const close = (server: Server): Promise<void> => new Promise((r) => server.close(() => r()));

test('a process listens on its own port, not on a free one nor on another process port', async () => {
  const server = await listen();
  const port = portOf(server);
  const child = spawn(process.execPath, ['-e', "require('net').createServer().listen(0,'127.0.0.1',function(){console.log(this.address().port)})"], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const childPort = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
    expect(listensOn(process.pid, port)).toBe(true);
    expect(listensOn(process.pid, await freePort())).toBe(false);
    expect(listensOn(process.pid, childPort)).toBe(false);
    expect(listensOn(child.pid!, childPort)).toBe(true);
    expect(listensOn(child.pid!, port)).toBe(false);
  } finally {
    child.kill('SIGKILL');
    await close(server);
  }
  expect(listensOn(process.pid, port)).toBe(false); // closed
});

test('startRedis on a port another server answers PONG on fails with AddressInUseError instead of using that server', async () => {
  // What a race between freePort() and redis-server's bind looks like: another test's redis took the port.
  const impostor = await listen(0, (socket) => socket.on('data', () => socket.write('+PONG\r\n')));
  try {
    await expect(startRedis({ port: portOf(impostor) })).rejects.toBeInstanceOf(AddressInUseError);
  } finally {
    await close(impostor);
  }
});

test('startRedis on a port of its own is ready and its own', async () => {
  const port = await freePort();
  const redis = await startRedis({ port });
  try {
    expect(redis.port).toBe(port);
  } finally {
    await redis.stop();
  }
});
