import { isDigest, ManifestUnknownError, type Descriptor, type Digest } from '@pullthrough/oci';
import { parseReferrerIndex } from '@pullthrough/upstream';
import { annotateUpstreamError, unwrapAnswer } from './upstream-answers.js';
import type { UpstreamTarget } from './upstream-target.js';

/** Pages of the upstream's referrers API followed at most. */
export const MAX_UPSTREAM_REFERRER_PAGES = 10;

/**
 * The OCI 1.1 tag schema's tag for a subject: `<alg>-<hex>`, the hex cut to 64 characters
 * (so that a sha512 subject still makes a valid tag).
 */
export function referrersTag(subject: Digest): string {
  const [alg, hex] = subject.split(':') as [string, string];
  return `${alg}-${hex.slice(0, 64)}`;
}

/**
 * The referrers of `subject` the upstream knows: its referrers API (following up to
 * MAX_UPSTREAM_REFERRER_PAGES pages of `Link`), or, when it has none (distribution 2.8 answers
 * 404), the image index the tag schema keeps under the `<alg>-<hex>` tag; no such tag: none.
 * `artifactType` is passed on as a hint (the caller filters anyway). 401/403 throw UpstreamAuthError;
 * unavailability throws as the client does.
 */
export async function upstreamReferrers(target: UpstreamTarget, subject: Digest, artifactType?: string): Promise<Descriptor[]> {
  const found: Descriptor[] = [];
  let query: URLSearchParams | undefined = new URLSearchParams(artifactType ? { artifactType } : {});
  try {
    for (let page = 0; query !== undefined && page < MAX_UPSTREAM_REFERRER_PAGES; page++) {
      const answer = await target.client.listReferrers(target.upstreamRepository, subject, query);
      if (answer.kind === 'not-found') return page === 0 ? await taggedReferrers(target, subject) : found;
      const value = unwrapAnswer(answer, target, `referrers of ${subject}`, ManifestUnknownError);
      found.push(...value.manifests);
      query = value.next;
    }
    return found;
  } catch (err) {
    throw annotateUpstreamError(err, target);
  }
}

/** The tag schema: an image index under `<alg>-<hex>` listing the referrers (no tag: none). */
async function taggedReferrers(target: UpstreamTarget, subject: Digest): Promise<Descriptor[]> {
  const answer = await target.client.getManifest(target.upstreamRepository, referrersTag(subject));
  if (answer.kind === 'not-found') return [];
  const value = unwrapAnswer(answer, target, `referrers tag of ${subject}`, ManifestUnknownError);
  const manifests = parseReferrerIndex(value.bytes, { 'content-type': value.mediaType });
  // Something else under that tag (not an index): it lists no referrers.
  return (manifests ?? []).filter((d) => isDigest(d.digest));
}
