import { connect } from 'node:net';
import { join } from 'node:path';
import { AddressInUseError, withFreePort } from './free-port.js';
import { startProcess, type ManagedProcess } from './managed-process.js';
import { listensOn } from './port-owner.js';
import { tempDir } from './temp-dir.js';
import { waitUntil } from './wait-until.js';

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** redis-server's own log. */
  readonly logPath: string;
  /** Kill the server and remove its directory. Idempotent. */
  stop(): Promise<void>;
  /** Kill the server process only (an outage): clients get connection refused. */
  kill(): Promise<void>;
  /** Start the server again on the same port (after kill). Data is not kept (no persistence). */
  restart(): Promise<void>;
}

export interface RedisOptions {
  /** Listen on this port, with no retry on another when it is taken (tests of the start itself); default a free one. */
  port?: number;
}

/** A throwaway redis-server on loopback: no persistence, its own temp dir. */
export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const dir = await tempDir('redis-');
  const logPath = join(dir.path, 'redis.log');
  const onPort = options.port === undefined ? withFreePort : <T>(start: (port: number) => Promise<T>) => start(options.port!);
  try {
    return await onPort(async (port) => {
      let proc = await launch(port, dir.path, logPath);
      let stopped: Promise<void> | undefined;
      return {
        url: `redis://127.0.0.1:${port}`,
        host: '127.0.0.1',
        port,
        logPath,
        stop: () => (stopped ??= proc.stop().finally(() => dir.remove())),
        kill: () => proc.stop(),
        restart: async () => {
          if (stopped) throw new Error('redis-server was stopped for good');
          await proc.stop();
          proc = await launch(port, dir.path, logPath);
        },
      };
    });
  } catch (err) {
    await dir.remove();
    throw err;
  }
}

async function launch(port: number, dir: string, logPath: string): Promise<ManagedProcess> {
  const proc = await startProcess({
    command: 'redis-server',
    args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    logPath,
    ownedDir: dir,
  });
  try {
    // Ready when it answers and the listener is this process's: another redis on the port would answer too.
    await waitUntil(async () => (await ping(port)) && listensOn(proc.pid, port), {
      what: `redis-server on port ${port}`,
      abort: () => (proc.exitStatus() ? new Error(`redis-server exited (${proc.exitStatus()}): ${proc.logTail()}`) : undefined),
    });
  } catch (err) {
    await proc.stop();
    if (/address already in use/i.test(proc.logTail())) throw new AddressInUseError(port, err);
    throw err;
  }
  return proc;
}

/** Send an inline PING and expect `+PONG`. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}
