import { blobDescriptors, digestOf, parseManifest, type Digest, type Platform } from '@pullthrough/oci';
import type { RegistryClient } from './registry-client.js';

export interface FixtureBlob {
  digest: Digest;
  size: number;
  mediaType: string;
}

export interface FixtureManifest {
  digest: Digest;
  size: number;
  mediaType: string;
  platform?: Platform;
}

export interface Fixture {
  repository: string;
  tag: string;
  /** The top-level manifest digest as the registry serves it (`Docker-Content-Digest`). */
  digest: Digest;
  mediaType: string;
  /** The top-level manifest bytes as the registry serves them. */
  manifest: Buffer;
  /** Index only: the per-platform manifests. */
  manifests?: FixtureManifest[];
  /** Every config and layer (of every platform), each once. */
  blobs: FixtureBlob[];
}

/** Describe a pushed manifest from what the registry serves, checking every digest on the way. */
export async function readFixture(client: RegistryClient, repository: string, tag: string): Promise<Fixture> {
  const head = await client.manifest(repository, tag, { method: 'HEAD' });
  const top = await fetchManifest(client, repository, tag);
  if (head.status !== 200 || head.digest !== top.digest) {
    throw new Error(`${repository}:${tag}: HEAD answered ${head.status} ${head.digest}, GET served ${top.digest}`);
  }
  const parsed = parseManifest(top.body, top.mediaType);
  const blobs = new Map<string, FixtureBlob>();
  const addBlobs = (bytes: Buffer, mediaType: string): void => {
    for (const d of blobDescriptors(parseManifest(bytes, mediaType))) blobs.set(d.digest, { digest: d.digest, size: d.size, mediaType: d.mediaType });
  };
  const fixture: Fixture = { repository, tag, digest: top.digest, mediaType: parsed.mediaType, manifest: top.body, blobs: [] };
  if (parsed.isIndex) {
    fixture.manifests = parsed.manifests.map((m) => ({ digest: m.digest, size: m.size, mediaType: m.mediaType, platform: m.platform }));
    for (const child of parsed.manifests) {
      const served = await fetchManifest(client, repository, child.digest);
      if (served.digest !== child.digest) throw new Error(`${repository}@${child.digest}: registry served ${served.digest}`);
      addBlobs(served.body, served.mediaType);
    }
  } else {
    addBlobs(top.body, parsed.mediaType);
  }
  fixture.blobs = [...blobs.values()];
  return fixture;
}

async function fetchManifest(client: RegistryClient, repository: string, reference: string) {
  const res = await client.manifest(repository, reference);
  if (res.status !== 200) throw new Error(`GET ${repository}:${reference} answered ${res.status}: ${res.body.toString('utf8').slice(0, 300)}`);
  const digest = digestOf(res.body);
  if (res.digest !== digest) throw new Error(`${repository}:${reference}: Docker-Content-Digest ${res.digest} but body hashes to ${digest}`);
  return { digest, body: res.body, mediaType: res.mediaType ?? '' };
}
