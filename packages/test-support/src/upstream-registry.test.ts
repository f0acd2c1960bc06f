import { join } from 'node:path';
import { digestOf, MediaType } from '@pullthrough/oci';
import {
  registryClientFor,
  skopeoCopy,
  skopeoInspectRaw,
  skopeoRegistryFlags,
  startRegistry,
  tempDir,
  writeFixtureLayout,
  type OciLayout,
  type TempDir,
  type UpstreamRegistry,
} from './index.js';

let work: TempDir;
let layout: OciLayout;

beforeAll(async () => {
  work = await tempDir('registry-test-');
  layout = await writeFixtureLayout(join(work.path, 'oci'), { layerSizes: [10] });
});
afterAll(() => work.remove());

describe.each(['none', 'basic', 'token'] as const)('startRegistry({ auth: %s })', (auth) => {
  let registry: UpstreamRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ auth });
  });
  afterAll(() => registry.stop());

  test('GET /v2/ without credentials', async () => {
    const res = await fetch(`${registry.url}/v2/`);
    await res.arrayBuffer();
    if (auth === 'none') {
      expect(res.status).toBe(200);
      expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    } else {
      expect(res.status).toBe(401);
      const challenge = res.headers.get('www-authenticate') ?? '';
      if (auth === 'basic') expect(challenge).toMatch(/^Basic realm=/);
      else expect(challenge).toBe(`Bearer realm="${registry.tokenServer!.realm}",service="${registry.tokenServer!.service}"`);
    }
  });

  test('skopeo pushes with the credentials and `inspect --raw` serves the same bytes', async () => {
    const creds = { username: registry.username, password: registry.password };
    await skopeoCopy(['--preserve-digests', ...skopeoRegistryFlags('dest-', creds), `oci:${layout.dir}:small`, `docker://${registry.host}/it/small:v1`]);
    const raw = await skopeoInspectRaw(`${registry.host}/it/small:v1`, creds);
    const local = [...layout.blobs.values()].find((b) => b.equals(raw));
    expect(local).toBeDefined();
    const served = await registryClientFor(registry).manifest('it/small', 'v1', { method: 'HEAD' });
    expect(served.status).toBe(200);
    expect(served.digest).toBe(digestOf(raw));
  });

  test('anonymous manifest GET is answered only without auth', async () => {
    const res = await registryClientFor(registry, { anonymous: true }).manifest('it/small', 'v1');
    expect(res.status).toBe(auth === 'none' ? 200 : 401);
  });

  test('HTTP client pushes blobs and a manifest (monolithic upload), and pulls them back', async () => {
    const client = registryClientFor(registry);
    const config = Buffer.from('{}');
    const layer = Buffer.from(`layer for ${auth}\n`);
    const configDigest = await client.pushBlob('it/http', config);
    const layerDigest = await client.pushBlob('it/http', layer);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        artifactType: 'application/vnd.example.test',
        config: { mediaType: MediaType.OciEmpty, digest: configDigest, size: config.length },
        layers: [{ mediaType: 'text/plain', digest: layerDigest, size: layer.length }],
      }),
    );
    expect(await client.pushManifest('it/http', 'latest', manifest, MediaType.OciManifest)).toBe(digestOf(manifest));
    const blob = await client.request(`/v2/it/http/blobs/${layerDigest}`);
    expect(Buffer.from(await blob.arrayBuffer()).equals(layer)).toBe(true);
    expect((await client.manifest('it/http', digestOf(manifest))).body.equals(manifest)).toBe(true);
  });

  if (auth !== 'none') {
    test('wrong credentials are refused', async () => {
      const client = registryClientFor({ ...registry, password: 'wrong' });
      expect((await client.manifest('it/small', 'v1')).status).toBe(401);
      await expect(
        skopeoInspectRaw(`${registry.host}/it/small:v1`, { username: registry.username, password: 'wrong' }),
      ).rejects.toThrow(/unauthorized|authentication required|401/i);
    });
  }
});

test('stop() removes the registry directory and frees the port', async () => {
  const registry = await startRegistry({ auth: 'token' });
  await registry.stop();
  await expect(fetch(`${registry.url}/v2/`)).rejects.toThrow();
  await expect(fetch(registry.tokenServer!.realm)).rejects.toThrow();
  const { existsSync } = await import('node:fs');
  expect(existsSync(registry.logPath)).toBe(false);
});
