import type { Reply } from './conformance-client.js';
import { expectStatus, type Suite } from './conformance-suite.js';

/**
 * A teardown DELETE. A target with `contentDelete` must accept it (202); one without may refuse
 * with 405, as the spec allows (any 2xx is accepted there too). `mayBeGone`: the content may
 * already be gone through another delete (a blob shared by two manifests), so 404 is right too.
 */
export function expectDeleteAnswer(suite: Suite, reply: Reply, options: { mayBeGone?: boolean } = {}): void {
  const gone = options.mayBeGone ? [404] : [];
  if (suite.supports.contentDelete) {
    expectStatus(reply, 202, ...gone);
    return;
  }
  expectStatus(reply, 200, 201, 202, 204, 405, ...gone);
}
