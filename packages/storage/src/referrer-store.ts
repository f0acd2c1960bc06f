import { ManifestInvalidError, isDigest, parseDigest, type Descriptor, type Digest } from '@pullthrough/oci';
import { lexical } from './lexical.js';
import { mapLimit } from './map-limit.js';
import type { StorageDriver } from './storage-driver.js';
import { referrerPath, referrersPath } from './store-layout.js';

const READ_CONCURRENCY = 16;

function checkDescriptor(descriptor: Descriptor): Descriptor {
  const d = descriptor as unknown as Record<string, unknown>;
  if (typeof d !== 'object' || d === null) throw new ManifestInvalidError('referrer is not a descriptor');
  if (typeof d.mediaType !== 'string' || d.mediaType.length === 0) throw new ManifestInvalidError('referrer mediaType is missing');
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw new ManifestInvalidError('referrer size is invalid');
  parseDigest(String(d.digest));
  return descriptor;
}

function parseDescriptor(raw: Buffer): Descriptor | undefined {
  try {
    const d = JSON.parse(raw.toString('utf8')) as Descriptor;
    return typeof d === 'object' && d !== null && typeof d.digest === 'string' && isDigest(d.digest) ? d : undefined;
  } catch {
    return undefined;
  }
}

/**
 * OCI 1.1 referrers: for each subject, the descriptors of the manifests that refer to it, at
 * `repositories/<name>/_referrers/<alg>/<subjecthex>/<alg>/<hex>`.
 */
export class ReferrerStore {
  constructor(private readonly driver: StorageDriver) {}

  /** Record (or replace) `descriptor` as a referrer of `subject`. */
  async addReferrer(repository: string, subject: Digest, descriptor: Descriptor): Promise<void> {
    const path = referrerPath(repository, subject, checkDescriptor(descriptor).digest);
    await this.driver.putContent(path, Buffer.from(JSON.stringify(descriptor)));
  }

  /** Forget `referrer` as a referrer of `subject` (its manifest was deleted). No error when absent. */
  async removeReferrer(repository: string, subject: Digest, referrer: Digest): Promise<void> {
    await this.driver.delete(referrerPath(repository, subject, referrer));
  }

  /** Referrers of `subject`, sorted by digest. */
  async listReferrers(repository: string, subject: Digest): Promise<Descriptor[]> {
    const base = referrersPath(repository, subject);
    const algorithms = await this.driver.list(base);
    const paths = (
      await Promise.all(algorithms.map(async (alg) => (await this.driver.list(`${base}/${alg}`)).map((hex) => `${base}/${alg}/${hex}`)))
    ).flat();
    const found = await mapLimit(paths, READ_CONCURRENCY, async (path) => {
      const raw = await this.driver.getContent(path);
      return raw && parseDescriptor(raw);
    });
    return found
      .filter((d): d is Descriptor => d !== undefined)
      .sort((a, b) => lexical(a.digest, b.digest));
  }
}
