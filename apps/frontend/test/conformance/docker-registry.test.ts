import { startRegistry } from '@pullthrough/test-support';
import { describeConformance } from './describe-conformance.js';

// CNCF distribution 2.8 (Debian's docker-registry) with delete enabled: the reference the suite is
// validated against. Where 2.8 predates distribution-spec v1.1 the checks are n/a, with the reason.
describeConformance('docker-registry (CNCF distribution 2.8)', {
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
      tagDelete: 'distribution 2.8 answers DELETE by tag with 400 DIGEST_INVALID, not the spec\'s 400 UNSUPPORTED or 405',
      chunkOrder:
        'distribution 2.8 ignores Content-Range on PATCH (an out-of-order chunk is appended, 202) and answers an earlier Location of a session with 404 BLOB_UPLOAD_INVALID',
      malformedReferenceError: 'distribution 2.8 takes sha256:<not hex> for a tag and answers 500 UNKNOWN (its filesystem driver refuses the path)',
      automaticCrossmount: 'distribution 2.8 mounts only with from=',
    },
  },
  async start() {
    const registry = await startRegistry({ auth: 'basic' });
    return {
      baseUrl: registry.url,
      namespace: 'conformance/main',
      crossmountNamespace: 'conformance/cross',
      credentials: { username: registry.username!, password: registry.password! },
      stop: () => registry.stop(),
    };
  },
});
