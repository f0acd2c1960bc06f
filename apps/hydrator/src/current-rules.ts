import { CACHE_RULES_KIND, CacheRuleSet } from '@pullthrough/cache-rules';
import type { RegistryStore } from '@pullthrough/storage';

/**
 * The cache rules as stored now, read on every call (one small file per rule): a hydration job is
 * checked against the rules of the moment it runs, not against what a process held in memory.
 * Stored rules that fail validation reject the call (the job retries, as for any storage error).
 */
export function currentRules(store: RegistryStore, selfHosts: readonly string[]): () => Promise<CacheRuleSet> {
  return async () => CacheRuleSet.create(await store.listControl<unknown>(CACHE_RULES_KIND), { selfHosts });
}
