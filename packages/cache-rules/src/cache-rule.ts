import { z } from 'zod';
import { CacheRuleValidationError, fieldName, type ValidationIssue } from './cache-rule-validation-error.js';
import { MAX_ALLOW_ENTRIES, repositoryGlobIssues, tagFilterIssues, type RuleAllowList } from './allow-list.js';
import { normalizeRegistryHost } from './docker-hub.js';
import { hasTrailingWildcard, parseTargetRepository } from './repository-pattern.js';
import { isSelfHost, parseSourceRepository, registryHostIssues } from './upstream-source.js';

/** Rule and credential set names: 5-50 letters, digits and '-' (like ACR). */
export const RULE_NAME_PATTERN = /^[A-Za-z0-9-]{5,50}$/;
/** `os/arch` or `os/arch/variant`, lowercase, e.g. `linux/amd64`, `linux/arm/v7`. */
export const PLATFORM_PATTERN = /^[a-z0-9][a-z0-9._-]*\/[a-z0-9][a-z0-9._-]*(?:\/[a-z0-9][a-z0-9._-]*)?$/;

/** Which children of a multi-platform index the hydrator makes local. */
export type PlatformSelection = 'pulled' | 'all' | string[];
export const DEFAULT_PLATFORMS = 'pulled';

/** What a pull of a locally held tag does when the upstream answers 404 for it. */
export type UpstreamTagNotFound = 'report-missing' | 'serve-local';
export const UPSTREAM_TAG_NOT_FOUND_POLICIES: readonly UpstreamTagNotFound[] = ['report-missing', 'serve-local'];
export const DEFAULT_UPSTREAM_TAG_NOT_FOUND: UpstreamTagNotFound = 'report-missing';
/** Upper bound of a rule's tag freshness window: ten years (a pin). */
export const MAX_TAG_FRESHNESS_SECONDS = 10 * 365 * 24 * 3600;

/** Maps a downstream repository (ours) to an upstream one, like an ACR artifact cache rule. */
export interface CacheRule {
  name: string;
  /** Upstream, as the user wrote it: `docker.io/library/node`, `docker.io/*`, `127.0.0.1:5001/team/*`. */
  sourceRepository: string;
  /** Downstream repository path in this registry: `dockerhub/library/node`, `dockerhub/*`. */
  targetRepository: string;
  credentialSetName?: string;
  /** Default `'pulled'`: only the platforms clients actually pulled. */
  platforms?: PlatformSelection;
  /**
   * Seconds a cached tag is served before an upstream HEAD revalidates it. Default: the
   * deployment's PULLTHROUGH_TAG_FRESHNESS_SECONDS; 0 = always revalidate; a large value pins.
   */
  tagFreshnessSeconds?: number;
  /** A tag held locally that the upstream no longer has: `report-missing` (default, the upstream is the source of truth) or `serve-local`. */
  upstreamTagNotFound?: UpstreamTagNotFound;
  /**
   * May clients pull this rule's content without authenticating? Default: yes for a rule without a
   * credential set, no for one with a set (a credential set must not make private content public).
   */
  anonymousPull?: boolean;
  /**
   * A sanitized catalog: only these upstream repositories (globs) and tags (globs or semver
   * ranges) are served; anything else answers 404 without reaching the upstream. Unset: everything.
   */
  allow?: RuleAllowList;
  /**
   * Mirrors of the source registry (host[:port]), tried in order when the one before is unavailable
   * (5xx, 429, timeout, connection refused, open breaker, egress refused), never on 404/401/403.
   * The upstream repository path is the same on each. Reached anonymously: a credential set is
   * for the source registry (its loginServer) only.
   */
  fallbackRegistries?: string[];
  /**
   * May clients push into this rule's downstream repositories (with a `push` grant)? Default false:
   * a push is refused with DENIED naming the rule. A pushed tag is `local` and wins over the
   * upstream: revalidation never moves it.
   */
  allowPush?: boolean;
  /** Retention of this rule's cached content; each field overrides the global default (0 turns it off). */
  retention?: RuleRetention;
}

/** A rule's retention: `maxTags` cached tags per repository (most recently pulled kept), evict what was not pulled for `unpulledDays`. */
export interface RuleRetention {
  maxTags?: number;
  unpulledDays?: number;
}
/** Bounds of a rule's retention fields. */
export const MAX_RETENTION_TAGS = 1_000_000;
export const MAX_RETENTION_DAYS = 36_500;

/** Most fallback registries one rule may list. */
export const MAX_FALLBACK_REGISTRIES = 5;

export interface ParseCacheRuleOptions {
  /** host[:port] names of this registry; a rule may not use one as its upstream. */
  selfHosts?: readonly string[];
  /**
   * Save-time egress check of the upstream host (`registry`: normalized host[:port]): returns why
   * it may not be used, or undefined. The caller supplies the policy (an IP literal in a refused
   * range, this cache's own listener); this package stays pure. Stored rules are not re-checked
   * on load: connections are checked at connect time anyway.
   */
  checkUpstreamHost?: (registry: string) => string | undefined;
}

const NAME_MESSAGE = "must be 5-50 characters of letters, digits and '-'";
const PLATFORM_MESSAGE = 'must look like os/arch or os/arch/variant in lowercase (e.g. linux/amd64, linux/arm/v7)';
const PLATFORMS_MESSAGE = "must be 'pulled', 'all' or a non-empty list of os/arch[/variant] strings";
const FRESHNESS_MESSAGE = `must be a whole number of seconds from 0 (always revalidate) to ${MAX_TAG_FRESHNESS_SECONDS} (ten years: a pin)`;
const NOT_FOUND_MESSAGE = "must be 'report-missing' or 'serve-local'";

const text = () => z.string({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a string') });
const ruleName = () => text().regex(RULE_NAME_PATTERN, NAME_MESSAGE);

function issuesFrom(check: (value: string) => { issues: string[] }) {
  return (value: string, ctx: z.RefinementCtx<string>) => {
    for (const message of check(value).issues) ctx.addIssue({ code: 'custom', message });
  };
}

// Elements are checked in a refinement (not by an element schema) so that a bad element is
// reported as `platforms[i]` rather than failing the whole 'pulled' | 'all' | list union.
const platformList = z
  .array(z.unknown())
  .min(1, "must not be empty (use 'pulled' or 'all', or list at least one os/arch)")
  .superRefine((list, ctx) => {
    list.forEach((p, i) => {
      if (typeof p !== 'string') ctx.addIssue({ code: 'custom', path: [i], message: 'must be a string' });
      else if (!PLATFORM_PATTERN.test(p)) ctx.addIssue({ code: 'custom', path: [i], message: PLATFORM_MESSAGE });
      else if (list.indexOf(p) !== i) ctx.addIssue({ code: 'custom', path: [i], message: `duplicate platform "${p}"` });
    });
  });

/** A non-empty list of strings, each checked by `check` and reported as `field[i]`; duplicates refused. */
function checkedList(check: (value: string) => string[], max: number, empty: string) {
  return z
    .array(z.unknown(), { error: 'must be a list of strings' })
    .min(1, empty)
    .max(max, `must hold at most ${max} entries`)
    .superRefine((list, ctx) => {
      list.forEach((item, i) => {
        if (typeof item !== 'string') return ctx.addIssue({ code: 'custom', path: [i], message: 'must be a string' });
        for (const message of check(item)) ctx.addIssue({ code: 'custom', path: [i], message });
        if (list.indexOf(item) !== i) ctx.addIssue({ code: 'custom', path: [i], message: `duplicate entry "${item}"` });
      });
    });
}

const allowList = z
  .strictObject(
    {
      repositories: checkedList(repositoryGlobIssues, MAX_ALLOW_ENTRIES, 'must not be empty (omit it to allow every repository)').optional(),
      tags: checkedList(tagFilterIssues, MAX_ALLOW_ENTRIES, 'must not be empty (omit it to allow every tag)').optional(),
    },
    { error: (iss) => (iss.code === 'invalid_type' ? 'must be an object with repositories and/or tags' : undefined) },
  )
  .refine((a) => a.repositories !== undefined || a.tags !== undefined, { message: 'must list repositories and/or tags (omit allow to serve everything)' });

const retentionCount = (max: number, what: string) => {
  const message = `must be a whole number from 0 (off) to ${max} ${what}`;
  return z.number({ error: message }).int({ error: message }).min(0, { error: message }).max(max, { error: message }).optional();
};
const retentionSettings = z
  .strictObject(
    { maxTags: retentionCount(MAX_RETENTION_TAGS, 'tags'), unpulledDays: retentionCount(MAX_RETENTION_DAYS, 'days') },
    { error: (iss) => (iss.code === 'invalid_type' ? 'must be an object with maxTags and/or unpulledDays' : undefined) },
  )
  .refine((r) => r.maxTags !== undefined || r.unpulledDays !== undefined, { message: 'must set maxTags and/or unpulledDays (omit retention for the global defaults)' });

const fallbackList = checkedList((host) => registryHostIssues(host), MAX_FALLBACK_REGISTRIES, 'must not be empty (omit it for no fallback)');

/** The zod schema for one rule (checks that need `options`, like self-hosts, included). */
export function cacheRuleSchema(options: ParseCacheRuleOptions = {}) {
  const selfHosts = options.selfHosts ?? [];
  const checkUpstreamHost = options.checkUpstreamHost;
  return z
    .strictObject(
      {
        name: ruleName(),
        sourceRepository: text().superRefine(issuesFrom(parseSourceRepository)),
        targetRepository: text().superRefine(issuesFrom(parseTargetRepository)),
        credentialSetName: ruleName().optional(),
        platforms: z.union([z.literal(['pulled', 'all']), platformList], { error: PLATFORMS_MESSAGE }).optional(),
        tagFreshnessSeconds: z.number({ error: FRESHNESS_MESSAGE }).int({ error: FRESHNESS_MESSAGE }).min(0, { error: FRESHNESS_MESSAGE }).max(MAX_TAG_FRESHNESS_SECONDS, { error: FRESHNESS_MESSAGE }).optional(),
        upstreamTagNotFound: z.literal(['report-missing', 'serve-local'], { error: NOT_FOUND_MESSAGE }).optional(),
        anonymousPull: z.boolean({ error: 'must be true or false' }).optional(),
        allow: allowList.optional(),
        fallbackRegistries: fallbackList.optional(),
        allowPush: z.boolean({ error: 'must be true or false' }).optional(),
        retention: retentionSettings.optional(),
      },
      { error: (iss) => (iss.code === 'invalid_type' ? 'must be an object' : undefined) },
    )
    .superRefine(
      (rule, ctx) => {
        const sourceWild = hasTrailingWildcard(rule.sourceRepository);
        const targetWild = hasTrailingWildcard(rule.targetRepository);
        if (targetWild && !sourceWild) {
          ctx.addIssue({ code: 'custom', path: ['sourceRepository'], message: 'wildcard on one side only: targetRepository ends in /* but sourceRepository does not' });
        } else if (sourceWild && !targetWild) {
          ctx.addIssue({ code: 'custom', path: ['targetRepository'], message: 'wildcard on one side only: sourceRepository ends in /* but targetRepository does not' });
        }
        const { source } = parseSourceRepository(rule.sourceRepository);
        if (source && isSelfHost(source, selfHosts)) {
          ctx.addIssue({ code: 'custom', path: ['sourceRepository'], message: `upstream "${source.host}" is this registry itself; a rule cannot cache from its own host` });
        }
        const refused = source && checkUpstreamHost ? checkUpstreamHost(source.registry) : undefined;
        if (refused !== undefined) ctx.addIssue({ code: 'custom', path: ['sourceRepository'], message: `upstream "${source!.host}" is refused: ${refused}` });
        // Fallbacks pass the same save-time checks as the source registry, and must differ from it.
        const listed = payload(rule).fallbackRegistries;
        const fallbacks: unknown[] = Array.isArray(listed) ? listed : [];
        fallbacks.forEach((host, i) => {
          if (typeof host !== 'string' || registryHostIssues(host).length > 0) return;
          const path = ['fallbackRegistries', i];
          const registry = normalizeRegistryHost(host);
          if (source && registry === source.registry) ctx.addIssue({ code: 'custom', path, message: `"${host}" is the rule's source registry itself` });
          // (An exact repeat is already a "duplicate entry"; this catches case and Docker Hub aliases.)
          else if (fallbacks.indexOf(host) === i && fallbacks.findIndex((h) => typeof h === 'string' && normalizeRegistryHost(h) === registry) !== i) ctx.addIssue({ code: 'custom', path, message: `"${host}" is listed twice` });
          if (selfHosts.some((h) => normalizeRegistryHost(h) === registry)) ctx.addIssue({ code: 'custom', path, message: `upstream "${host}" is this registry itself; a rule cannot cache from its own host` });
          const why = checkUpstreamHost?.(registry);
          if (why !== undefined) ctx.addIssue({ code: 'custom', path, message: `upstream "${host}" is refused: ${why}` });
        });
      },
      { when: (payload) => hasStrings(payload.value, 'sourceRepository', 'targetRepository') },
    );
}

const payload = (rule: unknown) => rule as { fallbackRegistries?: unknown };

function hasStrings(value: unknown, ...keys: string[]): value is Record<string, string> {
  return typeof value === 'object' && value !== null && keys.every((k) => typeof (value as Record<string, unknown>)[k] === 'string');
}

function toIssues(error: z.ZodError): ValidationIssue[] {
  return error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ field: fieldName([...issue.path, key]), message: 'unknown field' }))
      : [{ field: fieldName(issue.path), message: issue.message }],
  );
}

/** Problems with one rule, or the rule itself (a fresh object: the user's strings kept as written). */
export function checkCacheRule(input: unknown, options: ParseCacheRuleOptions = {}): { rule?: CacheRule; issues: ValidationIssue[] } {
  const parsed = cacheRuleSchema(options).safeParse(input);
  if (!parsed.success) return { issues: toIssues(parsed.error) };
  const { name, sourceRepository, targetRepository, credentialSetName, platforms, tagFreshnessSeconds, upstreamTagNotFound, anonymousPull, allow, fallbackRegistries, allowPush, retention } = parsed.data;
  const rule: CacheRule = { name, sourceRepository, targetRepository };
  if (credentialSetName !== undefined) rule.credentialSetName = credentialSetName;
  // The refinement on platformList has checked every element is a platform string.
  if (platforms !== undefined) rule.platforms = Array.isArray(platforms) ? (platforms as string[]).slice() : platforms;
  if (tagFreshnessSeconds !== undefined) rule.tagFreshnessSeconds = tagFreshnessSeconds;
  if (upstreamTagNotFound !== undefined) rule.upstreamTagNotFound = upstreamTagNotFound;
  if (anonymousPull !== undefined) rule.anonymousPull = anonymousPull;
  // The refinements have checked every element is a string.
  if (allow !== undefined) {
    rule.allow = {};
    if (allow.repositories) rule.allow.repositories = (allow.repositories as string[]).slice();
    if (allow.tags) rule.allow.tags = (allow.tags as string[]).slice();
  }
  if (fallbackRegistries !== undefined) rule.fallbackRegistries = (fallbackRegistries as string[]).slice();
  if (allowPush !== undefined) rule.allowPush = allowPush;
  if (retention !== undefined) {
    rule.retention = {};
    if (retention.maxTags !== undefined) rule.retention.maxTags = retention.maxTags;
    if (retention.unpulledDays !== undefined) rule.retention.unpulledDays = retention.unpulledDays;
  }
  return { rule, issues: [] };
}

/** Validate an untrusted rule (admin API body, YAML seed). Throws CacheRuleValidationError with every issue. */
export function parseCacheRule(input: unknown, options: ParseCacheRuleOptions = {}): CacheRule {
  const { rule, issues } = checkCacheRule(input, options);
  if (!rule) throw new CacheRuleValidationError(issues);
  return rule;
}

/** The rule's tag freshness window in seconds, or the deployment default. */
export function ruleTagFreshnessSeconds(rule: Pick<CacheRule, 'tagFreshnessSeconds'>, defaultSeconds: number): number {
  return rule.tagFreshnessSeconds ?? defaultSeconds;
}

/** The rule's policy for an upstream 404 on a locally held tag, with the default applied. */
export function ruleUpstreamTagNotFound(rule: Pick<CacheRule, 'upstreamTagNotFound'>): UpstreamTagNotFound {
  return rule.upstreamTagNotFound ?? DEFAULT_UPSTREAM_TAG_NOT_FOUND;
}

/** Whether anonymous clients may pull through the rule: its `anonymousPull`, else only when it has no credential set. */
export function ruleAnonymousPull(rule: Pick<CacheRule, 'anonymousPull' | 'credentialSetName'>): boolean {
  return rule.anonymousPull ?? rule.credentialSetName === undefined;
}

/** Whether clients may push into the rule's downstream repositories (default: no). */
export function rulePushAllowed(rule: Pick<CacheRule, 'allowPush'>): boolean {
  return rule.allowPush === true;
}

/** The rule's fallback registries, normalized (lowercase, Docker Hub aliases resolved), in order. */
export function ruleFallbackRegistries(rule: Pick<CacheRule, 'fallbackRegistries'>): string[] {
  return (rule.fallbackRegistries ?? []).map(normalizeRegistryHost);
}

/** The rule's platform selection with the default applied. */
export function rulePlatforms(rule: CacheRule): PlatformSelection {
  return rule.platforms ?? DEFAULT_PLATFORMS;
}
