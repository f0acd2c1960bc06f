import { MediaType, type Descriptor, type Digest, type Platform } from '@pullthrough/oci';
import { selectChildren } from './artifact-hydrator.js';

const child = (name: string, platform?: Platform): Descriptor => ({
  mediaType: MediaType.OciManifest,
  digest: `sha256:${name.padEnd(64, '0')}` as Digest,
  size: 100,
  ...(platform ? { platform } : {}),
});

const amd64 = child('a1', { os: 'linux', architecture: 'amd64' });
const arm64 = child('a2', { os: 'linux', architecture: 'arm64', variant: 'v8' });
const armV7 = child('a3', { os: 'linux', architecture: 'arm', variant: 'v7' });
const armV6 = child('a4', { os: 'linux', architecture: 'arm', variant: 'v6' });
const arm = child('a5', { os: 'linux', architecture: 'arm' });
const windows = child('a6', { os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' });
const attestation = child('a7');
const children = [amd64, arm64, armV7, armV6, arm, windows, attestation];

describe('selectChildren', () => {
  it.each<[string, 'all' | 'pulled' | string[], Descriptor[]]>([
    ['all: every child, with or without platform', 'all', children],
    ['pulled: none (each pulled child gets its own job)', 'pulled', []],
    ['exact os/arch', ['linux/amd64'], [amd64]],
    ['a variant selects only that variant', ['linux/arm/v7'], [armV7]],
    ['os/arch without variant selects every variant and the variantless child', ['linux/arm'], [armV7, armV6, arm]],
    ['os/arch selects a child that has a variant (arm64/v8)', ['linux/arm64'], [arm64]],
    ['os/arch/variant selects the exact child', ['linux/arm64/v8'], [arm64]],
    ['os.version is ignored', ['windows/amd64'], [windows]],
    ['several platforms, in index order', ['linux/arm/v6', 'linux/amd64'], [amd64, armV6]],
    ['a platform nobody has', ['linux/s390x'], []],
    ['a variant nobody has', ['linux/arm/v5'], []],
  ])('%s', (_why, policy, expected) => {
    expect(selectChildren(children, policy)).toEqual(expected);
  });

  it('never selects children without a platform for a platform list', () => {
    expect(selectChildren([attestation, child('a8')], ['linux/amd64'])).toEqual([]);
  });

  it('handles an empty index', () => {
    expect(selectChildren([], 'all')).toEqual([]);
    expect(selectChildren([], ['linux/amd64'])).toEqual([]);
  });
});
