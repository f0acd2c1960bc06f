import { runCommand } from './run-command.js';

export interface SkopeoRegistryOptions {
  /** Credentials; without them skopeo goes anonymous (`--no-creds`). */
  username?: string;
  password?: string;
  /** Default false: our registries speak plain HTTP on loopback. */
  tlsVerify?: boolean;
}

/**
 * `skopeo --insecure-policy copy --quiet <args>`. Resolves with stdout, rejects with skopeo's stderr.
 * Credentials and TLS flags are the caller's (`--dest-creds`, `--dest-tls-verify=false`, ...).
 */
export async function skopeoCopy(args: string[]): Promise<string> {
  const { stdout } = await runCommand('skopeo', ['--insecure-policy', 'copy', '--quiet', ...args]);
  return stdout.toString('utf8');
}

/** `skopeo inspect --raw docker://<ref>`: the manifest bytes exactly as the registry serves them. */
export async function skopeoInspectRaw(ref: string, options: SkopeoRegistryOptions = {}): Promise<Buffer> {
  const { stdout } = await runCommand('skopeo', ['inspect', '--raw', ...skopeoRegistryFlags('', options), `docker://${ref}`]);
  return stdout;
}

/** TLS and credential flags for one side: `side` is `src-`, `dest-` or `` (inspect). */
export function skopeoRegistryFlags(side: '' | 'src-' | 'dest-', options: SkopeoRegistryOptions): string[] {
  const flags = [`--${side}tls-verify=${options.tlsVerify ?? false}`];
  if (options.username !== undefined) flags.push(`--${side}creds`, `${options.username}:${options.password ?? ''}`);
  else flags.push(`--${side}no-creds`);
  return flags;
}
