import { MediaType } from '@pullthrough/oci';
import type { Reply } from './conformance-client.js';
import { ABSENT_DIGEST, ANNOTATION, ARTIFACT_TYPE_A, EMPTY_JSON, EMPTY_JSON_DIGEST, LAYER, referrersGraph, uniqueImage, type Descriptor, type Referrer } from './conformance-content.js';
import { expectDeleteAnswer } from './delete-answers.js';
import { expectStatus, expectSuccess, type Suite } from './conformance-suite.js';

/** Workflow "content discovery": the tags list with `n`/`last`, and the referrers API. */
export function discoveryWorkflow(suite: Suite): void {
  describe('content discovery', () => {
    const repo = () => suite.repository('discovery');
    const image = uniqueImage();
    const graph = referrersGraph();
    const pushedTags = ['test0', 'test1', 'test2', 'test3', 'tagtest0'];
    /** The OCI-Subject header each manifest PUT with a subject answered. */
    const subjectHeaders = new Map<string, string | null>();
    let allTags: string[] = [];

    const pushReferrer = async (r: Referrer) => {
      const put = await suite.client.putManifest(repo(), r.content.digest, r.content.bytes, r.mediaType);
      expectSuccess(put);
      subjectHeaders.set(r.name, put.headers.get('oci-subject'));
    };

    describe('setup', () => {
      test('S1 an image is pushed under four tags', async () => {
        expectSuccess(await suite.client.pushBlob(repo(), image.config.bytes, image.config.digest));
        expectSuccess(await suite.client.pushBlob(repo(), LAYER.bytes, LAYER.digest));
        for (const tag of pushedTags.slice(0, 4)) expectSuccess(await suite.client.putManifest(repo(), tag, image.manifest.bytes, MediaType.OciManifest));
      });
      test('S2 the empty JSON blob (the digest the image spec fixes) and the first artifact payload are pushed', async () => {
        expect(EMPTY_JSON.digest).toBe(EMPTY_JSON_DIGEST);
        expectSuccess(await suite.client.pushBlob(repo(), EMPTY_JSON.bytes, EMPTY_JSON.digest));
        expectSuccess(await suite.client.pushBlob(repo(), graph.blobA.bytes, graph.blobA.digest));
      });
      test('S3 manifests and an index with a subject are accepted before the subject exists', async () => {
        for (const r of graph.beforeSubject) await pushReferrer(r);
      });
      test('S4 the subject image is pushed under a tag', async () => {
        expectSuccess(await suite.client.pushBlob(repo(), graph.subject.config.bytes, graph.subject.config.digest));
        expectSuccess(await suite.client.putManifest(repo(), 'tagtest0', graph.subject.manifest.bytes, MediaType.OciManifest));
      });
      test('S5 more referrers are accepted after the subject exists, and one of a subject never pushed', async () => {
        expectSuccess(await suite.client.pushBlob(repo(), graph.blobB.bytes, graph.blobB.digest));
        for (const r of graph.afterSubject) await pushReferrer(r);
      });
      suite.checkIf('referrers')('S6 every PUT of a manifest with a subject answers OCI-Subject with the subject\'s digest', async () => {
        const expected = [...graph.beforeSubject, ...graph.afterSubject];
        expect(Object.fromEntries(subjectHeaders)).toEqual(Object.fromEntries(expected.map((r) => [r.name, r.subject])));
      });
    });

    describe('tags list', () => {
      test('D1 the tags list is 200 and names every pushed tag', async () => {
        const { reply, tags } = await suite.client.tags(repo());
        expectStatus(reply, 200);
        expect([...(tags ?? [])].sort()).toEqual([...pushedTags].sort());
        allTags = tags!;
      });
      suite.checkIf('tagPagination')('D2 ?n= limits the list to n tags', async () => {
        const n = Math.floor(allTags.length / 2);
        const { reply, tags } = await suite.client.tags(repo(), { n: String(n) });
        expectStatus(reply, 200);
        expect(tags).toHaveLength(n);
      });
      suite.checkIf('tagPagination')('D3 ?n=&last= continues after `last`: at most n tags, all lexically after it', async () => {
        const n = Math.floor(allTags.length / 2);
        const first = await suite.client.tags(repo(), { n: String(n) });
        expectStatus(first.reply, 200);
        const last = first.tags![n - 1]!;
        const next = await suite.client.tags(repo(), { n: String(n), last });
        expectStatus(next.reply, 200);
        expect(next.tags!.length).toBeGreaterThan(0);
        expect(next.tags!.length).toBeLessThanOrEqual(n);
        for (const tag of next.tags!) {
          expect(first.tags).not.toContain(tag);
          expect(tag > last).toBe(true);
        }
      });
    });

    describe('referrers', () => {
      const onlyIf = suite.checkIf('referrers');
      onlyIf('D4 referrers of a digest nothing refers to: 200, an empty image index', async () => {
        const reply = await suite.client.referrers(repo(), ABSENT_DIGEST);
        expect(referrerIndex(reply)).toEqual([]);
      });
      onlyIf('D5 referrers of the subject: 200, an image index of its five referrers with their annotations and artifact types', async () => {
        const listed = referrerIndex(await suite.client.referrers(repo(), graph.subject.manifest.digest));
        expectReferrers(listed, graph.ofSubject);
      });
      onlyIf('D6 ?artifactType= filter: only matching referrers when OCI-Filters-Applied says so, otherwise all of them', async () => {
        const reply = await suite.client.referrers(repo(), graph.subject.manifest.digest, { artifactType: ARTIFACT_TYPE_A });
        const listed = referrerIndex(reply);
        const applied = reply.headers.get('oci-filters-applied');
        if (applied === null) {
          expectReferrers(listed, graph.ofSubject);
        } else {
          expect(applied).toBe('artifactType');
          expectReferrers(listed, graph.ofSubject.filter((r) => r.artifactType === ARTIFACT_TYPE_A));
        }
      });
      onlyIf('D7 referrers of a subject that was never pushed: 200, the one manifest that names it', async () => {
        const listed = referrerIndex(await suite.client.referrers(repo(), graph.absentSubject.manifest.digest));
        expect(listed.map((d) => d.digest)).toEqual([graph.orphan.content.digest]);
      });
    });

    describe('teardown', () => {
      test('T1 the referrers, the subject and the tagged image are deleted by digest', async () => {
        // The index first: it refers to two of the others.
        const referrers = [graph.bundle, ...graph.ofSubject.filter((r) => r !== graph.bundle), graph.orphan];
        const manifests = referrers.map((r) => r.content.digest);
        for (const digest of [...manifests, graph.subject.manifest.digest, image.manifest.digest]) {
          expectDeleteAnswer(suite, await suite.client.send('DELETE', suite.client.manifestPath(repo(), digest)));
        }
      });
      test('T2 the blobs are deleted', async () => {
        for (const b of [image.config, graph.subject.config, LAYER, EMPTY_JSON, graph.blobA, graph.blobB]) {
          expectDeleteAnswer(suite, await suite.client.send('DELETE', suite.client.blobPath(repo(), b.digest)));
        }
      });
    });
  });
}

/** The descriptors of a referrers answer, which must be 200 and an OCI image index. */
function referrerIndex(reply: Reply): Descriptor[] {
  expectStatus(reply, 200);
  expect(reply.headers.get('content-type')).toBe(MediaType.OciIndex);
  const index = JSON.parse(reply.body.toString('utf8')) as { schemaVersion?: number; mediaType?: string; manifests?: Descriptor[] };
  expect(index.schemaVersion).toBe(2);
  expect(Array.isArray(index.manifests)).toBe(true);
  return index.manifests!;
}

/** Exactly these referrers (any order), each with its digest, size, media type, artifact type and one annotation. */
function expectReferrers(listed: Descriptor[], expected: Referrer[]): void {
  const byDigest = (a: { digest: string }, b: { digest: string }) => a.digest.localeCompare(b.digest);
  const shape = (d: Descriptor) => ({ digest: d.digest, size: d.size, mediaType: d.mediaType, artifactType: d.artifactType, annotations: d.annotations });
  expect(listed.map(shape).sort(byDigest)).toEqual(
    expected
      .map((r) => ({
        digest: r.content.digest,
        size: r.content.bytes.length,
        mediaType: r.mediaType,
        artifactType: r.artifactType,
        annotations: { [ANNOTATION]: r.annotation! },
      }))
      .sort(byDigest),
  );
}
