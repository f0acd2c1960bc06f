export { CacheRuleValidationError, type ValidationIssue } from './cache-rule-validation-error.js';
export {
  parseCacheRule,
  checkCacheRule,
  rulePlatforms,
  ruleTagFreshnessSeconds,
  ruleUpstreamTagNotFound,
  ruleAnonymousPull,
  rulePushAllowed,
  ruleFallbackRegistries,
  MAX_FALLBACK_REGISTRIES,
  UPSTREAM_TAG_NOT_FOUND_POLICIES,
  DEFAULT_UPSTREAM_TAG_NOT_FOUND,
  MAX_TAG_FRESHNESS_SECONDS,
  type UpstreamTagNotFound,
  RULE_NAME_PATTERN,
  PLATFORM_PATTERN,
  DEFAULT_PLATFORMS,
  type CacheRule,
  type ParseCacheRuleOptions,
  type PlatformSelection,
} from './cache-rule.js';
export { CacheRuleSet, MAX_CACHE_RULES, type CacheRuleSetOptions } from './cache-rule-set.js';
export { sameOrigin, type RuleMatch } from './rule-match.js';
export { normalizeRegistryHost, sameRegistry, isDockerHub, DOCKER_HUB_REGISTRY } from './docker-hub.js';
export { ruleRegistry, CACHE_RULES_KIND } from './rule-upstream-registry.js';
export { isRepositoryPath, MAX_REPOSITORY_LENGTH } from './repository-pattern.js';
export { mirrorRepository, registryWidePrefix, type MirrorRepository } from './mirror-repository.js';
export { registryHostIssues } from './upstream-source.js';
export { allowRefusal, repositoryAllowed, tagAllowed, isSemverRangeEntry, MAX_ALLOW_ENTRIES, type RuleAllowList, type AllowRefusal } from './allow-list.js';
export { parseSemverRange, parseTagVersion, satisfies, tagSatisfies, compareVersions, type SemverRange, type Version } from './semver-range.js';
export { upstreamRepositoryFor } from './docker-hub.js';
