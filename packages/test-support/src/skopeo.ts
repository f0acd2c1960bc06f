import { runCommand } from './run-command.js';

export interface SkopeoRegistryOptions {
  /** Credentials; without them skopeo goes anonymous (`--no-creds`). */
  username?: string;
  password?: string;
  /** Default false: our registries speak plain HTTP on loopback. */
  tlsVerify?: boolean;
  /** A registries.conf of our own (`--registries-conf`), e.g. with mirrors (see writeRegistriesConf). */
  registriesConf?: string;
}

/** What `skopeo inspect` (parsed, no `--raw`) reports about an image. */
export interface SkopeoInspection {
  Name: string;
  Digest: string;
  RepoTags: string[];
  Architecture: string;
  Os: string;
  Layers: string[];
}

/**
 * `skopeo --insecure-policy copy --quiet <args>`. Resolves with stdout, rejects with skopeo's stderr.
 * Credentials and TLS flags are the caller's (`--dest-creds`, `--dest-tls-verify=false`, ...).
 */
export async function skopeoCopy(args: string[], options: Pick<SkopeoRegistryOptions, 'registriesConf'> = {}): Promise<string> {
  const { stdout } = await runCommand('skopeo', [...globalFlags(options), '--insecure-policy', 'copy', '--quiet', ...args]);
  return stdout.toString('utf8');
}

/** `skopeo inspect --raw docker://<ref>`: the manifest bytes exactly as the registry serves them. */
export async function skopeoInspectRaw(ref: string, options: SkopeoRegistryOptions = {}): Promise<Buffer> {
  const { stdout } = await runCommand('skopeo', [...globalFlags(options), 'inspect', '--raw', ...skopeoRegistryFlags('', options), `docker://${ref}`]);
  return stdout;
}

/**
 * `skopeo inspect docker://<ref>`: skopeo's own summary (for an index, of the linux/amd64 image; `Digest` is the
 * index's). `RepoTags` comes from a tags/list of the registry the name points at (never a mirror); `noTags` skips it.
 */
export async function skopeoInspect(ref: string, options: SkopeoRegistryOptions & { noTags?: boolean } = {}): Promise<SkopeoInspection> {
  const tags = options.noTags ? ['--no-tags'] : [];
  const args = [...globalFlags(options), '--override-os', 'linux', '--override-arch', 'amd64', 'inspect', ...tags, ...skopeoRegistryFlags('', options), `docker://${ref}`];
  const { stdout } = await runCommand('skopeo', args);
  return JSON.parse(stdout.toString('utf8')) as SkopeoInspection;
}

/** `skopeo list-tags docker://<repository>`: the tags the registry lists, in its order (registries.conf mirrors are not used for this). */
export async function skopeoListTags(repository: string, options: SkopeoRegistryOptions = {}): Promise<string[]> {
  const { stdout } = await runCommand('skopeo', [...globalFlags(options), 'list-tags', ...skopeoRegistryFlags('', options), `docker://${repository}`]);
  return (JSON.parse(stdout.toString('utf8')) as { Tags: string[] }).Tags;
}

/** TLS and credential flags for one side: `side` is `src-`, `dest-` or `` (inspect, list-tags). */
export function skopeoRegistryFlags(side: '' | 'src-' | 'dest-', options: SkopeoRegistryOptions): string[] {
  const flags = [`--${side}tls-verify=${options.tlsVerify ?? false}`];
  if (options.username !== undefined) flags.push(`--${side}creds`, `${options.username}:${options.password ?? ''}`);
  else flags.push(`--${side}no-creds`);
  return flags;
}

function globalFlags(options: Pick<SkopeoRegistryOptions, 'registriesConf'>): string[] {
  return options.registriesConf === undefined ? [] : ['--registries-conf', options.registriesConf];
}
