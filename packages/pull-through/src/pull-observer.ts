import type { FailureCategory } from '@pullthrough/oci';
import type { CacheStatus } from './content/repository-content.js';

/**
 * What the pull path reports about each rule's traffic: the one feed for rule health and metrics.
 * Implementations must be cheap and never throw (they run on the request path).
 */
export interface PullObserver {
  /** A manifest or blob was served for a rule's repository, and from where. */
  served(rule: string, cache: CacheStatus): void;
  /** A cache failure for a rule, by category, with a message that holds no secret. */
  failed(rule: string, category: FailureCategory, message: string): void;
  /** An upstream of the rule answered: its source registry, or a fallback (`fallback`) while the ones before were unavailable. */
  upstreamAnswered?(rule: string, upstream: string, fallback: boolean): void;
}

export const noopObserver: PullObserver = {
  served: () => undefined,
  failed: () => undefined,
};
