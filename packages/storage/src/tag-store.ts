import { ManifestUnknownError, isDigest, type Digest } from '@pullthrough/oci';
import { lexical } from './lexical.js';
import { ManifestStore } from './manifest-store.js';
import type { StorageDriver } from './storage-driver.js';
import { checkTag, tagCurrentLinkPath, tagPath, tagsPath } from './store-layout.js';

export interface TagRecord {
  digest: Digest;
  /** When the upstream was last asked what this tag points to. */
  checkedAt: Date;
}

function parseTagLink(raw: Buffer): TagRecord | undefined {
  try {
    const link = JSON.parse(raw.toString('utf8')) as { digest?: unknown; checkedAt?: unknown };
    if (typeof link.digest !== 'string' || !isDigest(link.digest) || typeof link.checkedAt !== 'string') return undefined;
    const checkedAt = new Date(link.checkedAt);
    return Number.isNaN(checkedAt.getTime()) ? undefined : { digest: link.digest, checkedAt };
  } catch {
    return undefined;
  }
}

/** Tags: `repositories/<name>/_manifests/tags/<tag>/current/link` holding `{ digest, checkedAt }`. */
export class TagStore {
  constructor(
    private readonly driver: StorageDriver,
    private readonly manifests: ManifestStore,
  ) {}

  async getTag(repository: string, tag: string): Promise<TagRecord | undefined> {
    const raw = await this.driver.getContent(tagCurrentLinkPath(repository, tag));
    return raw && parseTagLink(raw);
  }

  /**
   * Point a tag at a manifest the repository has (throws ManifestUnknownError otherwise), or
   * just refresh `checkedAt` when it already points there.
   */
  async putTag(repository: string, tag: string, digest: Digest, checkedAt: Date = new Date()): Promise<void> {
    const link = tagCurrentLinkPath(repository, tag);
    if (Number.isNaN(checkedAt.getTime())) throw new RangeError('checkedAt is not a valid date');
    if (!(await this.manifests.statManifest(repository, digest))) {
      throw new ManifestUnknownError('cannot tag a manifest the repository does not have', { detail: { repository, tag, digest } });
    }
    await this.driver.putContent(link, Buffer.from(JSON.stringify({ digest, checkedAt: checkedAt.toISOString() })));
  }

  async deleteTag(repository: string, tag: string): Promise<void> {
    await this.driver.delete(tagPath(repository, tag));
  }

  /** Tags of a repository in lexical order (the OCI tags/list order). */
  async listTags(repository: string): Promise<string[]> {
    const names = await this.driver.list(tagsPath(repository));
    const tags = names.filter((name) => {
      try {
        return checkTag(name) === name;
      } catch {
        return false;
      }
    });
    return tags.sort(lexical);
  }
}
