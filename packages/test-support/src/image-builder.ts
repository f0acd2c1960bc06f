import { gzipSync } from 'node:zlib';
import { digestOf, MediaType, type Descriptor, type Platform } from '@pullthrough/oci';
import type { OciLayout } from './oci-layout.js';
import { createTar, type TarEntry } from './tar.js';

export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const CREATED = '2023-11-14T22:13:20Z';

export interface ImageSpec {
  /** Goes into a config label, so that configs of different fixtures differ. */
  name: string;
  platform: Platform;
  /** One list of tar entries per layer. */
  layers: TarEntry[][];
}

/**
 * Write a single-platform OCI image (gzip'd tar layers, a config whose diff_ids are the sha256 of
 * each uncompressed tar, the manifest) into the layout. Returns the manifest's descriptor with platform.
 */
export async function writeImage(layout: OciLayout, spec: ImageSpec): Promise<Descriptor> {
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const entries of spec.layers) {
    const tar = createTar(entries);
    diffIds.push(digestOf(tar));
    layers.push(await layout.writeBlob(OCI_LAYER_GZIP, gzipSync(tar)));
  }
  const config = await layout.writeJson(MediaType.OciConfig, {
    created: CREATED,
    architecture: spec.platform.architecture,
    os: spec.platform.os,
    ...(spec.platform.variant ? { variant: spec.platform.variant } : {}),
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['/bin/sh'],
      WorkingDir: '/',
      Labels: { 'org.example.fixture': spec.name },
    },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: layers.map((_, i) => ({ created: CREATED, created_by: `pullthrough fixture ${spec.name} layer ${i}` })),
  });
  const manifest = await layout.writeJson(MediaType.OciManifest, {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config,
    layers,
  });
  return { ...manifest, platform: spec.platform };
}

/** Write an OCI image index over single-platform manifests (their descriptors carry the platform). */
export function writeIndex(layout: OciLayout, manifests: Descriptor[]): Promise<Descriptor> {
  return layout.writeJson(MediaType.OciIndex, { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests });
}

export const SBOM_MEDIA_TYPE = 'application/vnd.example.sbom.v1+json';

/** A non-image artifact: empty config (`{}`), one SBOM layer, `artifactType` set. */
export async function writeArtifact(layout: OciLayout, name: string, seed: string): Promise<Descriptor> {
  const config = await layout.writeBlob(MediaType.OciEmpty, Buffer.from('{}'));
  const sbom = { spdxVersion: 'SPDX-2.3', name: `${name} (${seed})`, packages: [{ name: 'pullthrough-fixture', versionInfo: '1.0.0' }] };
  const layer = await layout.writeJson(SBOM_MEDIA_TYPE, sbom);
  return layout.writeJson(MediaType.OciManifest, {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: SBOM_MEDIA_TYPE,
    config,
    layers: [{ ...layer, annotations: { 'org.opencontainers.image.title': 'sbom.spdx.json' } }],
    annotations: { 'org.opencontainers.image.created': CREATED },
  });
}
