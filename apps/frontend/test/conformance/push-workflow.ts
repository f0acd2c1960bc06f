import { MediaType } from '@pullthrough/oci';
import { OCTET_STREAM, SPEC_ERROR_CODES, errorCodesOf, locationOf, type Reply } from './conformance-client.js';
import { ABSENT_DIGEST, ABSENT_TAG, LAYER, chunkedBlob, imageManifest, randomBlob, uniqueConfig } from './conformance-content.js';
import { expectDeleteAnswer } from './delete-answers.js';
import { expectStatus, type Suite } from './conformance-suite.js';

/** Workflow "push": streamed, monolithic and chunked blob uploads, cross-repository mount, manifest upload. */
export function pushWorkflow(suite: Suite): void {
  describe('push', () => {
    const repo = () => suite.repository('push');
    const cross = () => suite.target.crossmountNamespace;
    const autoCross = () => `${suite.target.crossmountNamespace}/auto`;
    const streamed = randomBlob(42);
    const config = uniqueConfig();
    const manifest = imageManifest(config, [LAYER]);
    const layerless = imageManifest(config, []);
    let chunked = chunkedBlob(42);
    let mount: Reply | undefined;
    let autoMount: Reply | undefined;
    let layerlessAccepted = false;

    describe('streamed upload', () => {
      let afterPatch: Reply | undefined;
      test('PS1 a session takes the whole blob in one PATCH without Content-Range: 202', async () => {
        const session = await suite.client.startUpload(repo());
        expectStatus(session, 202);
        afterPatch = await suite.client.send('PATCH', locationOf(session), { headers: { 'Content-Type': OCTET_STREAM }, body: streamed.bytes });
        expectStatus(afterPatch, 202);
      });
      test('PS2 closing the session with PUT ?digest= and no body: 201 with a Location', async () => {
        const put = await suite.client.send('PUT', locationOf(afterPatch!), { headers: { 'Content-Type': OCTET_STREAM }, query: { digest: streamed.digest } });
        expectStatus(put, 201);
        locationOf(put);
      });
    });

    describe('monolithic upload', () => {
      let single: Reply | undefined;
      test('PM1 GET of a blob that does not exist is 404', async () => {
        expectStatus(await suite.client.send('GET', suite.client.blobPath(repo(), ABSENT_DIGEST)), 404);
      });
      test('PM2 POST ?digest= with the bytes: 201 (stored) or 202 (a session instead), with a Location', async () => {
        single = await suite.client.startUpload(repo(), { headers: { 'Content-Type': OCTET_STREAM }, body: config.bytes, query: { digest: config.digest } });
        expectStatus(single, 201, 202);
        locationOf(single);
      });
      test('PM3 the blob of PM2 is served (200) if it was stored, 404 if the registry opened a session', async () => {
        const get = await suite.client.send('GET', suite.client.blobPath(repo(), config.digest));
        expectStatus(get, single!.status === 201 ? 200 : 404);
      });
      let session: Reply | undefined;
      test('PM4 POST opens an upload session: 202', async () => {
        session = await suite.client.startUpload(repo());
        expectStatus(session, 202);
      });
      test('PM5 PUT of the whole blob with ?digest=: 201 with a Location', async () => {
        const put = await suite.client.send('PUT', locationOf(session!), { headers: { 'Content-Type': OCTET_STREAM }, body: config.bytes, query: { digest: config.digest } });
        expectStatus(put, 201);
        locationOf(put);
      });
      test('PM6 the uploaded blob is served: 200 with its bytes', async () => {
        const get = await suite.client.send('GET', suite.client.blobPath(repo(), config.digest));
        expectStatus(get, 200);
        expect(get.body.equals(config.bytes)).toBe(true);
      });
      test('PM7 a layer uploaded by POST then PUT: 201 with a Location', async () => {
        const put = await suite.client.pushBlob(repo(), LAYER.bytes, LAYER.digest);
        expectStatus(put, 201);
        locationOf(put);
      });
      test('PM8 the layer is served: 200 with its bytes', async () => {
        const get = await suite.client.send('GET', suite.client.blobPath(repo(), LAYER.digest));
        expectStatus(get, 200);
        expect(get.body.equals(LAYER.bytes)).toBe(true);
      });
    });

    describe('chunked upload', () => {
      const patch = (location: string, chunk: Buffer, range: string) =>
        suite.client.send('PATCH', location, { headers: { 'Content-Type': OCTET_STREAM, 'Content-Range': range }, body: chunk });
      let firstSession: Reply | undefined;
      let current: Reply | undefined;
      suite.checkIf('chunkOrder')('PC1 a chunk that does not start where the upload ends is refused: 416', async () => {
        const session = await suite.client.startUpload(repo(), { headers: { 'Content-Length': '0' } });
        expectStatus(session, 202);
        const min = Number(session.headers.get('oci-chunk-min-length') ?? 0);
        if (min > chunked.first.length) chunked = chunkedBlob(min * 2 - 2); // chunks the registry accepts
        expectStatus(await patch(locationOf(session), chunked.second, chunked.secondRange), 416);
      });
      test('PC2 the first chunk: 202 with Range 0-<end of chunk>', async () => {
        firstSession = await suite.client.startUpload(repo(), { headers: { 'Content-Length': '0' } });
        expectStatus(firstSession, 202);
        const min = Number(firstSession.headers.get('oci-chunk-min-length') ?? 0);
        if (min > chunked.first.length) chunked = chunkedBlob(min * 2 - 2);
        current = await patch(locationOf(firstSession), chunked.first, chunked.firstRange);
        expectStatus(current, 202);
        expect(current.headers.get('range')).toBe(chunked.firstRange);
      });
      suite.checkIf('chunkOrder')('PC3 the same chunk again at the session\'s first Location: 416', async () => {
        expectStatus(await patch(locationOf(firstSession!), chunked.first, chunked.firstRange), 416);
      });
      suite.checkIf('chunkOrder')('PC4 GET of the session at its first Location: 204 with the current Range and a Location', async () => {
        const status = await suite.client.send('GET', locationOf(firstSession!));
        expectStatus(status, 204);
        locationOf(status);
        expect(status.headers.get('range')).toBe(chunked.firstRange);
        current = status;
      });
      test('PC5 the second chunk at the latest Location (of PC4, else of PC2): 202 with a Location', async () => {
        current = await patch(locationOf(current!), chunked.second, chunked.secondRange);
        expectStatus(current, 202);
        locationOf(current);
      });
      test('PC6 PUT ?digest= with no body closes it: 201 with a Location, and the blob is whole', async () => {
        const put = await suite.client.send('PUT', locationOf(current!), { headers: { 'Content-Type': OCTET_STREAM, 'Content-Length': '0' }, query: { digest: chunked.digest } });
        expectStatus(put, 201);
        locationOf(put);
        const get = await suite.client.send('GET', suite.client.blobPath(repo(), chunked.digest));
        expectStatus(get, 200);
        expect(get.body.equals(chunked.bytes)).toBe(true);
      });
    });

    describe('cross-repository mount', () => {
      test('PX1 ?mount= without from, of a blob nobody has: 202 with a session Location', async () => {
        const reply = await suite.client.startUpload(cross(), { query: { mount: ABSENT_DIGEST } });
        expectStatus(reply, 202);
        expect(suite.client.url(locationOf(reply)).pathname.startsWith(`/v2/${cross()}/blobs/uploads/`)).toBe(true);
      });
      test('PX2 ?mount=&from= of the streamed blob: 201 (mounted) or 202 (upload instead)', async () => {
        mount = await suite.client.startUpload(cross(), { query: { mount: streamed.digest, from: repo() } });
        expectStatus(mount, 201, 202);
      });
      suite.checkIf('crossMount', true)('PX3 a mount answers 201 with the Location of the blob in the target repository, which GET serves', async () => {
        expectStatus(mount!, 201);
        const location = suite.client.url(locationOf(mount!));
        expect(location.pathname).toBe(`/v2/${cross()}/blobs/${streamed.digest}`);
        const get = await suite.client.send('GET', location.toString());
        expectStatus(get, 200);
        expect(get.body.equals(streamed.bytes)).toBe(true);
      });
      suite.checkIf('crossMount', false)('PX4 a registry that does not mount answers 202 with a session in the target repository', async () => {
        expectStatus(mount!, 202);
        expect(suite.client.url(locationOf(mount!)).pathname.startsWith(`/v2/${cross()}/blobs/uploads/`)).toBe(true);
      });
      // Without `from`, into a repository that does not hold the blob yet: only a registry that finds
      // the blob where the caller may read it can mount it.
      suite.checkIf('automaticCrossmount', true)('PX5 ?mount= without from, of a blob the caller can read: 201 (automatic mount), and GET serves it', async () => {
        autoMount = await suite.client.startUpload(autoCross(), { query: { mount: streamed.digest } });
        expectStatus(autoMount, 201);
        const get = await suite.client.send('GET', suite.client.blobPath(autoCross(), streamed.digest));
        expectStatus(get, 200);
        expect(get.body.equals(streamed.bytes)).toBe(true);
      });
      suite.checkIf('automaticCrossmount', false)('PX6 ?mount= without from on a registry without automatic mount: 202', async () => {
        expectStatus(await suite.client.startUpload(autoCross(), { query: { mount: streamed.digest } }), 202);
      });
    });

    describe('manifest upload', () => {
      test('PU1 GET of a manifest that does not exist is 404', async () => {
        expectStatus(await suite.client.getManifest(repo(), ABSENT_TAG), 404);
      });
      test('PU2 PUT of the image under four tags: 201 with a Location each time', async () => {
        for (const tag of ['test0', 'test1', 'test2', 'test3']) {
          const put = await suite.client.putManifest(repo(), tag, manifest.bytes, MediaType.OciManifest);
          expectStatus(put, 201);
          locationOf(put);
        }
      });
      test('PU3 an image manifest with no layers: 201 with a Location (or refused with a spec error)', async () => {
        const put = await suite.client.putManifest(repo(), 'emptylayer', layerless.bytes, MediaType.OciManifest);
        expectStatus(put, 201, 400);
        if (put.status === 201) {
          locationOf(put);
          layerlessAccepted = true;
        } else {
          expect(SPEC_ERROR_CODES).toContain(errorCodesOf(put)[0]);
        }
      });
      test('PU4 GET of the image by digest: 200 with its bytes', async () => {
        const get = await suite.client.getManifest(repo(), manifest.digest, 'GET', MediaType.OciManifest);
        expectStatus(get, 200);
        expect(get.body.equals(manifest.bytes)).toBe(true);
      });
    });

    describe('teardown', () => {
      test('T1 the manifests are deleted by digest', async () => {
        expectDeleteAnswer(suite, await suite.client.send('DELETE', suite.client.manifestPath(repo(), manifest.digest)));
        if (layerlessAccepted) expectDeleteAnswer(suite, await suite.client.send('DELETE', suite.client.manifestPath(repo(), layerless.digest)));
      });
      test('T2 the blobs are deleted', async () => {
        for (const b of [config, LAYER, streamed, chunked]) {
          expectDeleteAnswer(suite, await suite.client.send('DELETE', suite.client.blobPath(repo(), b.digest)));
        }
        if (mount?.status === 201) expectDeleteAnswer(suite, await suite.client.send('DELETE', suite.client.blobPath(cross(), streamed.digest)));
        if (autoMount?.status === 201) expectDeleteAnswer(suite, await suite.client.send('DELETE', suite.client.blobPath(autoCross(), streamed.digest)));
      });
    });
  });
}
