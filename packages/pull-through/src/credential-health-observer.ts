import type { PullObserver } from './pull-observer.js';

/** Where credential set health is recorded (CredentialHealthBook in @pullthrough/credentials). */
export interface CredentialHealthSink {
  healthy(credentialSetName: string): void;
  unhealthy(credentialSetName: string, errorCode: string, errorMessage: string): void;
}

/**
 * Credential set health from pull outcomes: a credential-lookup or upstream-auth failure of a rule
 * marks its set Unhealthy; an upstream fetch (miss) that succeeded marks it Healthy again.
 */
export function credentialHealthObserver(setOf: (rule: string) => string | undefined, sink: CredentialHealthSink): PullObserver {
  return {
    served(rule, cache) {
      const set = cache === 'miss' || cache === 'revalidated' ? setOf(rule) : undefined;
      if (set) sink.healthy(set);
    },
    failed(rule, category, message) {
      const set = category === 'credential-lookup' || category === 'upstream-auth' ? setOf(rule) : undefined;
      if (set) sink.unhealthy(set, category, message);
    },
  };
}
