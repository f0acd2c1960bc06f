import { createServer, type AddressInfo } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
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
