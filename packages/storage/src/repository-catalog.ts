import { isRepositoryName } from '@pullthrough/oci';
import { lexical } from './lexical.js';
import { mapLimit } from './map-limit.js';
import type { StorageDriver } from './storage-driver.js';
import { REPOSITORIES_ROOT } from './store-layout.js';

const LIST_CONCURRENCY = 16;

/**
 * Every repository with at least one manifest revision (with `withBlobs`, also those holding only
 * blob links, like a push that has not put its manifest yet), sorted. Walks `repositories/` level
 * by level (names nest: `a` and `a/b` can both be repositories), listing each level's directories
 * with bounded concurrency, so thousands of repositories cost a few listings each.
 */
export async function listRepositories(driver: StorageDriver, options: { withBlobs?: boolean } = {}): Promise<string[]> {
  const found: string[] = [];
  let level: string[] = (await driver.list(REPOSITORIES_ROOT)).filter((n) => isRepositoryName(n));
  while (level.length > 0) {
    const next = await mapLimit(level, LIST_CONCURRENCY, async (name) => {
      const children = await driver.list(`${REPOSITORIES_ROOT}/${name}`);
      if (children.includes('_manifests') && (await hasRevision(driver, name))) found.push(name);
      else if (options.withBlobs && children.includes('_layers')) found.push(name);
      return children.filter((c) => !c.startsWith('_')).map((c) => `${name}/${c}`).filter((n) => isRepositoryName(n));
    });
    level = next.flat();
  }
  return found.sort(lexical);
}

async function hasRevision(driver: StorageDriver, name: string): Promise<boolean> {
  const revisions = `${REPOSITORIES_ROOT}/${name}/_manifests/revisions`;
  for (const alg of await driver.list(revisions)) {
    if ((await driver.list(`${revisions}/${alg}`)).length > 0) return true;
  }
  return false;
}
