import { join } from 'node:path';
import { writeFixtureLayout, type FixtureContentOptions, type FixtureName } from './fixture-layout.js';
import { readFixture, type Fixture } from './fixture-reader.js';
import { registryClientFor } from './registry-client.js';
import { skopeoCopy, skopeoRegistryFlags } from './skopeo.js';
import { tempDir } from './temp-dir.js';
import type { UpstreamRegistry } from './upstream-registry.js';

export type Fixtures = Record<FixtureName, Fixture>;
export type FixtureOptions = FixtureContentOptions;

/** Where each fixture goes, and how skopeo copies it. */
const PLAN: Record<FixtureName, { repository: string; flags: string[] }> = {
  small: { repository: 'fixtures/small', flags: ['--preserve-digests'] },
  multiLayer: { repository: 'fixtures/multilayer', flags: ['--preserve-digests'] },
  multiPlatform: { repository: 'fixtures/multiplatform', flags: ['--preserve-digests', '--all'] },
  // skopeo converts the OCI manifest (and the config/layer media types) to Docker schema2: new digest.
  docker: { repository: 'fixtures/docker', flags: ['--format', 'v2s2'] },
  artifact: { repository: 'fixtures/artifact', flags: ['--preserve-digests'] },
};
const TAG = 'v1';

/**
 * Build the fixtures as an OCI image layout (no container engine), push them with skopeo, and
 * describe each from what the registry then serves: small, multiLayer (5 layers, one > 3 MiB of
 * random bytes), multiPlatform (OCI index, linux/amd64 + linux/arm64), docker (schema2) and
 * artifact (OCI artifact with an empty config). All are tagged `v1`.
 */
export async function pushFixtures(registry: UpstreamRegistry, options: FixtureOptions = {}): Promise<Fixtures> {
  const dir = await tempDir('fixtures-');
  try {
    const layout = await writeFixtureLayout(join(dir.path, 'oci'), options);
    const credentials = skopeoRegistryFlags('dest-', { username: registry.username, password: registry.password });
    const names = Object.keys(PLAN) as FixtureName[];
    await Promise.all(
      names.map((name) =>
        skopeoCopy([...PLAN[name].flags, ...credentials, `oci:${layout.dir}:${name}`, `docker://${registry.host}/${PLAN[name].repository}:${TAG}`]),
      ),
    );
    const client = registryClientFor(registry);
    const fixtures = {} as Fixtures;
    for (const name of names) fixtures[name] = await readFixture(client, PLAN[name].repository, TAG);
    return fixtures;
  } finally {
    await dir.remove();
  }
}
