import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { freePort } from './free-port.js';
import { startProcess, type ManagedProcess } from './managed-process.js';
import { tempDir } from './temp-dir.js';
import { uniquePrefix } from './unique-prefix.js';
import { waitUntil } from './wait-until.js';

const ROOT = resolve(__dirname, '..', '..', '..');
/** The node flags the apps are deployed with (scripts/node-flags.js): the deployment runs them as production does. */
const { NODE_FLAGS, withNodeEnv } = require(join(ROOT, 'scripts', 'node-flags.js')) as { NODE_FLAGS: readonly string[]; withNodeEnv: (env: Record<string, string>) => Record<string, string> };

/** Where the processes keep the registry store: one filesystem dir they all share, or one Azure Blob container. */
export type ScaleOutStorage = { kind: 'filesystem' } | { kind: 'azure-blob'; connectionString: string; container: string };

export interface ScaleOutOptions {
  /** Frontend processes (default 3). */
  frontends?: number;
  /** Hydrator processes (default 2). */
  hydrators?: number;
  redisUrl: string;
  /** Default: one filesystem dir. An Azure Blob container must exist already (the operator's job). */
  storage?: ScaleOutStorage;
  /** Upstream hosts reached over plain HTTP (and allowed by the egress policy: they listen on loopback). */
  insecureUpstreams: string[];
  /** Settings for every process (e.g. PULLTHROUGH_BLOB_LEASE_MS). */
  env?: Record<string, string>;
  frontendEnv?: Record<string, string>;
  hydratorEnv?: Record<string, string>;
  /** The built apps (default: this repository's apps/<app>/dist/main.js). */
  frontendMain?: string;
  hydratorMain?: string;
}

export interface AppProcess {
  readonly index: number;
  readonly proc: ManagedProcess;
  readonly pid: number;
  readonly logPath: string;
  /** Still running (not exited, not killed). */
  alive(): boolean;
  /** Send `signal` (e.g. SIGKILL: a crash, nothing drains) and resolve once the process has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

export interface FrontendProcess extends AppProcess {
  /** `http://127.0.0.1:<port>`: the OCI Distribution API. */
  readonly dataUrl: string;
  /** `127.0.0.1:<port>` of the data plane (for skopeo). */
  readonly host: string;
  readonly adminUrl: string;
  /** The port given in PULLTHROUGH_PEER_PORT (peer streaming between frontends, where the build has it). */
  readonly peerPort: number;
}

export interface HydratorProcess extends AppProcess {
  /** `http://127.0.0.1:<port>`: /healthz, /readyz, /metrics. */
  readonly probeUrl: string;
}

export interface ScaleOut {
  readonly frontends: FrontendProcess[];
  readonly hydrators: HydratorProcess[];
  /** The admin API bearer token of every frontend. */
  readonly adminToken: string;
  /** The Redis key prefix they share. */
  readonly queuePrefix: string;
  /** The shared store's dir (filesystem storage), else undefined. */
  readonly storeDir?: string;
  /** Stop every process still running (SIGTERM, SIGKILL after a grace period) and remove their dirs. */
  stop(): Promise<void>;
}

/**
 * Frontends and hydrators from the built apps, each its own process on 127.0.0.1 with free ports,
 * sharing one store and one Redis key prefix: a scale-out deployment on one machine. Resolves once
 * every one answers its /readyz.
 */
export async function startScaleOut(options: ScaleOutOptions): Promise<ScaleOut> {
  const dir = await tempDir('scale-out-');
  const started: AppProcess[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(started.map((p) => p.proc.stop()));
    await dir.remove();
  };
  try {
    const storage = options.storage ?? { kind: 'filesystem' };
    const storeDir = storage.kind === 'filesystem' ? join(dir.path, 'store') : undefined;
    const adminToken = randomBytes(16).toString('hex');
    const queuePrefix = uniquePrefix('scale');
    const shared: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      PULLTHROUGH_HOST: '127.0.0.1',
      REDIS_URL: options.redisUrl,
      PULLTHROUGH_QUEUE_PREFIX: queuePrefix,
      PULLTHROUGH_INSECURE_UPSTREAMS: options.insecureUpstreams.join(','),
      PULLTHROUGH_EGRESS_ALLOW: '127.0.0.1',
      ...(storage.kind === 'azure-blob'
        ? { PULLTHROUGH_STORAGE: 'azure-blob', PULLTHROUGH_AZURE_BLOB_CONNECTION_STRING: storage.connectionString, PULLTHROUGH_AZURE_BLOB_CONTAINER: storage.container }
        : {}),
      ...options.env,
    };
    /** The data dir: the shared store, or (Azure Blob) a dir of the process's own for its local files. */
    const dataDir = async (name: string): Promise<string> => {
      const path = storeDir ?? join(dir.path, name);
      await mkdir(path, { recursive: true });
      return path;
    };
    const app = async (name: string, main: string, env: Record<string, string>, ready: string): Promise<ManagedProcess> => {
      const logPath = join(dir.path, `${name}.log`);
      const proc = await startProcess({ command: process.execPath, args: [...NODE_FLAGS, main], logPath, ownedDir: dir.path, env: withNodeEnv({ ...shared, PULLTHROUGH_DATA_DIR: await dataDir(name), ...env }) });
      await waitUntil(
        async () => {
          const res = await fetch(ready, { signal: AbortSignal.timeout(2_000) });
          await res.arrayBuffer();
          return res.status === 200;
        },
        {
        what: `${name} to be ready (${ready})`,
        timeoutMs: 60_000,
          abort: () => (proc.exitStatus() ? new Error(`${name} exited (${proc.exitStatus()}): ${proc.logTail()}`) : undefined),
        },
      ).catch(async (err: unknown) => {
        await proc.stop();
        throw err;
      });
      return proc;
    };
    const frontendMain = options.frontendMain ?? join(ROOT, 'apps', 'frontend', 'dist', 'main.js');
    const hydratorMain = options.hydratorMain ?? join(ROOT, 'apps', 'hydrator', 'dist', 'main.js');

    const frontends = await Promise.all(
      Array.from({ length: options.frontends ?? 3 }, async (_, index): Promise<FrontendProcess> => {
        const [dataPort, adminPort, peerPort] = [await freePort(), await freePort(), await freePort()];
        const adminUrl = `http://127.0.0.1:${adminPort}`;
        const env = {
          PULLTHROUGH_DATA_PORT: String(dataPort),
          PULLTHROUGH_ADMIN_PORT: String(adminPort),
          PULLTHROUGH_ADMIN_TOKEN: adminToken,
          // Peer streaming between frontends (ignored by a build without it: unknown settings are dropped).
          PULLTHROUGH_PEER_PORT: String(peerPort),
          PULLTHROUGH_PEER_HOST: '127.0.0.1',
          PULLTHROUGH_PEER_URL: `http://127.0.0.1:${peerPort}`,
          PULLTHROUGH_PEER_ALLOWED_NETWORKS: '127.0.0.1/32',
          ...options.frontendEnv,
        };
        const proc = await app(`frontend-${index}`, frontendMain, env, `${adminUrl}/readyz`);
        const handle = { ...appProcess(index, proc, join(dir.path, `frontend-${index}.log`)), dataUrl: `http://127.0.0.1:${dataPort}`, host: `127.0.0.1:${dataPort}`, adminUrl, peerPort };
        started.push(handle);
        return handle;
      }),
    );
    const hydrators = await Promise.all(
      Array.from({ length: options.hydrators ?? 2 }, async (_, index): Promise<HydratorProcess> => {
        const port = await freePort();
        const probeUrl = `http://127.0.0.1:${port}`;
        const proc = await app(`hydrator-${index}`, hydratorMain, { PULLTHROUGH_HYDRATOR_PORT: String(port), ...options.hydratorEnv }, `${probeUrl}/readyz`);
        const handle = { ...appProcess(index, proc, join(dir.path, `hydrator-${index}.log`)), probeUrl };
        started.push(handle);
        return handle;
      }),
    );
    let stopped: Promise<void> | undefined;
    return { frontends, hydrators, adminToken, queuePrefix, storeDir, stop: () => (stopped ??= stopAll()) };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

function appProcess(index: number, proc: ManagedProcess, logPath: string): AppProcess {
  return {
    index,
    proc,
    pid: proc.pid,
    logPath,
    alive: () => proc.exitStatus() === undefined,
    async kill(signal) {
      try {
        process.kill(-proc.pid, signal);
      } catch {
        // already gone
      }
      await waitUntil(async () => proc.exitStatus() !== undefined, { what: `pid ${proc.pid} to exit after ${signal}`, timeoutMs: 10_000, intervalMs: 10 });
    },
  };
}
