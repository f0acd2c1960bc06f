import { MediaType } from '@pullthrough/oci';
import { SPEC_ERROR_CODES, errorCodesOf } from './conformance-client.js';
import { ABSENT_DIGEST, ABSENT_TAG, LAYER, uniqueImage } from './conformance-content.js';
import { expectDeleteAnswer } from './delete-answers.js';
import { expectDigestHeaderIfPresent, expectStatus, expectSuccess, type Suite } from './conformance-suite.js';

/** Workflow "pull": content is pushed in setup, then read back by digest and tag, then removed. */
export function pullWorkflow(suite: Suite): void {
  describe('pull', () => {
    const tag = 'pulltag';
    const byTag = uniqueImage();
    const byDigest = uniqueImage();
    const repo = () => suite.repository('pull');

    describe('setup', () => {
      test('S1 the first image config is pushed', async () => {
        expectSuccess(await suite.client.pushBlob(repo(), byTag.config.bytes, byTag.config.digest));
      });
      test('S2 the second image config is pushed', async () => {
        expectSuccess(await suite.client.pushBlob(repo(), byDigest.config.bytes, byDigest.config.digest));
      });
      test('S3 the layer is pushed', async () => {
        expectSuccess(await suite.client.pushBlob(repo(), LAYER.bytes, LAYER.digest));
      });
      test('S4 the first manifest is pushed under a tag', async () => {
        expectSuccess(await suite.client.putManifest(repo(), tag, byTag.manifest.bytes, MediaType.OciManifest));
      });
      test('S5 the second manifest is pushed under its digest', async () => {
        expectSuccess(await suite.client.putManifest(repo(), byDigest.manifest.digest, byDigest.manifest.bytes, MediaType.OciManifest));
      });
    });

    describe('blobs', () => {
      test('P1 HEAD of a blob that does not exist is 404', async () => {
        expectStatus(await suite.client.send('HEAD', suite.client.blobPath(repo(), ABSENT_DIGEST)), 404);
      });
      test('P2 HEAD of an existing blob is 200 (and its digest, if named, is right)', async () => {
        const reply = await suite.client.send('HEAD', suite.client.blobPath(repo(), byTag.config.digest));
        expectStatus(reply, 200);
        expectDigestHeaderIfPresent(reply, byTag.config.digest);
        expect(reply.body.length).toBe(0);
      });
      test('P3 GET of a blob that does not exist is 404', async () => {
        expectStatus(await suite.client.send('GET', suite.client.blobPath(repo(), ABSENT_DIGEST)), 404);
      });
      test('P4 GET of an existing blob is 200 with its bytes', async () => {
        const reply = await suite.client.send('GET', suite.client.blobPath(repo(), byTag.config.digest));
        expectStatus(reply, 200);
        expect(reply.body.equals(byTag.config.bytes)).toBe(true);
      });
    });

    describe('manifests', () => {
      const accept = MediaType.OciManifest;
      test('P5 HEAD of a manifest that does not exist is 404', async () => {
        expectStatus(await suite.client.getManifest(repo(), ABSENT_TAG, 'HEAD', accept), 404);
      });
      test('P6 HEAD of the manifest pushed by tag, by its digest, is 200', async () => {
        const reply = await suite.client.getManifest(repo(), byTag.manifest.digest, 'HEAD', accept);
        expectStatus(reply, 200);
        expectDigestHeaderIfPresent(reply, byTag.manifest.digest);
      });
      test('P7 HEAD of the manifest pushed by digest, by its digest, is 200', async () => {
        const reply = await suite.client.getManifest(repo(), byDigest.manifest.digest, 'HEAD', accept);
        expectStatus(reply, 200);
        expectDigestHeaderIfPresent(reply, byDigest.manifest.digest);
      });
      test('P8 HEAD by tag is 200 and names the tagged manifest', async () => {
        const reply = await suite.client.getManifest(repo(), tag, 'HEAD', accept);
        expectStatus(reply, 200);
        expectDigestHeaderIfPresent(reply, byTag.manifest.digest);
      });
      test('P9 GET of a manifest that does not exist is 404', async () => {
        expectStatus(await suite.client.getManifest(repo(), ABSENT_TAG, 'GET', accept), 404);
      });
      test('P10 GET of the manifest pushed by tag, by its digest, is 200 with its bytes', async () => {
        const reply = await suite.client.getManifest(repo(), byTag.manifest.digest, 'GET', accept);
        expectStatus(reply, 200);
        expect(reply.body.equals(byTag.manifest.bytes)).toBe(true);
      });
      test('P11 GET of the manifest pushed by digest, by its digest, is 200 with its bytes', async () => {
        const reply = await suite.client.getManifest(repo(), byDigest.manifest.digest, 'GET', accept);
        expectStatus(reply, 200);
        expect(reply.body.equals(byDigest.manifest.bytes)).toBe(true);
      });
      test('P12 GET by tag is 200 with the tagged manifest', async () => {
        const reply = await suite.client.getManifest(repo(), tag, 'GET', accept);
        expectStatus(reply, 200);
        expect(reply.body.equals(byTag.manifest.bytes)).toBe(true);
        expectDigestHeaderIfPresent(reply, byTag.manifest.digest);
      });
    });

    describe('error codes', () => {
      suite.checkIf('malformedReferenceError')('P13 a malformed digest reference is 404, or 400 with a spec error code in the OCI error body', async () => {
        const reply = await suite.client.send('GET', suite.client.manifestPath(repo(), 'sha256:not-a-digest'), {
          headers: { Accept: MediaType.OciManifest },
        });
        expectStatus(reply, 400, 404);
        if (reply.status === 400) expect(SPEC_ERROR_CODES).toContain(errorCodesOf(reply)[0]);
      });
    });

    describe('teardown', () => {
      test('T1 the manifests are deleted by digest', async () => {
        for (const m of [byTag.manifest, byDigest.manifest]) {
          expectDeleteAnswer(suite, await suite.client.send('DELETE', suite.client.manifestPath(repo(), m.digest)));
        }
      });
      test('T2 the blobs are deleted', async () => {
        for (const b of [byTag.config, byDigest.config, LAYER]) {
          expectDeleteAnswer(suite, await suite.client.send('DELETE', suite.client.blobPath(repo(), b.digest)));
        }
      });
    });
  });
}
