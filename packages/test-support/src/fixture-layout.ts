import type { Descriptor } from '@pullthrough/oci';
import { writeArtifact, writeImage, writeIndex } from './image-builder.js';
import { OciLayout } from './oci-layout.js';
import { pseudoRandomBytes } from './pseudo-random.js';
import type { TarEntry } from './tar.js';

export interface FixtureContentOptions {
  /** Sizes of the random payload of each multiLayer layer (default: 5 layers, one of them > 3 MiB). */
  layerSizes?: number[];
  /** Changes every byte of every fixture (default `pullthrough`); use it for content no other test has. */
  seed?: string;
}

export const FIXTURE_NAMES = ['small', 'multiLayer', 'multiPlatform', 'docker', 'artifact'] as const;
export type FixtureName = (typeof FIXTURE_NAMES)[number];

const MiB = 1024 * 1024;
export const DEFAULT_LAYER_SIZES: readonly number[] = [1_024, 48 * 1024, 3 * MiB + 12_345, 256 * 1024, 16];

const text = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Directory entries for every parent of `files`, then the files, as one layer. */
function layer(files: Record<string, Buffer>): TarEntry[] {
  const dirs = new Set<string>();
  for (const path of Object.keys(files)) {
    const parts = path.split('/').slice(0, -1);
    parts.forEach((_, i) => dirs.add(`${parts.slice(0, i + 1).join('/')}/`));
  }
  return [...[...dirs].sort().map((path) => ({ path })), ...Object.entries(files).map(([path, content]) => ({ path, content }))];
}

/**
 * Write every fixture into one OCI image layout; each is named (`oci:<dir>:<FixtureName>`) in
 * index.json. The same options always give the same bytes.
 */
export async function writeFixtureLayout(dir: string, options: FixtureContentOptions = {}): Promise<OciLayout> {
  const seed = options.seed ?? 'pullthrough';
  const sizes = options.layerSizes ?? DEFAULT_LAYER_SIZES;
  const linux = (architecture: string) => ({ os: 'linux', architecture });
  const layout = await OciLayout.create(dir);
  const named: Record<FixtureName, Descriptor> = {
    small: await writeImage(layout, {
      name: 'small',
      platform: linux('amd64'),
      layers: [layer({ 'etc/fixture/small.txt': text(`small fixture, seed ${seed}\n`), 'hello.txt': text('hello from the small fixture\n') })],
    }),
    multiLayer: await writeImage(layout, {
      name: 'multilayer',
      platform: linux('amd64'),
      layers: sizes.map((size, i) =>
        layer({
          [`layer${i}/README.txt`]: text(`multilayer fixture layer ${i} of ${sizes.length}, ${size} random bytes, seed ${seed}\n`),
          [`layer${i}/data.bin`]: pseudoRandomBytes(size, `${seed}/multilayer/${i}`),
        }),
      ),
    }),
    multiPlatform: await writeIndex(
      layout,
      await Promise.all(
        ['amd64', 'arm64'].map((arch) =>
          writeImage(layout, {
            name: `multiplatform-${arch}`,
            platform: linux(arch),
            layers: [
              layer({ 'etc/platform.txt': text(`linux/${arch}, seed ${seed}\n`) }),
              layer({ [`opt/${arch}/app.bin`]: pseudoRandomBytes(64 * 1024, `${seed}/multiplatform/${arch}`) }),
            ],
          }),
        ),
      ),
    ),
    docker: await writeImage(layout, {
      name: 'docker',
      platform: linux('amd64'),
      layers: [
        layer({ 'etc/fixture/docker.txt': text(`docker schema2 fixture, seed ${seed}\n`) }),
        layer({ 'usr/bin/tool': pseudoRandomBytes(8 * 1024, `${seed}/docker/tool`) }),
      ],
    }),
    artifact: await writeArtifact(layout, 'artifact', seed),
  };
  for (const name of FIXTURE_NAMES) layout.addRef(name, named[name]);
  await layout.writeIndex();
  return layout;
}
