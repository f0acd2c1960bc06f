import { execFile } from 'node:child_process';

export interface CommandResult {
  stdout: Buffer;
  stderr: string;
}

/** Run a short-lived command to completion; rejects with its stderr when it fails. */
export function runCommand(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 120_000, killSignal: 'SIGKILL', env: options.env ?? process.env },
      (err, stdout, stderr) => {
        const errText = stderr.toString('utf8');
        if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${errText.trim() || err.message}`, { cause: err }));
        else resolve({ stdout, stderr: errText });
      },
    );
  });
}
