import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { MediaType } from '@pullthrough/oci';
import {
  FIXTURE_NAMES,
  pushFixtures,
  registryClientFor,
  SBOM_MEDIA_TYPE,
  skopeoInspectRaw,
  startRegistry,
  type Fixture,
  type Fixtures,
  type UpstreamRegistry,
} from './index.js';

let registry: UpstreamRegistry;
let fixtures: Fixtures;
let pushMs: number;

beforeAll(async () => {
  registry = await startRegistry({ auth: 'token' });
  const started = Date.now();
  fixtures = await pushFixtures(registry);
  pushMs = Date.now() - started;
});
afterAll(() => registry?.stop());

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const creds = () => ({ username: registry.username, password: registry.password });

async function blob(f: Fixture, digest: string): Promise<Buffer> {
  const res = await registryClientFor(registry).request(`/v2/${f.repository}/blobs/${digest}`);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

test('pushes all five fixtures quickly', () => {
  expect(Object.keys(fixtures).sort()).toEqual([...FIXTURE_NAMES].sort());
  expect(pushMs).toBeLessThan(20_000);
});

test.each(FIXTURE_NAMES)('%s: `skopeo inspect --raw` hashes to the returned digest', async (name) => {
  const f = fixtures[name];
  expect(f.tag).toBe('v1');
  const raw = await skopeoInspectRaw(`${registry.host}/${f.repository}:${f.tag}`, creds());
  expect(sha256(raw)).toBe(f.digest);
  expect(raw.equals(f.manifest)).toBe(true);
  for (const b of f.blobs) expect((await blob(f, b.digest)).length).toBe(b.size);
});

test('small: one gzip layer whose uncompressed sha256 is the config diff_id', async () => {
  const f = fixtures.small;
  expect(f.repository).toBe('fixtures/small');
  expect(f.mediaType).toBe(MediaType.OciManifest);
  const manifest = JSON.parse(f.manifest.toString('utf8'));
  expect(manifest.layers).toHaveLength(1);
  const config = JSON.parse((await blob(f, manifest.config.digest)).toString('utf8'));
  expect(config).toMatchObject({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers' } });
  const tar = gunzipSync(await blob(f, manifest.layers[0].digest));
  expect(config.rootfs.diff_ids).toEqual([sha256(tar)]);
  expect(tar.toString('latin1')).toContain('hello from the small fixture');
  expect(f.blobs.map((b) => b.digest).sort()).toEqual([manifest.config.digest, manifest.layers[0].digest].sort());
});

test('multiLayer: five layers of varied sizes, one > 3 MiB of incompressible bytes', async () => {
  const f = fixtures.multiLayer;
  expect(f.repository).toBe('fixtures/multilayer');
  const manifest = JSON.parse(f.manifest.toString('utf8'));
  expect(manifest.layers).toHaveLength(5);
  const sizes: number[] = manifest.layers.map((l: { size: number }) => l.size);
  expect(new Set(sizes).size).toBe(5);
  expect(Math.max(...sizes)).toBeGreaterThan(3 * 1024 * 1024);
  expect(f.blobs).toHaveLength(6);
  const config = JSON.parse((await blob(f, manifest.config.digest)).toString('utf8'));
  const big = manifest.layers.findIndex((l: { size: number }) => l.size === Math.max(...sizes));
  expect(sha256(gunzipSync(await blob(f, manifest.layers[big].digest)))).toBe(config.rootfs.diff_ids[big]);
});

test('multiPlatform: an OCI index over linux/amd64 and linux/arm64 with distinct layers', async () => {
  const f = fixtures.multiPlatform;
  expect(f.repository).toBe('fixtures/multiplatform');
  expect(f.mediaType).toBe(MediaType.OciIndex);
  expect(f.manifests!.map((m) => `${m.platform!.os}/${m.platform!.architecture}`)).toEqual(['linux/amd64', 'linux/arm64']);
  expect(f.manifests!.every((m) => m.mediaType === MediaType.OciManifest)).toBe(true);
  expect(f.blobs).toHaveLength(6); // 2 x (config + 2 layers), nothing shared
  for (const m of f.manifests!) {
    const raw = await skopeoInspectRaw(`${registry.host}/${f.repository}@${m.digest}`, creds());
    expect(sha256(raw)).toBe(m.digest);
  }
});

test('docker: a Docker schema2 image with Docker media types throughout', () => {
  const f = fixtures.docker;
  expect(f.repository).toBe('fixtures/docker');
  expect(f.mediaType).toBe(MediaType.DockerManifest);
  expect(f.blobs.map((b) => b.mediaType).sort()).toEqual([
    MediaType.DockerConfig,
    'application/vnd.docker.image.rootfs.diff.tar.gzip',
    'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ]);
});

test('artifact: artifactType, the empty config and one SBOM layer', async () => {
  const f = fixtures.artifact;
  expect(f.repository).toBe('fixtures/artifact');
  expect(f.mediaType).toBe(MediaType.OciManifest);
  const manifest = JSON.parse(f.manifest.toString('utf8'));
  expect(manifest.artifactType).toBe(SBOM_MEDIA_TYPE);
  expect(manifest.config).toEqual({ mediaType: MediaType.OciEmpty, digest: sha256(Buffer.from('{}')), size: 2 });
  expect(manifest.layers).toEqual([expect.objectContaining({ mediaType: SBOM_MEDIA_TYPE })]);
  expect((await blob(f, manifest.config.digest)).toString()).toBe('{}');
  expect(JSON.parse((await blob(f, manifest.layers[0].digest)).toString())).toHaveProperty('spdxVersion');
});

test('the same options give the same digests; another seed gives new ones', async () => {
  const again = await pushFixtures(registry);
  for (const name of FIXTURE_NAMES) expect(again[name].digest).toBe(fixtures[name].digest);
  const other = await pushFixtures(registry, { seed: 'other', layerSizes: [1, 2] });
  for (const name of FIXTURE_NAMES) expect(other[name].digest).not.toBe(fixtures[name].digest);
  expect(JSON.parse(other.multiLayer.manifest.toString('utf8')).layers).toHaveLength(2);
});
