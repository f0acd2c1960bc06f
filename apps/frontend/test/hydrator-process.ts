import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, tempDir, waitUntil, type ManagedProcess, type RedisServer } from '@pullthrough/test-support';
import type { Cache, Upstream } from './harness.js';

const MAIN = join(__dirname, '..', '..', 'hydrator', 'dist', 'main.js');

export interface HydratorProcess {
  proc: ManagedProcess;
  logPath: string;
  stop(): Promise<void>;
}

/** The built hydrator (`node apps/hydrator/dist/main.js`) as its own process, configured by env. */
export async function startHydratorProcess(env: Record<string, string>): Promise<HydratorProcess> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first (npx turbo run build)`);
  const dir = await tempDir('hydrator-proc-');
  const logPath = join(dir.path, 'hydrator.log');
  const proc = await startProcess({
    command: process.execPath,
    args: [MAIN],
    logPath,
    ownedDir: dir.path,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PULLTHROUGH_LOG_LEVEL: 'debug', PULLTHROUGH_EGRESS_ALLOW: '127.0.0.1', PULLTHROUGH_HYDRATOR_PORT: '0', ...env },
  });
  const { readFile } = await import('node:fs/promises');
  await waitUntil(async () => (await readFile(logPath, 'utf8')).includes('hydrator running'), {
    what: 'the hydrator to start',
    timeoutMs: 20_000,
    abort: () => (proc.exitStatus() ? new Error(`hydrator exited (${proc.exitStatus()}): ${proc.logTail()}`) : undefined),
  });
  return {
    proc,
    logPath,
    async stop() {
      await proc.stop();
      await dir.remove();
    },
  };
}

/**
 * The built hydrator working for `cache`: its data dir, redis and queue prefix, with `upstream`
 * reachable over plain HTTP; `env` adds to (or overrides) that.
 */
export function startHydratorFor(cache: Cache, redis: RedisServer, upstream: Upstream, env: Record<string, string> = {}): Promise<HydratorProcess> {
  return startHydratorProcess({
    PULLTHROUGH_DATA_DIR: cache.dataDir,
    REDIS_URL: redis.url,
    PULLTHROUGH_QUEUE_PREFIX: cache.queuePrefix,
    PULLTHROUGH_INSECURE_UPSTREAMS: upstream.proxy.host,
    ...env,
  });
}
