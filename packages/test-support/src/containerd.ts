import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startProcess } from './managed-process.js';
import { runCommand, type CommandResult } from './run-command.js';
import { tempDir } from './temp-dir.js';
import { waitUntil } from './wait-until.js';

export interface Containerd {
  /** The daemon's gRPC socket, for `ctr --address`. */
  readonly address: string;
  readonly logPath: string;
  /** Run `ctr --address <socket> --namespace test <args>`; rejects with ctr's stderr on failure. */
  ctr(args: string[]): Promise<CommandResult>;
  stop(): Promise<void>;
}

/**
 * A private containerd (Debian's) with its own root, state and socket in a temp dir, so `ctr` can
 * pull through the cache the way a cluster node does. Only the content store is used (no CRI,
 * no unpacking), which needs no kernel features beyond a filesystem.
 */
export async function startContainerd(): Promise<Containerd> {
  const dir = await tempDir('containerd-');
  const address = join(dir.path, 'containerd.sock');
  const config = join(dir.path, 'config.toml');
  const logPath = join(dir.path, 'containerd.log');
  await writeFile(
    config,
    [
      'version = 2',
      `root = "${join(dir.path, 'root')}"`,
      `state = "${join(dir.path, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${address}"`,
      '[ttrpc]',
      `  address = "${join(dir.path, 'containerd-ttrpc.sock')}"`,
      '',
    ].join('\n'),
  );
  const proc = await startProcess({ command: 'containerd', args: ['--config', config], logPath, ownedDir: dir.path });
  const ctr = (args: string[]) => runCommand('ctr', ['--address', address, '--namespace', 'test', ...args], { timeoutMs: 120_000 });
  try {
    await waitUntil(async () => (await ctr(['version'])).stdout.length > 0, {
      what: 'containerd to answer',
      abort: () => (proc.exitStatus() ? new Error(`containerd exited (${proc.exitStatus()}): ${proc.logTail()}`) : undefined),
    });
  } catch (err) {
    await proc.stop();
    await dir.remove();
    throw err;
  }
  let stopped: Promise<void> | undefined;
  return { address, logPath, ctr, stop: () => (stopped ??= proc.stop().finally(() => dir.remove())) };
}
