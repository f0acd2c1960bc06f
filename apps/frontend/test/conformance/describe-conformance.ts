import { Suite } from './conformance-suite.js';
import type { TargetSpec } from './conformance-target.js';
import { discoveryWorkflow } from './discovery-workflow.js';
import { managementWorkflow } from './management-workflow.js';
import { pullWorkflow } from './pull-workflow.js';
import { pushWorkflow } from './push-workflow.js';

/**
 * Our own checks of every behaviour the OCI distribution-spec v1.1 conformance suite checks, for
 * pull, push, content discovery and content management (CHECKS.md maps each of its checks to
 * ours), run in order against one target. The workflows keep to their own repositories under the
 * target's namespace; checks a target declares it does not support are not registered for it (n/a; CHECKS.md says why).
 */
export function describeConformance(name: string, spec: TargetSpec): void {
  describe(`OCI distribution-spec v1.1 conformance: ${name}`, () => {
    const suite = new Suite(spec.supports);
    beforeAll(async () => {
      suite.attach(await spec.start());
    }, 60_000);
    afterAll(async () => {
      await suite.target.stop();
    });

    pullWorkflow(suite);
    pushWorkflow(suite);
    discoveryWorkflow(suite);
    managementWorkflow(suite);
  });
}
