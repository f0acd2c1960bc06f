import type { CacheRule } from './cache-rule.js';
import { shortDockerHubName, upstreamRepositoryFor } from './docker-hub.js';
import { joinRepositoryPath, matchRepositoryPattern, parseTargetRepository, type RepositoryPattern } from './repository-pattern.js';
import { parseSourceRepository, type UpstreamSource } from './upstream-source.js';

/** Where a downstream repository comes from. */
export interface RuleMatch {
  rule: CacheRule;
  /** Normalized host[:port] to fetch from, e.g. `registry-1.docker.io`, `127.0.0.1:5001`. */
  upstreamRegistry: string;
  /** Repository on the upstream, e.g. `library/node`. */
  upstreamRepository: string;
  downstreamRepository: string;
}

/**
 * Do two matches fetch from the same place with the same credentials (same rule, upstream
 * registry, upstream repository and credential set)? Content cached under one may be served under
 * the other; otherwise it came from somewhere the new mapping does not vouch for.
 */
export function sameOrigin(a: RuleMatch, b: RuleMatch | undefined): boolean {
  return (
    b !== undefined &&
    a.rule.name === b.rule.name &&
    a.upstreamRegistry === b.upstreamRegistry &&
    a.upstreamRepository === b.upstreamRepository &&
    (a.rule.credentialSetName ?? '') === (b.rule.credentialSetName ?? '')
  );
}

/** A validated rule with its two sides parsed once. */
export interface CompiledRule {
  readonly rule: CacheRule;
  readonly target: RepositoryPattern;
  readonly source: UpstreamSource;
}

/** Parse both sides of an already validated rule. */
export function compileRule(rule: CacheRule): CompiledRule {
  const { pattern: target } = parseTargetRepository(rule.targetRepository);
  const { source } = parseSourceRepository(rule.sourceRepository);
  if (!target || !source) throw new Error(`cache rule "${rule.name}" was not validated`);
  return { rule, target, source };
}

/** Forward mapping through one rule: downstream `dockerhub/node` -> upstream `library/node`. */
export function matchRule(compiled: CompiledRule, downstreamRepository: string): RuleMatch | undefined {
  const rest = matchRepositoryPattern(compiled.target, downstreamRepository);
  if (rest === undefined) return undefined;
  const { registry, pattern } = compiled.source;
  const path = compiled.target.wildcard ? joinRepositoryPath(pattern.path, rest) : pattern.path;
  return {
    rule: compiled.rule,
    upstreamRegistry: registry,
    upstreamRepository: upstreamRepositoryFor(registry, path),
    downstreamRepository,
  };
}

/**
 * Inverse mapping through one rule: the downstream names that would serve this (normalized)
 * upstream repository, preferred first. A registry-level Docker Hub wildcard offers the short
 * name first (`library/node` -> `dockerhub/node`, then `dockerhub/library/node`).
 */
export function downstreamCandidates(compiled: CompiledRule, upstreamRegistry: string, upstreamRepository: string): string[] {
  const { source, target } = compiled;
  if (source.registry !== upstreamRegistry) return [];
  if (!target.wildcard) {
    return upstreamRepositoryFor(source.registry, source.pattern.path) === upstreamRepository ? [target.path] : [];
  }
  const rest = matchRepositoryPattern(source.pattern, upstreamRepository);
  if (rest === undefined) return [];
  const short = source.pattern.path === '' ? shortDockerHubName(source.registry, upstreamRepository) : undefined;
  const rests = short === undefined ? [rest] : [short, rest];
  return rests.map((r) => joinRepositoryPath(target.path, r));
}
