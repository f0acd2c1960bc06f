import { startRegistry, readStream, type RegistryFixture } from '../../test/registry-fixture.js';
import type { PushedImage } from '../../test/tiny-upstream.js';

// PullThroughContent's blob links: a repository is linked to a blob once per fetch that serves it,
// however it joins that fetch (leads it, taps it live, or waits for its commit).

const LAYER_SIZE = 2 * 1024 * 1024;
let f: RegistryFixture;
let layer: PushedImage['layers'][number];

beforeAll(async () => {
  // `pin/app` and `up/app` are two downstream repositories of the same upstream repository (and
  // credentials): they share one fetch of a blob, and each is linked by it.
  f = await startRegistry({ extraRules: (host) => [{ name: 'pin-rule', sourceRepository: `${host}/app`, targetRepository: 'pin/app' }] });
});

afterAll(async () => {
  await f.close();
});

beforeEach(async () => {
  layer = f.upstream.pushImage('app', ['latest'], `links-${expect.getState().currentTestName}`, [LAYER_SIZE]).layers[0]!;
  f.upstream.clearRequests();
  // The upstream answers a blob GET late, so the second request surely finds the first one's fetch running.
  f.upstream.blobDelayMs = 300;
});

afterEach(() => jest.restoreAllMocks());

async function inFlight(): Promise<void> {
  for (let i = 0; i < 200 && !f.registry.blobs.isInFlight(layer.digest); i++) await new Promise((r) => setTimeout(r, 5));
  expect(f.registry.blobs.isInFlight(layer.digest)).toBe(true);
}

/** Long enough for a link chained on the fetch's end to have been written. */
const linksSettle = () => new Promise((r) => setTimeout(r, 300));

describe('a miss that taps the fetch of another repository', () => {
  it.each([
    ['a range', { start: 10, end: 19 }],
    ['the whole blob', undefined],
  ] as const)('%s: links that repository once, with the commit (before the fetch settles), and costs no second GET', async (_what, range) => {
    const links = jest.spyOn(f.store, 'linkBlob');
    const leader = f.registry.openBlob('up/app', layer.digest);
    await inFlight();
    const tail = await f.registry.openBlob('pin/app', layer.digest, range);
    expect(tail.cache).toBe('miss');
    expect(tail.range).toEqual(range);
    const [whole, part] = await Promise.all([leader.then((b) => readStream(b.stream)), readStream(tail.stream)]);
    expect(whole.bytes.equals(layer.bytes)).toBe(true);
    expect(part.bytes.equals(range ? layer.bytes.subarray(10, 20) : layer.bytes)).toBe(true);
    await tail.done;
    expect(await f.store.isBlobLinked('pin/app', layer.digest)).toBe(true);
    await f.registry.blobs.settle();
    await linksSettle();
    const linked = links.mock.calls.filter(([, digest]) => digest === layer.digest).map(([repository]) => repository);
    expect(linked.sort()).toEqual(['pin/app', 'up/app']);
    expect(f.upstream.requests.filter((r) => r.path.includes('/blobs/'))).toEqual([{ method: 'GET', path: `/v2/app/blobs/${layer.digest}` }]);
  });
});
