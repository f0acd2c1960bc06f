import { checkCacheRule, type CacheRule } from './cache-rule.js';
import { CacheRuleValidationError, type ValidationIssue } from './cache-rule-validation-error.js';
import { normalizeRegistryHost, upstreamRepositoryFor } from './docker-hub.js';
import { isRepositoryPath } from './repository-pattern.js';
import { conflictIssues } from './rule-conflicts.js';
import { compileRule, downstreamCandidates, matchRule, type CompiledRule, type RuleMatch } from './rule-match.js';

/** Most cache rules one registry may hold (ACR's limit). */
export const MAX_CACHE_RULES = 1000;

/** Repository names whose rule match a set keeps (a few hundred bytes each). */
const MATCHES_KEPT = 4096;

export interface CacheRuleSetOptions {
  /** host[:port] names of this registry (e.g. `cache.example`, `127.0.0.1:5000`); never valid upstreams. */
  selfHosts?: readonly string[];
}

function freezeRule(rule: CacheRule): CacheRule {
  if (Array.isArray(rule.platforms)) Object.freeze(rule.platforms);
  if (rule.allow) {
    if (rule.allow.repositories) Object.freeze(rule.allow.repositories);
    if (rule.allow.tags) Object.freeze(rule.allow.tags);
    Object.freeze(rule.allow);
  }
  if (rule.fallbackRegistries) Object.freeze(rule.fallbackRegistries);
  if (rule.retention) Object.freeze(rule.retention);
  return Object.freeze(rule);
}

function prefixed(index: number, issues: readonly ValidationIssue[]): ValidationIssue[] {
  return issues.map((i) => ({ field: i.field === 'rule' ? `rules[${index}]` : `rules[${index}].${i.field}`, message: i.message }));
}

const byName = (a: CompiledRule, b: CompiledRule) => (a.rule.name < b.rule.name ? -1 : a.rule.name > b.rule.name ? 1 : 0);

/**
 * An immutable, consistent set of cache rules: unique names and targets, no overlapping
 * wildcards, no rule pointing at this registry. Changes return a new set.
 */
export class CacheRuleSet {
  private readonly selfHosts: readonly string[];
  private readonly sorted: readonly CompiledRule[];
  private readonly rules: readonly CacheRule[];
  private readonly byName: ReadonlyMap<string, CompiledRule>;
  private readonly staticTargets: ReadonlyMap<string, CompiledRule>;
  /** Longest prefix first. */
  private readonly wildcards: readonly CompiledRule[];
  /** Static rules first, then wildcards by longest source prefix; names break ties. */
  private readonly inverseOrder: readonly CompiledRule[];
  /** `match` answers so far (null: no rule), oldest first; the set never changes, so neither do they. */
  private readonly matches = new Map<string, Readonly<RuleMatch> | null>();

  private constructor(compiled: readonly CompiledRule[], selfHosts: readonly string[]) {
    this.selfHosts = selfHosts;
    this.sorted = [...compiled].sort(byName);
    this.rules = Object.freeze(this.sorted.map((c) => c.rule));
    this.byName = new Map(this.sorted.map((c) => [c.rule.name, c]));
    this.staticTargets = new Map(this.sorted.filter((c) => !c.target.wildcard).map((c) => [c.target.path, c]));
    this.wildcards = this.sorted.filter((c) => c.target.wildcard).sort((a, b) => b.target.path.length - a.target.path.length);
    const sourceDepth = (c: CompiledRule) => (c.source.pattern.path === '' ? 0 : c.source.pattern.path.length + 1);
    this.inverseOrder = [
      ...this.sorted.filter((c) => !c.target.wildcard),
      ...this.sorted.filter((c) => c.target.wildcard).sort((a, b) => sourceDepth(b) - sourceDepth(a) || byName(a, b)),
    ];
    Object.freeze(this);
  }

  /** Validate every rule and the set as a whole; throws CacheRuleValidationError with all issues (`rules[2].name`...). */
  static create(rules: readonly unknown[], options: CacheRuleSetOptions = {}): CacheRuleSet {
    const selfHosts = Object.freeze([...(options.selfHosts ?? [])]);
    if (!Array.isArray(rules)) throw new CacheRuleValidationError([{ field: 'rules', message: 'must be a list of cache rules' }]);
    if (rules.length > MAX_CACHE_RULES) {
      throw new CacheRuleValidationError([{ field: 'rules', message: `at most ${MAX_CACHE_RULES} cache rules are allowed (got ${rules.length})` }]);
    }
    const issues: ValidationIssue[] = [];
    const accepted: CompiledRule[] = [];
    rules.forEach((input, index) => {
      const { rule, issues: ruleIssues } = checkCacheRule(input, { selfHosts });
      if (!rule) {
        issues.push(...prefixed(index, ruleIssues));
        return;
      }
      const compiled = compileRule(freezeRule(rule));
      const conflicts = conflictIssues(compiled, accepted);
      if (conflicts.length > 0) issues.push(...prefixed(index, conflicts));
      else accepted.push(compiled);
    });
    if (issues.length > 0) throw new CacheRuleValidationError(issues);
    return new CacheRuleSet(accepted, selfHosts);
  }

  get size(): number {
    return this.sorted.length;
  }

  get(name: string): CacheRule | undefined {
    return this.byName.get(name)?.rule;
  }

  /** Every rule, sorted by name. */
  list(): readonly CacheRule[] {
    return this.rules;
  }

  /** A new set with `rule` added, or replacing the rule of the same name. Throws CacheRuleValidationError. */
  withRule(input: unknown): CacheRuleSet {
    const { rule, issues } = checkCacheRule(input, { selfHosts: this.selfHosts });
    if (!rule) throw new CacheRuleValidationError(issues);
    const others = this.sorted.filter((c) => c.rule.name !== rule.name);
    if (others.length >= MAX_CACHE_RULES) {
      throw new CacheRuleValidationError([{ field: 'rules', message: `at most ${MAX_CACHE_RULES} cache rules are allowed` }]);
    }
    const compiled = compileRule(freezeRule(rule));
    const conflicts = conflictIssues(compiled, others);
    if (conflicts.length > 0) throw new CacheRuleValidationError(conflicts);
    return new CacheRuleSet([...others, compiled], this.selfHosts);
  }

  /** A new set without the named rule (this set when there is no such rule). */
  withoutRule(name: string): CacheRuleSet {
    if (!this.byName.has(name)) return this;
    return new CacheRuleSet(
      this.sorted.filter((c) => c.rule.name !== name),
      this.selfHosts,
    );
  }

  /**
   * The rule serving a downstream repository: an exact static target first, then the longest wildcard
   * prefix. Answers are kept (frozen, the last MATCHES_KEPT names): every data request asks, some twice
   * (its content and its anonymous-pull check), and the set is immutable.
   */
  match(downstreamRepository: string): Readonly<RuleMatch> | undefined {
    const known = this.matches.get(downstreamRepository);
    if (known !== undefined) return known ?? undefined;
    const found = this.findMatch(downstreamRepository);
    if (this.matches.size >= MATCHES_KEPT) this.matches.delete(this.matches.keys().next().value!);
    this.matches.set(downstreamRepository, found ? Object.freeze(found) : null);
    return found;
  }

  private findMatch(downstreamRepository: string): RuleMatch | undefined {
    if (!isRepositoryPath(downstreamRepository)) return undefined;
    const exact = this.staticTargets.get(downstreamRepository);
    if (exact) return matchRule(exact, downstreamRepository);
    for (const compiled of this.wildcards) {
      const found = matchRule(compiled, downstreamRepository);
      if (found) return found;
    }
    return undefined;
  }

  /**
   * The downstream repository an upstream one is served under, or undefined. Only names that
   * `match` maps back to the same upstream are returned (a static rule shadowing part of a
   * wildcard is respected); static rules win over wildcards.
   */
  toDownstream(upstreamRegistry: string, upstreamRepository: string): string | undefined {
    const registry = normalizeRegistryHost(upstreamRegistry);
    const repository = upstreamRepositoryFor(registry, upstreamRepository);
    if (!isRepositoryPath(repository)) return undefined;
    for (const compiled of this.inverseOrder) {
      for (const candidate of downstreamCandidates(compiled, registry, repository)) {
        const back = this.match(candidate);
        if (back && back.upstreamRegistry === registry && back.upstreamRepository === repository) return candidate;
      }
    }
    return undefined;
  }
}
