import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One `[host."<url>"]` entry of a containerd hosts.toml. */
export interface ContainerdMirror {
  /** `http://127.0.0.1:5000` (root form) or `http://127.0.0.1:5000/v2/dockerhub` (with `overridePath`). */
  url: string;
  capabilities?: string[];
  overridePath?: boolean;
  /** Headers containerd sends to this host, e.g. `{ Authorization: 'Basic ...' }`. */
  headers?: Record<string, string>;
}

export interface ContainerdHostsConfig {
  /** The registry's own URL, tried after every mirror (`server = ...`). */
  server?: string;
  mirrors: ContainerdMirror[];
}

/** The text of a hosts.toml (containerd 1.5+ registry host config). */
export function hostsToml(config: ContainerdHostsConfig): string {
  const lines: string[] = [];
  if (config.server) lines.push(`server = "${config.server}"`);
  for (const m of config.mirrors) {
    lines.push('', `[host."${m.url}"]`, `  capabilities = [${(m.capabilities ?? ['pull', 'resolve']).map((c) => `"${c}"`).join(', ')}]`);
    if (m.overridePath) lines.push('  override_path = true');
    if (m.headers) {
      lines.push(`  [host."${m.url}".header]`);
      for (const [k, v] of Object.entries(m.headers)) lines.push(`    ${k} = "${v}"`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Write `<hostsDir>/<namespace>/hosts.toml` (what `ctr images pull --hosts-dir <hostsDir>` and a node's
 * `config_path` read), from a config or as given text. `namespace` is the registry host of the image
 * reference, e.g. `docker.io` or `127.0.0.1:6000`. Returns the file's path.
 */
export async function writeHostsToml(hostsDir: string, namespace: string, config: ContainerdHostsConfig | string): Promise<string> {
  const dir = join(hostsDir, namespace);
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'hosts.toml');
  await writeFile(file, typeof config === 'string' ? config : hostsToml(config));
  return file;
}
