import { MediaType } from '@pullthrough/oci';
import { errorCodesOf, type Reply } from './conformance-client.js';
import { LAYER, uniqueImage } from './conformance-content.js';
import { expectStatus, expectSuccess, type Suite } from './conformance-suite.js';

/** Workflow "content management": deleting a tag, a manifest and blobs, and what reads see afterwards. */
export function managementWorkflow(suite: Suite): void {
  describe('content management', () => {
    const repo = () => suite.repository('management');
    const image = uniqueImage();
    const tag = 'tagtest0';
    const keptTag = 'kept';
    let tagsBefore: string[] = [];
    let manifestDelete: Reply | undefined;

    describe('setup', () => {
      test('S1 an image is pushed under two tags', async () => {
        expectSuccess(await suite.client.pushBlob(repo(), image.config.bytes, image.config.digest));
        expectSuccess(await suite.client.pushBlob(repo(), LAYER.bytes, LAYER.digest));
        expectSuccess(await suite.client.putManifest(repo(), tag, image.manifest.bytes, MediaType.OciManifest));
        expectSuccess(await suite.client.putManifest(repo(), keptTag, image.manifest.bytes, MediaType.OciManifest));
      });
      test('S2 the tags list before any delete names both tags', async () => {
        const { reply, tags } = await suite.client.tags(repo());
        expectStatus(reply, 200);
        expect([...(tags ?? [])].sort()).toEqual([keptTag, tag]);
        tagsBefore = tags!;
      });
    });

    describe('manifest delete', () => {
      suite.checkIf('tagDelete', 'deletes')('M1 DELETE of a tag: 202, the tag is gone and the manifest stays under its other tag', async () => {
        expectStatus(await suite.client.send('DELETE', suite.client.manifestPath(repo(), tag)), 202);
        expectStatus(await suite.client.getManifest(repo(), tag, 'GET', MediaType.OciManifest), 404);
        expectStatus(await suite.client.getManifest(repo(), keptTag, 'GET', MediaType.OciManifest), 200);
      });
      suite.checkIf('tagDelete', 'refuses')('M2 DELETE of a tag on a registry that may refuse it: 202, or 400 UNSUPPORTED, or 405', async () => {
        const reply = await suite.client.send('DELETE', suite.client.manifestPath(repo(), tag));
        expectStatus(reply, 202, 400, 405);
        if (reply.status === 400) expect(errorCodesOf(reply)[0]).toBe('UNSUPPORTED');
      });
      test('M3 DELETE of the manifest by digest: 202 (where deletes are refused: 405, or 404 if the tag delete took it)', async () => {
        manifestDelete = await suite.client.send('DELETE', suite.client.manifestPath(repo(), image.manifest.digest));
        if (suite.supports.contentDelete) expectStatus(manifestDelete, 202);
        else expectStatus(manifestDelete, 202, 404, 405);
      });
      test('M4 GET of the deleted manifest: 404 (200 only where the registry refused the delete)', async () => {
        const get = await suite.client.getManifest(repo(), image.manifest.digest, 'GET', MediaType.OciManifest);
        expectStatus(get, manifestDelete!.status === 405 ? 200 : 404);
      });
      test('M5 the tags list shows fewer tags than before', async () => {
        const { reply, tags } = await suite.client.tags(repo());
        // A repository whose last tag went may be unknown now (404 NAME_UNKNOWN): no tags either.
        if (reply.status === 404) expect(errorCodesOf(reply)[0]).toBe('NAME_UNKNOWN');
        else expectStatus(reply, 200);
        expect((tags ?? []).length).toBeLessThan(tagsBefore.length);
      });
    });

    describe('blob delete', () => {
      let configDelete: Reply | undefined;
      test('M6 DELETE of the config and the layer: 202 (405 where blob delete is refused)', async () => {
        configDelete = await suite.client.send('DELETE', suite.client.blobPath(repo(), image.config.digest));
        const layerDelete = await suite.client.send('DELETE', suite.client.blobPath(repo(), LAYER.digest));
        for (const reply of [configDelete, layerDelete]) {
          if (suite.supports.contentDelete) expectStatus(reply, 202);
          else expectStatus(reply, 202, 404, 405);
        }
      });
      test('M7 GET of the deleted config blob: 404', async () => {
        const get = await suite.client.send('GET', suite.client.blobPath(repo(), image.config.digest));
        expectStatus(get, configDelete!.status === 405 ? 200 : 404);
      });
    });
  });
}
