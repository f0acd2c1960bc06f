import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { AddressInUseError, withFreePort } from './free-port.js';
import { listensOn } from './port-owner.js';
import { startProcess } from './managed-process.js';
import { tempDir } from './temp-dir.js';
import { waitUntil } from './wait-until.js';

/** Azurite's well-known development account (public, documented by Microsoft; not a secret). */
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  /** Connection string of the development account on this instance. */
  readonly connectionString: string;
  /** `http://127.0.0.1:<port>/devstoreaccount1` */
  readonly accountUrl: string;
  readonly port: number;
  readonly logPath: string;
  /** A container name no other test uses (the container itself is created by whoever uses it). */
  uniqueContainer(): string;
  /** Kill Azurite and remove its directory. Idempotent. */
  stop(): Promise<void>;
}

/** azurite-blob of the root node_modules (a devDependency of test-support), never through npx. */
function azuriteBlobBin(): string {
  return resolve(__dirname, '..', '..', '..', 'node_modules', '.bin', 'azurite-blob');
}

/** Azurite's blob service on loopback, in memory (nothing on disk but its log). */
export async function startAzurite(): Promise<Azurite> {
  const dir = await tempDir('azurite-');
  const logPath = join(dir.path, 'azurite.log');
  try {
    return await withFreePort(async (port) => {
      const proc = await startProcess({
        command: azuriteBlobBin(),
        args: ['--silent', '--disableTelemetry', '--skipApiVersionCheck', '--inMemoryPersistence', '--blobHost', '127.0.0.1', '--blobPort', String(port)],
        logPath,
        ownedDir: dir.path,
      });
      try {
        await waitUntil(async () => (await answers(port)) && listensOn(proc.pid, port), {
          what: `azurite-blob on port ${port}`,
          abort: () => (proc.exitStatus() ? new Error(`azurite-blob exited (${proc.exitStatus()}): ${proc.logTail()}`) : undefined),
        });
      } catch (err) {
        await proc.stop();
        if (/EADDRINUSE|address already in use/i.test(proc.logTail())) throw new AddressInUseError(port, err);
        throw err;
      }
      const accountUrl = `http://127.0.0.1:${port}/${DEV_ACCOUNT}`;
      let stopped: Promise<void> | undefined;
      let containers = 0;
      const prefix = `${process.pid}${randomBytes(4).toString('hex')}`;
      return {
        connectionString: `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=${accountUrl};`,
        accountUrl,
        port,
        logPath,
        uniqueContainer: () => `t${prefix}-${++containers}`,
        stop: () => (stopped ??= proc.stop().finally(() => dir.remove())),
      };
    });
  } catch (err) {
    await dir.remove();
    throw err;
  }
}

/** Azurite answers an HTTP request (any status) once its blob service listens. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolveAnswer) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolveAnswer(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write(`GET /${DEV_ACCOUNT}?comp=list HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
    socket.on('data', (d) => {
      reply += d.toString('latin1');
      if (reply.startsWith('HTTP/1.1 ')) done(true);
    });
  });
}
