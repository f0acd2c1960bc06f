import { allowRefusal, type CacheRuleSet } from '@pullthrough/cache-rules';
import { JobRuleMismatchError } from '@pullthrough/oci';
import type { UpstreamClients } from './upstream-clients.js';
import type { RuleRef, UpstreamCoordinates, UpstreamTarget } from './upstream-target.js';

/**
 * The target of a hydration job, from the CURRENT rules (the hydrator passes the set as stored now):
 * the job's rule must still exist and still give the job's downstream repository the job's upstream
 * registry (its source or one of its fallbacks), repository and credential set, and admit the job's
 * tag. The credential set used is the rule's, never one the job names. Throws JobRuleMismatchError.
 */
export function upstreamTargetForJob(coords: UpstreamCoordinates, rules: CacheRuleSet, clients: UpstreamClients, platforms?: RuleRef['platforms']): UpstreamTarget {
  const refuse = (why: string): never => {
    throw new JobRuleMismatchError(`hydration job refused: ${why}`, { detail: { rule: coords.ruleName, repository: coords.downstreamRepository } });
  };
  if (!rules.get(coords.ruleName)) refuse(`cache rule "${coords.ruleName}" no longer exists`);
  const match = rules.match(coords.downstreamRepository);
  if (!match) return refuse(`no cache rule maps ${coords.downstreamRepository} now`);
  if (match.rule.name !== coords.ruleName) refuse(`${coords.downstreamRepository} is now mapped by cache rule "${match.rule.name}", not "${coords.ruleName}"`);
  // The job names the registry that served the pull: the rule's source or one of its fallbacks.
  const target = clients.targetFor(match, coords.downstreamRepository, { ...match.rule, ...(platforms ? { platforms } : {}) });
  if (!target.upstreams.some((u) => u.registry === coords.upstreamRegistry && u.repository === coords.upstreamRepository)) {
    const now = target.upstreams.map((u) => `${u.registry}/${u.repository}`).join(' or ');
    refuse(`cache rule "${coords.ruleName}" now maps ${coords.downstreamRepository} to ${now}, not ${coords.upstreamRegistry}/${coords.upstreamRepository}`);
  }
  const refusal = allowRefusal(match.rule, match.upstreamRepository, coords.tag ?? undefined);
  if (refusal) refuse(refusal.message);
  if ((match.rule.credentialSetName ?? undefined) !== (coords.credentialSetName ?? undefined)) {
    refuse(`cache rule "${coords.ruleName}" now uses ${match.rule.credentialSetName ? `credential set "${match.rule.credentialSetName}"` : 'no credential set'}, not ${coords.credentialSetName ? `"${coords.credentialSetName}"` : 'none'}`);
  }
  return target;
}
