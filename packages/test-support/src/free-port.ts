import { createServer, type AddressInfo, type Server } from 'node:net';

/**
 * Ports this process handed out lately. Linux gives a port just closed to a later listen(0) often
 * (72 repeats in 1,000 calls here), so two ports asked for one after the other (a frontend's data,
 * admin and peer ports) could be the same one.
 */
const handedOut = new Set<number>();
const REMEMBERED_PORTS = 4096;

function listenOnAnyPort(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (listen on 0, read it, close), and not one this
 * process handed out among its last REMEMBERED_PORTS: the ports held while looking are closed only
 * once one is found, so the kernel gives another each time.
 */
export async function freePort(): Promise<number> {
  const held: Server[] = [];
  try {
    for (let attempt = 0; attempt < 64; attempt++) {
      const server = await listenOnAnyPort();
      held.push(server);
      const { port } = server.address() as AddressInfo;
      if (handedOut.has(port)) continue;
      handedOut.add(port);
      if (handedOut.size > REMEMBERED_PORTS) handedOut.delete(handedOut.values().next().value as number);
      return port;
    }
    throw new Error('no free port that this process has not handed out lately');
  } finally {
    await Promise.all(held.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

/** Thrown by a start function when the port it was given was taken in the meantime. */
export class AddressInUseError extends Error {
  constructor(port: number, cause?: unknown) {
    super(`127.0.0.1:${port} is already in use`, { cause });
    this.name = 'AddressInUseError';
  }
}

/** Run `start` with a free port; pick another one when it throws AddressInUseError (or EADDRINUSE). */
export async function withFreePort<T>(start: (port: number) => Promise<T>, attempts = 5): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    const port = await freePort();
    try {
      return await start(port);
    } catch (err) {
      const inUse = err instanceof AddressInUseError || (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (!inUse) throw err;
      last = err;
    }
  }
  throw last;
}
