import { parseSourceRepository } from './upstream-source.js';

/** Storage control-area kind under which cache rules are kept (a name; cache-rules itself does no I/O). */
export const CACHE_RULES_KIND = 'cache-rules';

/** The normalized upstream registry (host[:port]) a rule's `sourceRepository` names, or undefined when it is not valid. */
export function ruleRegistry(rule: { sourceRepository: string }): string | undefined {
  return parseSourceRepository(rule.sourceRepository).source?.registry;
}
