import { isDigest, type Digest } from './digest.js';
import { ManifestInvalidError } from './errors.js';
import { isIndexMediaType, isManifestMediaType, MediaType } from './media-types.js';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  platform?: Platform;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
}

/**
 * The most descriptors one manifest may list in `layers` (an image) or `manifests` (an index).
 * Runtimes cannot run images anywhere near it (overlayfs stacks at most ~128 layers; the largest
 * multi-platform indexes list a few dozen children), and large OCI artifacts stay in the hundreds,
 * so real content never meets it. It bounds what one upstream document can make the cache do:
 * each descriptor costs a link write and a hydration fetch, and the 4 MiB manifest body limit would
 * otherwise let one manifest list ~28,000 of them.
 */
export const MAX_MANIFEST_DESCRIPTORS = 4096;

export interface ParsedManifest {
  mediaType: string;
  isIndex: boolean;
  /** Index children (empty for image manifests). */
  manifests: Descriptor[];
  config?: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

function descriptor(value: unknown, where: string): Descriptor {
  if (typeof value !== 'object' || value === null) throw new ManifestInvalidError(`${where} is not a descriptor`);
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string') throw new ManifestInvalidError(`${where}.mediaType is missing`);
  if (typeof d.digest !== 'string' || !isDigest(d.digest)) throw new ManifestInvalidError(`${where}.digest is invalid`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new ManifestInvalidError(`${where}.size is invalid`);
  }
  return d as unknown as Descriptor;
}

function descriptors(list: unknown[], where: 'layers' | 'manifests'): Descriptor[] {
  if (list.length > MAX_MANIFEST_DESCRIPTORS) {
    throw new ManifestInvalidError(`manifest lists ${list.length} ${where}; at most ${MAX_MANIFEST_DESCRIPTORS} are accepted`, {
      detail: { reason: `too many ${where}`, count: list.length, limit: MAX_MANIFEST_DESCRIPTORS },
    });
  }
  return list.map((d, i) => descriptor(d, `${where}[${i}]`));
}

/**
 * Parse a manifest's JSON enough to walk it. `contentType` is what the upstream said; the
 * document's own `mediaType` wins when present (both must agree when both are set). A list of
 * more than MAX_MANIFEST_DESCRIPTORS layers or manifests is refused (ManifestInvalidError).
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): ParsedManifest {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new ManifestInvalidError('manifest is not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ManifestInvalidError('manifest is not a JSON object');
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const header = contentType?.split(';')[0]?.trim();
  let mediaType = declared ?? header;
  if (!mediaType || !isManifestMediaType(mediaType)) {
    // OCI documents may omit mediaType; infer from shape.
    if (!declared && Array.isArray(doc.manifests)) mediaType = MediaType.OciIndex;
    else if (!declared && typeof doc.config === 'object') mediaType = MediaType.OciManifest;
    else throw new ManifestInvalidError(`unsupported manifest media type "${String(mediaType)}"`);
  }
  if (doc.schemaVersion !== 2) throw new ManifestInvalidError('schemaVersion must be 2');
  const isIndex = isIndexMediaType(mediaType);
  const parsed: ParsedManifest = { mediaType, isIndex, manifests: [], layers: [] };
  if (isIndex) {
    if (!Array.isArray(doc.manifests)) throw new ManifestInvalidError('index has no manifests array');
    parsed.manifests = descriptors(doc.manifests, 'manifests');
  } else {
    parsed.config = descriptor(doc.config, 'config');
    if (!Array.isArray(doc.layers)) throw new ManifestInvalidError('manifest has no layers array');
    parsed.layers = descriptors(doc.layers, 'layers');
  }
  if (doc.subject !== undefined) parsed.subject = descriptor(doc.subject, 'subject');
  if (typeof doc.artifactType === 'string') parsed.artifactType = doc.artifactType;
  if (typeof doc.annotations === 'object' && doc.annotations !== null) {
    parsed.annotations = doc.annotations as Record<string, string>;
  }
  return parsed;
}

/** Blobs (config + layers) a non-index manifest needs locally. Foreign layers with `urls` are skipped. */
export function blobDescriptors(manifest: ParsedManifest): Descriptor[] {
  if (manifest.isIndex) return [];
  const all = manifest.config ? [manifest.config, ...manifest.layers] : [...manifest.layers];
  return all.filter((d) => !(d.urls && d.urls.length > 0 && d.mediaType.includes('foreign')));
}

export function platformString(p: Platform | undefined): string | undefined {
  if (!p) return undefined;
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}
