import { allowRefusal } from '@pullthrough/cache-rules';
import type { RegistryError, RegistryErrorOptions } from '@pullthrough/oci';
import type { UpstreamTarget } from './upstream-target.js';

type Refused = new (message: string, options?: RegistryErrorOptions) => RegistryError;

/**
 * Enforce the rule's allow-list (its sanitized catalog) before local storage or any upstream is
 * consulted: throws `refused` (MANIFEST_UNKNOWN, BLOB_UNKNOWN or NAME_UNKNOWN, all 404) naming
 * the rule and the filter. The repository is checked on the upstream path; `tag` when given.
 * Not a rule failure: the error carries no category, so rule health does not count it.
 */
export function refuseOutsideAllowList(target: UpstreamTarget, refused: Refused, tag?: string): void {
  const refusal = allowRefusal(target.rule, target.upstreamRepository, tag);
  if (!refusal) return;
  throw new refused(refusal.message, {
    detail: {
      rule: target.rule.name,
      filter: refusal.filter,
      repository: target.downstreamRepository,
      upstreamRepository: target.upstreamRepository,
      ...(tag !== undefined && refusal.filter === 'allow.tags' ? { tag } : {}),
    },
  });
}
