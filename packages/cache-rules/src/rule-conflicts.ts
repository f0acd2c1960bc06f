import type { ValidationIssue } from './cache-rule-validation-error.js';
import { formatPattern, wildcardPrefixesOverlap } from './repository-pattern.js';
import type { CompiledRule } from './rule-match.js';

/**
 * Why `candidate` cannot join `others` (which are consistent among themselves): a duplicate
 * name, the same static target, or overlapping wildcard targets. A static target inside a
 * wildcard is fine (the static rule wins when matching).
 */
export function conflictIssues(candidate: CompiledRule, others: readonly CompiledRule[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const { rule, target } = candidate;
  for (const other of others) {
    if (other.rule.name === rule.name) {
      issues.push({ field: 'name', message: `duplicate name: rule "${other.rule.name}" already exists` });
    }
    if (!target.wildcard && !other.target.wildcard && target.path === other.target.path) {
      issues.push({
        field: 'targetRepository',
        message: `targetRepository "${target.path}" is already the target of rule "${other.rule.name}"`,
      });
    }
    if (target.wildcard && other.target.wildcard && wildcardPrefixesOverlap(target.path, other.target.path)) {
      issues.push({
        field: 'targetRepository',
        message:
          `targetRepository "${formatPattern(target)}" overlaps rule "${other.rule.name}" ` +
          `(targetRepository "${formatPattern(other.target)}"): wildcard targets must not contain one another`,
      });
    }
  }
  return issues;
}
