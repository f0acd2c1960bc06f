import { RegistryError } from '@pullthrough/oci';
import type { PullObserver } from './pull-observer.js';
import { annotateUpstreamError } from './upstream-answers.js';
import type { UpstreamTarget } from './upstream-target.js';

/**
 * Why local content is served instead of the upstream's answer (the `X-Cache-Stale-Reason`): the
 * failure's category, message and cause. The failure still goes to the observer, so rule health
 * sees the upstream trouble even though the client got an answer.
 */
export function staleReason(err: unknown, target: UpstreamTarget, observer: PullObserver): string {
  annotateUpstreamError(err, target);
  if (!(err instanceof RegistryError)) return 'upstream error';
  if (err.category) observer.failed(target.rule.name, err.category, err.message);
  const detail = err.detail as { reason?: unknown; lastFailure?: unknown };
  const why = [detail.reason, detail.lastFailure].filter((r): r is string => typeof r === 'string' && !err.message.includes(r));
  return `${err.category ?? err.code}: ${err.message}${why.length ? ` (${why.join('; ')})` : ''}`;
}
