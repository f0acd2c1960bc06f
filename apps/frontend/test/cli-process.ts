import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The built CLI: tests run it as users do, `node packages/cli/dist/main.js ...`, in its own process. */
export const CLI_MAIN = join(__dirname, '..', '..', '..', 'packages', 'cli', 'dist', 'main.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Run the built CLI with `args`. Its environment is only PATH, a HOME of the caller's choosing (so
 * no real ~/.config file is read) and `env`; `stdin` is written and closed.
 */
export function runCli(args: string[], options: { env?: Record<string, string>; home: string; stdin?: string; timeoutMs?: number; tty?: boolean }): Promise<CliRun> {
  if (!existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} is missing: build first (npx turbo run build)`);
  // `tty`: under util-linux `script`, whose pseudo-terminal is the CLI's stdout and stderr (both end up in `stdout`).
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const [command, argv]: [string, string[]] = options.tty ? ['script', ['-qfec', [process.execPath, CLI_MAIN, ...args].map(quote).join(' '), '/dev/null']] : [process.execPath, [CLI_MAIN, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, {
      env: { PATH: process.env.PATH ?? '', HOME: options.home, ...(options.env ?? {}) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}
