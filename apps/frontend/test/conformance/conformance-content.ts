import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { digestOf, MediaType } from '@pullthrough/oci';
import { createTar } from '@pullthrough/test-support';

/** Bytes and their sha256 digest. */
export interface Content {
  bytes: Buffer;
  digest: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  [extra: string]: unknown;
}

export function contentOf(bytes: Buffer): Content {
  return { bytes, digest: digestOf(bytes) };
}

export function descriptorOf(content: Content, mediaType: string): Descriptor {
  return { mediaType, digest: content.digest, size: content.bytes.length };
}

/** JSON as registries receive it from real clients: indented, so the digest is of these exact bytes. */
function json(value: unknown): Content {
  return contentOf(Buffer.from(JSON.stringify(value, null, 2)));
}

/** A digest nothing was ever pushed under (sha256 of a fixed phrase). */
export const ABSENT_DIGEST = digestOf(Buffer.from('no registry holds this conformance blob'));
/** A tag that is not valid (starts with '.'), so no manifest can exist under it. */
export const ABSENT_TAG = '.no-such-tag';

/** The OCI empty descriptor's content `{}`; its digest is fixed by the image spec. */
export const EMPTY_JSON = contentOf(Buffer.from('{}'));
export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

/** One gzipped tar layer shared by every workflow's images. */
export const LAYER = contentOf(gzipSync(createTar([{ path: 'conformance/hello.txt', content: Buffer.from('pushed by the pullthrough conformance suite\n') }])));

/** An image config unique to this run (a random author), so its digest is new to the registry. */
export function uniqueConfig(): Content {
  return json({
    architecture: 'amd64',
    os: 'linux',
    author: `conformance-${randomBytes(8).toString('hex')}`,
    rootfs: { type: 'layers', diff_ids: [] },
  });
}

/**
 * An OCI image manifest of `config` and `layers`. The config descriptor carries `data` (its own
 * bytes, base64) and a field no spec defines: registries must accept both.
 */
export function imageManifest(config: Content, layers: Content[]): Content {
  return json({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { ...descriptorOf(config, MediaType.OciConfig), data: config.bytes.toString('base64'), 'org.example.conformance.unknown': 'ignored' },
    layers: layers.map((l) => descriptorOf(l, 'application/vnd.oci.image.layer.v1.tar+gzip')),
  });
}

/** An image of a unique config and the shared layer. */
export function uniqueImage(): { config: Content; manifest: Content } {
  const config = uniqueConfig();
  return { config, manifest: imageManifest(config, [LAYER]) };
}

/** A pseudo-random blob of `size` bytes. */
export function randomBlob(size: number): Content {
  return contentOf(randomBytes(size));
}

/** A blob cut in two chunks: the first one byte longer than half. */
export interface ChunkedBlob extends Content {
  first: Buffer;
  second: Buffer;
  /** `Content-Range` values as the spec writes them (`start-end`, inclusive). */
  firstRange: string;
  secondRange: string;
}

export function chunkedBlob(size: number): ChunkedBlob {
  const blob = randomBlob(size);
  const cut = Math.floor(size / 2) + 1;
  return {
    ...blob,
    first: blob.bytes.subarray(0, cut),
    second: blob.bytes.subarray(cut),
    firstRange: `0-${cut - 1}`,
    secondRange: `${cut}-${size - 1}`,
  };
}

export const ANNOTATION = 'org.example.conformance.label';
export const ARTIFACT_TYPE_A = 'application/vnd.example.conformance.alpha';
export const ARTIFACT_TYPE_B = 'application/vnd.example.conformance.beta';
export const ARTIFACT_TYPE_BUNDLE = 'application/vnd.example.conformance.bundle';

/** A manifest or index that names a subject, with what the referrers API must say about it. */
export interface Referrer {
  name: string;
  content: Content;
  mediaType: string;
  artifactType: string;
  subject: string;
  annotation?: string;
}

/**
 * The discovery workflow's referrers graph: a subject image with five referrers (an artifact
 * typed by its config's media type and one typed by `artifactType`, for each of two types, and an
 * index over the first two), and one referrer of a subject that is never pushed.
 */
export function referrersGraph() {
  const blobA = contentOf(Buffer.from('alpha: the first artifact payload'));
  const blobB = contentOf(Buffer.from('beta: the second artifact payload'));
  const subject = uniqueImage();
  const absentSubject = uniqueImage();
  const subjectOf = (m: Content) => descriptorOf(m, MediaType.OciManifest);

  const byConfig = (name: string, type: string, payload: Content, label: string): Referrer => ({
    name,
    mediaType: MediaType.OciManifest,
    artifactType: type,
    subject: subject.manifest.digest,
    annotation: label,
    content: json({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: descriptorOf(payload, type),
      layers: [descriptorOf(EMPTY_JSON, MediaType.OciEmpty)],
      subject: subjectOf(subject.manifest),
      annotations: { [ANNOTATION]: label },
    }),
  });
  const byArtifactType = (name: string, type: string, payload: Content, of: Content, label?: string): Referrer => ({
    name,
    mediaType: MediaType.OciManifest,
    artifactType: type,
    subject: of.digest,
    annotation: label,
    content: json({
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      artifactType: type,
      config: descriptorOf(EMPTY_JSON, MediaType.OciEmpty),
      layers: [descriptorOf(payload, type)],
      subject: subjectOf(of),
      ...(label ? { annotations: { [ANNOTATION]: label } } : {}),
    }),
  });

  const configA = byConfig('alpha typed by its config', ARTIFACT_TYPE_A, blobA, 'config alpha');
  const layerA = byArtifactType('alpha typed by artifactType', ARTIFACT_TYPE_A, blobA, subject.manifest, 'layer alpha');
  const configB = byConfig('beta typed by its config', ARTIFACT_TYPE_B, blobB, 'config beta');
  const layerB = byArtifactType('beta typed by artifactType', ARTIFACT_TYPE_B, blobB, subject.manifest, 'layer beta');
  const orphan = byArtifactType('beta of a subject never pushed', ARTIFACT_TYPE_B, blobB, absentSubject.manifest);
  const bundle: Referrer = {
    name: 'index bundling the alpha artifacts',
    mediaType: MediaType.OciIndex,
    artifactType: ARTIFACT_TYPE_BUNDLE,
    subject: subject.manifest.digest,
    annotation: 'bundle',
    content: json({
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      artifactType: ARTIFACT_TYPE_BUNDLE,
      manifests: [configA, layerA].map((r) => descriptorOf(r.content, MediaType.OciManifest)),
      subject: subjectOf(subject.manifest),
      annotations: { [ANNOTATION]: 'bundle' },
    }),
  };
  return {
    blobA,
    blobB,
    subject,
    absentSubject,
    /** In push order: some before their subject exists, some after. */
    beforeSubject: [configA, layerA, bundle],
    afterSubject: [configB, layerB, orphan],
    /** The five referrers of `subject`. */
    ofSubject: [configA, layerA, bundle, configB, layerB],
    bundle,
    orphan,
  };
}

export type ReferrersGraph = ReturnType<typeof referrersGraph>;
