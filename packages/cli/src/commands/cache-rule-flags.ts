import { bool, list, str, type CommandContext, type OptionSpec } from '../command.js';
import { usageError } from '../exit-codes.js';

/** `az acr cache` flags, plus ours for the fields the API takes beyond ACR's. */
export const RULE_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  name: { type: 'string', short: 'n', value: 'NAME', description: 'cache rule name (5-50 letters, digits, -)' },
  'source-repo': { type: 'string', short: 's', value: 'REPO', description: 'upstream repository: docker.io/library/node, docker.io/*  (sourceRepository)' },
  'target-repo': { type: 'string', short: 't', value: 'REPO', description: 'repository in this cache: dockerhub/library/node, dockerhub/*  (targetRepository)' },
  'cred-set': { type: 'string', short: 'c', value: 'NAME', description: 'credential set for a private upstream  (credentialSetName)' },
  platforms: { type: 'string', value: 'pulled|all|LIST', description: 'what hydration makes local: pulled (default), all, or os/arch[/variant],...  (platforms)' },
  freshness: { type: 'string', value: 'DURATION', description: 'serve a cached tag this long before revalidating: seconds or 30m, 12h, 7d; 0 = always  (tagFreshnessSeconds)' },
  'upstream-tag-not-found': { type: 'string', value: 'POLICY', description: 'report-missing (default) or serve-local  (upstreamTagNotFound)' },
  'anonymous-pull': { type: 'boolean', description: 'clients may pull without logging in; --no-anonymous-pull to refuse  (anonymousPull)' },
  'allow-repos': { type: 'string', multiple: true, value: 'GLOBS', description: 'serve only these upstream repositories (comma-separated or repeated)  (allow.repositories)' },
  'allow-tags': { type: 'string', multiple: true, value: 'FILTERS', description: 'serve only these tags: globs or semver ranges  (allow.tags)' },
  'fallback-registries': { type: 'string', multiple: true, value: 'HOSTS', description: 'mirrors tried in order when the source registry is unavailable  (fallbackRegistries)' },
};

/** `cache update --unset X`: the flag names whose field the update removes (back to the default). */
const UNSETTABLE: Record<string, string[]> = {
  'cred-set': ['credentialSetName'],
  platforms: ['platforms'],
  freshness: ['tagFreshnessSeconds'],
  'upstream-tag-not-found': ['upstreamTagNotFound'],
  'anonymous-pull': ['anonymousPull'],
  'allow-repos': ['allow', 'repositories'],
  'allow-tags': ['allow', 'tags'],
  allow: ['allow'],
  'fallback-registries': ['fallbackRegistries'],
};

export const UPDATE_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  ...RULE_OPTIONS,
  unset: { type: 'string', multiple: true, value: 'FIELDS', description: `remove fields, back to their default: ${Object.keys(UNSETTABLE).join(', ')}` },
};

const UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };

/** `3600`, `30m`, `12h`, `7d` -> seconds. */
export function parseDuration(value: string, flag: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(value.trim());
  if (!m) throw usageError(`${flag} must be seconds or a duration such as 30m, 12h, 7d (got "${value}")`);
  return Number(m[1]) * UNITS[m[2]!]!;
}

/**
 * Put the flags given into a rule body (the API's field names): `base` is {} for create, the stored
 * rule for update. The API validates the result and answers with field errors.
 */
export function applyRuleFlags(base: Record<string, unknown>, ctx: CommandContext): Record<string, unknown> {
  const rule: Record<string, unknown> = { ...base };
  const allow = { ...((rule.allow as Record<string, unknown> | undefined) ?? {}) };
  for (const name of list(ctx, 'unset') ?? []) {
    const path = UNSETTABLE[name];
    if (!path) throw usageError(`--unset ${name}: can unset ${Object.keys(UNSETTABLE).join(', ')}`);
    if (path.length === 2) delete allow[path[1]!];
    else if (path[0] === 'allow') for (const k of Object.keys(allow)) delete allow[k];
    else delete rule[path[0]!];
  }
  const set = (field: string, value: unknown) => {
    if (value !== undefined) rule[field] = value;
  };
  set('sourceRepository', str(ctx, 'source-repo'));
  set('targetRepository', str(ctx, 'target-repo'));
  set('credentialSetName', str(ctx, 'cred-set'));
  const platforms = str(ctx, 'platforms');
  if (platforms !== undefined) rule.platforms = platforms === 'pulled' || platforms === 'all' ? platforms : platforms.split(',').map((p) => p.trim()).filter(Boolean);
  const freshness = str(ctx, 'freshness');
  if (freshness !== undefined) rule.tagFreshnessSeconds = parseDuration(freshness, '--freshness');
  set('upstreamTagNotFound', str(ctx, 'upstream-tag-not-found'));
  set('anonymousPull', bool(ctx, 'anonymous-pull'));
  const repos = list(ctx, 'allow-repos');
  const tags = list(ctx, 'allow-tags');
  if (repos !== undefined) allow.repositories = repos;
  if (tags !== undefined) allow.tags = tags;
  if (Object.keys(allow).length > 0) rule.allow = allow;
  else delete rule.allow;
  set('fallbackRegistries', list(ctx, 'fallback-registries'));
  return rule;
}
