import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './run-command.js';
import { tempDir } from './temp-dir.js';

export interface PodmanPullOptions {
  /** Credentials for the registry (`--creds`); without them podman pulls anonymously. */
  username?: string;
  password?: string;
  /** A registries.conf of our own, e.g. with mirrors (see writeRegistriesConf); default: one with no registries at all. */
  registriesConf?: string;
}

/** What `podman image inspect` reports (the fields tests look at). */
export interface PodmanImage {
  Id: string;
  /** The digest of the manifest podman pulled (for an index: the index's). */
  Digest: string;
  RepoTags: string[];
  RepoDigests: string[];
  Architecture: string;
  Os: string;
}

export interface Podman {
  /** `podman pull --tls-verify=false <ref>`; resolves with the image id, rejects with podman's stderr. */
  pull(ref: string, options?: PodmanPullOptions): Promise<string>;
  inspect(ref: string): Promise<PodmanImage>;
  /** `podman push --tls-verify=false [--creds] <image> docker://<dest>`; rejects with podman's stderr. */
  push(image: string, dest: string, options?: Pick<PodmanPullOptions, 'username' | 'password'>): Promise<void>;
  /** `podman rmi --all --force`: an empty store, so the next pull fetches everything again. */
  removeAll(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Debian's podman, rootful, with a private store (`--root`/`--runroot` in a temp dir, `vfs`
 * storage, cgroupfs, file events) so tests share nothing with the machine's podman. Only image
 * commands are used: no containers, no network beyond the loopback registries. podman is not a
 * daemon; `stop()` removes the store.
 */
export async function startPodman(): Promise<Podman> {
  const dir = await tempDir('podman-');
  const emptyConf = join(dir.path, 'registries.conf');
  await writeFile(emptyConf, 'unqualified-search-registries = []\n');
  // Not the machine's storage.conf, nor its temp dir: everything podman writes stays in ours.
  const tmp = join(dir.path, 'tmp');
  const storageConf = join(dir.path, 'storage.conf');
  await mkdir(tmp, { recursive: true });
  const root = join(dir.path, 'root');
  const runroot = join(dir.path, 'runroot');
  await writeFile(storageConf, `[storage]\ndriver = "vfs"\nrunroot = "${runroot}"\ngraphroot = "${root}"\n`);
  const env = { ...process.env, TMPDIR: tmp, CONTAINERS_STORAGE_CONF: storageConf };
  const base = (registriesConf: string) => [
    '--root', root,
    '--runroot', runroot,
    '--tmpdir', tmp,
    '--storage-driver', 'vfs',
    '--cgroup-manager', 'cgroupfs',
    '--events-backend', 'file',
    '--registries-conf', registriesConf,
  ];
  const podman = (args: string[], registriesConf = emptyConf) => runCommand('podman', [...base(registriesConf), ...args], { env, timeoutMs: 120_000 });
  let stopped: Promise<void> | undefined;
  return {
    async pull(ref, options = {}) {
      const creds = options.username === undefined ? [] : ['--creds', `${options.username}:${options.password ?? ''}`];
      const { stdout } = await podman(['pull', '--quiet', '--tls-verify=false', ...creds, ref], options.registriesConf);
      return stdout.toString('utf8').trim();
    },
    async inspect(ref) {
      const { stdout } = await podman(['image', 'inspect', ref]);
      const [image] = JSON.parse(stdout.toString('utf8')) as PodmanImage[];
      if (!image) throw new Error(`podman image inspect ${ref}: no image`);
      return image;
    },
    async push(image, dest, options = {}) {
      const creds = options.username === undefined ? [] : ['--creds', `${options.username}:${options.password ?? ''}`];
      await podman(['push', '--quiet', '--tls-verify=false', ...creds, image, `docker://${dest}`]);
    },
    async removeAll() {
      await podman(['rmi', '--all', '--force']);
    },
    stop: () => (stopped ??= dir.remove()),
  };
}
