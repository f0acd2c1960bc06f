import { writeFile } from 'node:fs/promises';

export interface RegistryMirror {
  /** What image names start with, as a client writes them: `<upstream host>/<namespace>`. */
  prefix: string;
  /** Where the client fetches those names instead: `<cache host>/<rule target prefix>` (the rest of the name is appended). */
  mirror: string;
}

/**
 * A containers-registries.conf(5) (skopeo, podman, buildah) whose registries are reached only
 * through plain-HTTP mirrors, as a node configured for a pull-through cache would be.
 * No unqualified search registries; the mirrors and their registries are `insecure` (HTTP on loopback).
 */
export async function writeRegistriesConf(path: string, mirrors: RegistryMirror[]): Promise<string> {
  const lines = ['unqualified-search-registries = []', ''];
  for (const m of mirrors) {
    lines.push('[[registry]]', `prefix = "${m.prefix}"`, `location = "${m.prefix}"`, 'insecure = true', '[[registry.mirror]]', `location = "${m.mirror}"`, 'insecure = true', '');
  }
  await writeFile(path, lines.join('\n'));
  return path;
}
