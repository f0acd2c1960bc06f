import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { onProcessExit } from './exit-cleanup.js';

export interface ProcessSpec {
  command: string;
  args: string[];
  /** stdout and stderr are appended here. */
  logPath: string;
  /** Removed by the watchdog if the test process dies without calling stop(). */
  ownedDir?: string;
  env?: NodeJS.ProcessEnv;
}

export interface ManagedProcess {
  readonly pid: number;
  /** `undefined` while running, else e.g. `code 1` or `signal SIGTERM`. */
  exitStatus(): string | undefined;
  /** The end of the log file, for error messages. */
  logTail(bytes?: number): string;
  /** SIGTERM the process group, SIGKILL after a grace period; resolves once it has exited. */
  stop(): Promise<void>;
}

// Reads one line from a pipe we hold. If we die (even by SIGKILL) the pipe closes without that
// line, and the watchdog kills the child's process group and removes its directory.
const WATCHDOG = `trap '' INT TERM HUP; if ! read -r _; then kill -KILL -"$1" 2>/dev/null; [ -z "$2" ] || rm -rf -- "$2"; fi`;
const GRACE_MS = 5_000;

/**
 * Start a long-running child in its own process group, with its output in a log file.
 * Nothing it owns outlives the test process: `stop()`, an exit hook and a watchdog all kill it.
 */
export async function startProcess(spec: ProcessSpec): Promise<ManagedProcess> {
  const log = openSync(spec.logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, { stdio: ['ignore', log, log], detached: true, env: spec.env ?? process.env });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  } finally {
    closeSync(log);
  }
  const pid = child.pid!;
  let status: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      status = signal ? `signal ${signal}` : `code ${code}`;
      resolve();
    });
  });
  child.unref();

  const watchdog = spawn('sh', ['-c', WATCHDOG, 'watchdog', String(pid), spec.ownedDir ?? ''], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  watchdog.unref();
  (watchdog.stdin as unknown as { unref?: () => void }).unref?.();
  watchdog.stdin!.on('error', () => undefined);

  const killGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  const forgetExit = onProcessExit(() => killGroup('SIGKILL'));

  let stopping: Promise<void> | undefined;
  return {
    pid,
    exitStatus: () => status,
    logTail(bytes = 2_000) {
      try {
        return readFileSync(spec.logPath, 'utf8').slice(-bytes);
      } catch {
        return '';
      }
    },
    stop() {
      stopping ??= (async () => {
        if (status === undefined) {
          killGroup('SIGTERM');
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<void>((resolve) => {
            timer = setTimeout(() => {
              killGroup('SIGKILL');
              resolve();
            }, GRACE_MS);
          });
          await Promise.race([exited, late]);
          clearTimeout(timer);
          await exited;
        }
        watchdog.stdin!.end('stopped\n');
        forgetExit();
      })();
      return stopping;
    },
  };
}

/** The parent's environment without variables a child would misread (e.g. REGISTRY_* for docker-registry). */
export function cleanEnv(dropPrefixes: string[]): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !dropPrefixes.some((p) => k.startsWith(p))));
}
