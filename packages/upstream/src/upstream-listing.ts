import { MediaType, isDigest, isTag, type Descriptor } from '@pullthrough/oci';
import { headerOf, mediaTypeOf, type ResponseHeaders } from './response-headers.js';

/** One page of an upstream's tag list; `next` is the query of its `Link: <...>; rel="next"`, if any. */
export interface TagPage {
  tags: string[];
  next?: URLSearchParams;
}

/** One page of an upstream's OCI 1.1 referrers index. */
export interface ReferrerPage {
  manifests: Descriptor[];
  /** The upstream's `OCI-Filters-Applied` (e.g. `artifactType`), lowercased and split. */
  filtersApplied: string[];
  next?: URLSearchParams;
}

/**
 * The query of the `rel="next"` link, only when it points at `expectedPath` (absolute or relative):
 * a link elsewhere (another host, another repository) is ignored rather than followed.
 */
export function nextQuery(headers: ResponseHeaders, expectedPath: string): URLSearchParams | undefined {
  const link = headerOf(headers, 'link');
  if (link === undefined) return undefined;
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (!m || !/(?:^|;)\s*rel="?next"?\s*(?:;|$)/i.test(m[2]!)) continue;
    try {
      const url = new URL(m[1]!, 'http://upstream.invalid');
      const relative = url.host === 'upstream.invalid' || m[1]!.startsWith('/');
      if (url.pathname !== expectedPath || !relative) return undefined;
      return url.searchParams;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** `{"name":...,"tags":[...]}`: the valid tags (others are dropped), or undefined when it is not a tag list. */
export function parseTagList(bytes: Buffer): string[] | undefined {
  try {
    const body = JSON.parse(bytes.toString('utf8')) as { tags?: unknown } | null;
    if (typeof body !== 'object' || body === null) return undefined;
    // distribution answers `"tags": null` for a repository without tags.
    if (body.tags === null || body.tags === undefined) return [];
    if (!Array.isArray(body.tags)) return undefined;
    return body.tags.filter((t): t is string => typeof t === 'string' && isTag(t));
  } catch {
    return undefined;
  }
}

function referrerDescriptor(value: unknown): Descriptor | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType === '' || typeof d.digest !== 'string' || !isDigest(d.digest)) return undefined;
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) return undefined;
  if (d.artifactType !== undefined && typeof d.artifactType !== 'string') return undefined;
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (typeof d.artifactType === 'string') out.artifactType = d.artifactType;
  if (typeof d.annotations === 'object' && d.annotations !== null && !Array.isArray(d.annotations)) {
    const annotations = Object.entries(d.annotations as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string');
    if (annotations.length > 0) out.annotations = Object.fromEntries(annotations);
  }
  return out;
}

/**
 * An OCI image index listing referrers (the referrers API's answer, or the `<alg>-<hex>` tag of the
 * tag schema): its well-formed descriptors, or undefined when the body is not an image index.
 */
export function parseReferrerIndex(bytes: Buffer, headers: ResponseHeaders): Descriptor[] | undefined {
  try {
    const body = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown; manifests?: unknown } | null;
    if (typeof body !== 'object' || body === null || !Array.isArray(body.manifests)) return undefined;
    const mediaType = typeof body.mediaType === 'string' ? body.mediaType : mediaTypeOf(headers);
    if (mediaType !== MediaType.OciIndex) return undefined;
    return body.manifests.map(referrerDescriptor).filter((d): d is Descriptor => d !== undefined);
  } catch {
    return undefined;
  }
}
