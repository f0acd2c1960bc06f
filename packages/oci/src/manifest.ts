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

/**
 * Parse a manifest's JSON enough to walk it. `contentType` is what the upstream said; the
 * document's own `mediaType` wins when present (both must agree when both are set).
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
    parsed.manifests = doc.manifests.map((m, i) => descriptor(m, `manifests[${i}]`));
  } else {
    parsed.config = descriptor(doc.config, 'config');
    if (!Array.isArray(doc.layers)) throw new ManifestInvalidError('manifest has no layers array');
    parsed.layers = doc.layers.map((l, i) => descriptor(l, `layers[${i}]`));
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
