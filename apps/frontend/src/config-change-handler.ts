import type { ConfigChange } from '@pullthrough/operations';
import type { Logger } from '@pullthrough/pull-through';
import type { AccessPolicyRegistry } from './access/access-policy-registry.js';
import type { RuleRegistry } from './rules/rule-registry.js';

export interface ConfigChangeTargets {
  rules: Pick<RuleRegistry, 'reload'>;
  accessPolicies: Pick<AccessPolicyRegistry, 'load'>;
  /** Resolved secrets of credential sets, and their health. */
  credentials: { forget(name: string): void };
  credentialHealth: { forget(name: string): void };
  /** The store's in-memory tag and manifest caches. */
  store: { forgetCached(): void };
  logger: Logger;
  reloadFailed: (err: unknown) => void;
}

/** What this frontend does with a config change another process announced (README "Operations"). */
export function configChangeHandler(t: ConfigChangeTargets): (change: ConfigChange) => void {
  return (change) => {
    t.logger.debug({ kind: change.kind, name: change.name }, 'config change announced');
    switch (change.kind) {
      case 'cache-rules':
        t.rules.reload().catch(t.reloadFailed);
        break;
      case 'access-policy':
        t.accessPolicies.load().catch(t.reloadFailed);
        break;
      case 'credential-sets':
        // Sets are read from storage on use; what this process keeps is their resolved secrets and health.
        t.credentials.forget(change.name);
        t.credentialHealth.forget(change.name);
        break;
      case 'webhooks':
        // Read from storage on every use: nothing held here.
        break;
      case 'repository-content':
        // Retention or a purge removed tags and manifests: forget the in-memory copies.
        t.store.forgetCached();
        break;
    }
  };
}
