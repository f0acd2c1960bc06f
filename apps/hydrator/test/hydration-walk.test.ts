import type { HydrationProgress, HydrationResult } from '@pullthrough/hydration-jobs';
import { blobDescriptors, parseManifest, type Digest } from '@pullthrough/oci';
import { startRedis, type RedisServer } from '@pullthrough/test-support';
import { jobFor, repositoryBlob, sha256, startHydratorEnv, startUpstream, totalSize, type HydratorEnv, type Upstream } from './harness.js';

// The walk (index -> children per platform policy -> config + layers) through the real worker:
// real redis-server, BullMQ, and a docker-registry behind a counting proxy. Each test gets its own
// hydrator (fresh data dir, fresh queue prefix), so every upstream request it counts is its own.

let redis: RedisServer;
let upstream: Upstream;
let env: HydratorEnv;

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
}, 120_000);

afterAll(async () => {
  await upstream?.stop();
  await redis?.stop();
});

beforeEach(async () => {
  env = await startHydratorEnv(redis, upstream);
  upstream.proxy.reset();
});

afterEach(async () => {
  await env?.stop();
});

const manifestGets = (reference: string) => upstream.proxy.count({ method: 'GET', kind: 'manifest', reference });
const blobGets = (reference: string) => upstream.proxy.count({ method: 'GET', kind: 'blob', reference });

/** The config and layers of one child manifest of the index, from what the hydrator stored. */
async function storedChildBlobs(repository: string, child: Digest) {
  const stored = await env.store.getManifest(repository, child);
  if (!stored) throw new Error(`${repository}@${child} is not local`);
  return blobDescriptors(parseManifest(stored.bytes, stored.mediaType));
}

function platformChild(os: string, architecture: string) {
  const child = upstream.fixtures.multiPlatform.manifests?.find((m) => m.platform?.os === os && m.platform.architecture === architecture);
  if (!child) throw new Error(`the multiPlatform fixture has no ${os}/${architecture} manifest`);
  return child;
}

describe("an index with platforms 'all'", () => {
  test('makes every platform manifest and every blob local and linked, each fetched once', async () => {
    const f = upstream.fixtures.multiPlatform;
    const repo = 'mirror/multiplatform';
    expect(f.manifests).toHaveLength(2);
    const jobId = await env.enqueue(jobFor(upstream, f, repo, { platforms: 'all' }));
    const job = await env.completed(jobId);

    const index = await env.store.getManifest(repo, f.digest);
    expect(index?.bytes.equals(f.manifest)).toBe(true);
    for (const child of f.manifests ?? []) {
      const stored = await env.store.getManifest(repo, child.digest);
      expect(stored).toBeDefined();
      expect(sha256(stored!.bytes)).toBe(child.digest);
      expect(manifestGets(child.digest)).toBe(1);
    }
    for (const blob of f.blobs) {
      expect((await env.store.statRepositoryBlob(repo, blob.digest))?.size).toBe(blob.size);
      const bytes = await repositoryBlob(env.store, repo, blob.digest);
      expect(sha256(bytes!)).toBe(blob.digest);
      expect(blobGets(blob.digest)).toBe(1);
    }
    expect(manifestGets(f.digest)).toBe(1);

    const n = f.blobs.length;
    expect(job.returnvalue).toEqual<HydrationResult>({ manifests: 3, blobs: n, blobsFetched: n, bytesFetched: totalSize(f.blobs) });
    expect(job.progress).toEqual<HydrationProgress>({ blobsTotal: n, blobsDone: n, bytesDone: totalSize(f.blobs) });
  });
});

describe('an index with a platform list', () => {
  test("['linux/arm64'] hydrates that platform only: the other manifest and its blobs are never requested", async () => {
    const f = upstream.fixtures.multiPlatform;
    const repo = 'mirror/arm64-only';
    const arm64 = platformChild('linux', 'arm64');
    const amd64 = platformChild('linux', 'amd64');
    const job = await env.completed(await env.enqueue(jobFor(upstream, f, repo, { platforms: ['linux/arm64'] })));

    const armBlobs = await storedChildBlobs(repo, arm64.digest);
    const armDigests = new Set(armBlobs.map((b) => b.digest));
    const amdOnly = f.blobs.filter((b) => !armDigests.has(b.digest));
    expect(armBlobs.length).toBeGreaterThan(0);
    expect(amdOnly.length).toBeGreaterThan(0);
    for (const blob of armBlobs) {
      expect(sha256((await repositoryBlob(env.store, repo, blob.digest))!)).toBe(blob.digest);
      expect(blobGets(blob.digest)).toBe(1);
    }
    expect(await env.store.getManifest(repo, amd64.digest)).toBeUndefined();
    expect(manifestGets(amd64.digest)).toBe(0);
    for (const blob of amdOnly) {
      expect(await env.store.statBlob(blob.digest)).toBeUndefined();
      expect(blobGets(blob.digest)).toBe(0);
    }
    expect(job.returnvalue).toEqual<HydrationResult>({
      manifests: 2,
      blobs: armBlobs.length,
      blobsFetched: armBlobs.length,
      bytesFetched: totalSize(armBlobs),
    });
  });

  test("'pulled' on an index hydrates the index alone: no child manifest, no blob is requested", async () => {
    const f = upstream.fixtures.multiPlatform;
    const repo = 'mirror/index-only';
    const job = await env.completed(await env.enqueue(jobFor(upstream, f, repo, { platforms: 'pulled' })));

    expect((await env.store.getManifest(repo, f.digest))?.bytes.equals(f.manifest)).toBe(true);
    expect(upstream.proxy.count({ kind: 'manifest' })).toBe(1);
    expect(manifestGets(f.digest)).toBe(1);
    expect(upstream.proxy.count({ kind: 'blob' })).toBe(0);
    for (const child of f.manifests ?? []) expect(await env.store.getManifest(repo, child.digest)).toBeUndefined();
    expect(job.returnvalue).toEqual<HydrationResult>({ manifests: 1, blobs: 0, blobsFetched: 0, bytesFetched: 0 });
    expect(job.progress).toEqual<HydrationProgress>({ blobsTotal: 0, blobsDone: 0, bytesDone: 0 });
  });
});

describe('a single-platform image', () => {
  test('fetches the manifest and every blob once and reports progress one blob at a time', async () => {
    const f = upstream.fixtures.multiLayer;
    const repo = 'mirror/multilayer';
    const progress: HydrationProgress[] = [];
    const jobId = await env.enqueue(jobFor(upstream, f, repo));
    const onProgress = ({ jobId: id, data }: { jobId: string; data: unknown }) => {
      if (id === jobId) progress.push(data as HydrationProgress);
    };
    env.events.on('progress', onProgress);
    try {
      const job = await env.completed(jobId);
      expect((await env.store.getManifest(repo, f.digest))?.bytes.equals(f.manifest)).toBe(true);
      expect(manifestGets(f.digest)).toBe(1);
      for (const blob of f.blobs) {
        expect(sha256((await repositoryBlob(env.store, repo, blob.digest))!)).toBe(blob.digest);
        expect(blobGets(blob.digest)).toBe(1);
      }
      const n = f.blobs.length;
      expect(job.returnvalue).toEqual<HydrationResult>({ manifests: 1, blobs: n, blobsFetched: n, bytesFetched: totalSize(f.blobs) });
      expect(job.progress).toEqual<HydrationProgress>({ blobsTotal: n, blobsDone: n, bytesDone: totalSize(f.blobs) });
      // Progress went up one blob at a time (events may arrive after `completed`: wait for the last one).
      const deadline = Date.now() + 5_000;
      while (progress.length < n + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(progress.map((p) => p.blobsDone)).toEqual(Array.from({ length: n + 1 }, (_, i) => i));
      expect(progress.every((p) => p.blobsTotal === n)).toBe(true);
    } finally {
      env.events.off('progress', onProgress);
    }
  });

  test('a job whose blobs are stored already (a pull stored them) reports its start and its end, not each blob', async () => {
    const f = upstream.fixtures.multiLayer;
    const n = f.blobs.length;
    expect(n).toBeGreaterThan(2);
    const first = await env.completed(await env.enqueue(jobFor(upstream, f, 'mirror/stored-first')));
    expect(first.returnvalue).toMatchObject({ blobsFetched: n });
    // The same image for another repository: every blob is stored, each only confirmed (no GET).
    const progress: HydrationProgress[] = [];
    const jobId = await env.enqueue(jobFor(upstream, f, 'mirror/stored-second'));
    const onProgress = ({ jobId: id, data }: { jobId: string; data: unknown }) => {
      if (id === jobId) progress.push(data as HydrationProgress);
    };
    env.events.on('progress', onProgress);
    try {
      const job = await env.completed(jobId);
      expect(job.returnvalue).toEqual<HydrationResult>({ manifests: 1, blobs: n, blobsFetched: 0, bytesFetched: 0 });
      expect(job.progress).toEqual<HydrationProgress>({ blobsTotal: n, blobsDone: n, bytesDone: totalSize(f.blobs) });
      for (const blob of f.blobs) expect(blobGets(blob.digest)).toBe(1);
      const deadline = Date.now() + 5_000;
      while (progress.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200)); // no further event is on its way
      expect(progress.map((p) => p.blobsDone)).toEqual([0, n]);
    } finally {
      env.events.off('progress', onProgress);
    }
  });
});
