import { MediaType } from '@pullthrough/oci';
import { startRegistry, type UpstreamRegistry } from '@pullthrough/test-support';
import { ConformanceClient, OCTET_STREAM, errorCodesOf, locationOf } from './conformance-client.js';
import { EMPTY_JSON, LAYER, chunkedBlob, referrersGraph, uniqueImage } from './conformance-content.js';
import { describeConformance } from './describe-conformance.js';
import type { ConformanceTarget, TargetSpec } from './conformance-target.js';

// CNCF distribution 2.8 (Debian's docker-registry, delete enabled, Basic auth): the registry the
// suite is validated against. Where 2.8 predates or deviates from distribution-spec v1.1 the checks
// are n/a with the reason, and the second describe below shows each stated deviation is real.
const dockerRegistry: TargetSpec = {
  supports: {
    referrers: false,
    tagPagination: false,
    tagDelete: 'nonconformant',
    chunkOrder: false,
    malformedReferenceError: false,
    contentDelete: true,
    crossMount: true,
    automaticCrossmount: false,
    reasons: {
      referrers: 'distribution 2.8 has no referrers API and answers no OCI-Subject (both new in spec v1.1)',
      tagPagination: 'distribution 2.8 ignores n and last on the tags list and answers every tag',
      tagDelete: "distribution 2.8 answers DELETE by tag with 400 DIGEST_INVALID, not the spec's 400 UNSUPPORTED or 405",
      chunkOrder:
        'distribution 2.8 ignores Content-Range on PATCH (an out-of-order chunk is appended, 202) and answers an earlier Location of a session with 404 BLOB_UPLOAD_INVALID',
      malformedReferenceError: 'distribution 2.8 takes sha256:<not hex> for a tag and answers 500 UNKNOWN (its filesystem driver refuses the path)',
      automaticCrossmount: 'distribution 2.8 mounts only with from=',
    },
  },
  async start() {
    return targetOf(await startRegistry({ auth: 'basic' }));
  },
};

function targetOf(registry: UpstreamRegistry): ConformanceTarget {
  return {
    baseUrl: registry.url,
    namespace: 'conformance/main',
    crossmountNamespace: 'conformance/cross',
    credentials: { username: registry.username!, password: registry.password! },
    stop: () => registry.stop(),
  };
}

describeConformance('docker-registry (CNCF distribution 2.8)', dockerRegistry);

describe('the deviations declared for docker-registry are real (if one goes, turn its capability on)', () => {
  let target: ConformanceTarget;
  let client: ConformanceClient;
  const repo = 'deviations/one';
  const image = uniqueImage();
  beforeAll(async () => {
    target = targetOf(await startRegistry({ auth: 'basic' }));
    client = new ConformanceClient(target);
    for (const b of [image.config, LAYER, EMPTY_JSON]) expect((await client.pushBlob(repo, b.bytes, b.digest)).status).toBe(201);
    for (const tag of ['a', 'b', 'c', 'd']) expect((await client.putManifest(repo, tag, image.manifest.bytes, MediaType.OciManifest)).status).toBe(201);
  }, 60_000);
  afterAll(() => target?.stop());

  test('referrers: a manifest with a subject is stored without OCI-Subject, and there is no referrers API', async () => {
    const graph = referrersGraph();
    const referrer = graph.orphan; // its subject is never pushed
    expect((await client.pushBlob(repo, graph.blobB.bytes, graph.blobB.digest)).status).toBe(201);
    const put = await client.putManifest(repo, referrer.content.digest, referrer.content.bytes, referrer.mediaType);
    expect(put.status).toBe(201);
    expect(put.headers.get('oci-subject')).toBeNull();
    expect((await client.referrers(repo, referrer.subject)).status).toBe(404);
  });

  test('tagPagination: n is ignored', async () => {
    const { reply, tags } = await client.tags(repo, { n: '2' });
    expect(reply.status).toBe(200);
    expect(tags).toHaveLength(4);
  });

  test('tagDelete: DELETE by tag is 400 DIGEST_INVALID and the tag stays', async () => {
    const reply = await client.send('DELETE', client.manifestPath(repo, 'a'));
    expect(reply.status).toBe(400);
    expect(errorCodesOf(reply)).toEqual(['DIGEST_INVALID']);
    expect((await client.getManifest(repo, 'a', 'HEAD', MediaType.OciManifest)).status).toBe(200);
  });

  test('chunkOrder: an out-of-order chunk is accepted (202), and the first Location of a session is refused after a chunk', async () => {
    const blob = chunkedBlob(42);
    const session = await client.startUpload(repo);
    const outOfOrder = await client.send('PATCH', locationOf(session), { headers: { 'Content-Type': OCTET_STREAM, 'Content-Range': blob.secondRange }, body: blob.second });
    expect(outOfOrder.status).toBe(202);
    const second = await client.startUpload(repo);
    const first = await client.send('PATCH', locationOf(second), { headers: { 'Content-Type': OCTET_STREAM, 'Content-Range': blob.firstRange }, body: blob.first });
    expect(first.status).toBe(202);
    const stale = await client.send('GET', locationOf(second));
    expect(stale.status).toBe(404);
    expect(errorCodesOf(stale)).toEqual(['BLOB_UPLOAD_INVALID']);
  });

  test('malformedReferenceError: sha256:<not hex> as a reference is 500 UNKNOWN', async () => {
    const reply = await client.getManifest(repo, 'sha256:not-a-digest', 'GET', MediaType.OciManifest);
    expect(reply.status).toBe(500);
    expect(errorCodesOf(reply)).toEqual(['UNKNOWN']);
  });
});
