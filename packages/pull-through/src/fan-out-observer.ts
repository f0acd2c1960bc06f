import type { PullObserver } from './pull-observer.js';

/** One PullObserver that reports to several (rule health, credential health, metrics). */
export function fanOutObserver(...observers: PullObserver[]): PullObserver {
  return {
    served: (rule, cache) => observers.forEach((o) => o.served(rule, cache)),
    failed: (rule, category, message) => observers.forEach((o) => o.failed(rule, category, message)),
    upstreamAnswered: (rule, upstream, fallback) => observers.forEach((o) => o.upstreamAnswered?.(rule, upstream, fallback)),
  };
}
