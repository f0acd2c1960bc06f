import { repositoryGlob, repositoryGlobIssues, tagGlob, tagGlobIssues } from './name-glob.js';
import { parseSemverRange, tagSatisfies, type SemverRange } from './semver-range.js';

/**
 * A rule's sanitized catalog: which upstream repositories and tags it serves. A missing list does
 * not restrict; a present one admits a name when ANY of its entries matches.
 */
export interface RuleAllowList {
  /** Globs over the upstream repository path (`library/*`, `bitnami/**`, `bitnami/nginx`). */
  repositories?: string[];
  /** Tag globs (`latest`, `1.*`) or semver ranges (`>=1.25 <2`, `1.25.x`, `^1.2`, `~1.2.3`). */
  tags?: string[];
}

/** Most entries one list may hold. */
export const MAX_ALLOW_ENTRIES = 100;

/** Which filter refused a name, and why, naming the rule. */
export interface AllowRefusal {
  filter: 'allow.repositories' | 'allow.tags';
  message: string;
}

/**
 * Is this tag filter entry a semver range rather than a glob? It is when it starts with an
 * operator (`>=`, `>`, `<`, `<=`, `=`, `^`, `~`), contains a space or `||`, or is a version with an
 * `x`/`X` wildcard part (`1.x`, `1.25.x`). Anything else is a glob: `1.*`, `latest`, and a plain
 * version (`1.25.3` names exactly that tag; `=1.25.3` also admits `v1.25.3`).
 */
export function isSemverRangeEntry(entry: string): boolean {
  return /^[<>=^~]/.test(entry) || /\s/.test(entry) || entry.includes('||') || (/^[vV]?\d+(?:\.(?:\d+|[xX]))*$/.test(entry) && /\.[xX]/.test(entry));
}

/** Problems with one tag filter entry (empty means valid). */
export function tagFilterIssues(entry: string): string[] {
  if (!isSemverRangeEntry(entry)) return tagGlobIssues(entry);
  try {
    parseSemverRange(entry);
    return [];
  } catch (err) {
    return [`is not a valid semver range: ${(err as Error).message}`];
  }
}

export { repositoryGlobIssues };

interface CompiledAllowList {
  repositories?: RegExp[];
  tags?: Array<{ glob: RegExp } | { range: SemverRange }>;
}

const compiled = new WeakMap<RuleAllowList, CompiledAllowList>();

function compile(allow: RuleAllowList): CompiledAllowList {
  let c = compiled.get(allow);
  if (!c) {
    c = {
      ...(allow.repositories ? { repositories: allow.repositories.map(repositoryGlob) } : {}),
      ...(allow.tags ? { tags: allow.tags.map((t) => (isSemverRangeEntry(t) ? { range: parseSemverRange(t) } : { glob: tagGlob(t) })) } : {}),
    };
    compiled.set(allow, c);
  }
  return c;
}

/** Whether the rule's allow-list admits an upstream repository (no list: every one). */
export function repositoryAllowed(allow: RuleAllowList | undefined, upstreamRepository: string): boolean {
  const list = allow && compile(allow).repositories;
  return !list || list.some((re) => re.test(upstreamRepository));
}

/** Whether the rule's allow-list admits a tag (no list: every one). */
export function tagAllowed(allow: RuleAllowList | undefined, tag: string): boolean {
  const list = allow && compile(allow).tags;
  return !list || list.some((entry) => ('glob' in entry ? entry.glob.test(tag) : tagSatisfies(tag, entry.range)));
}

/**
 * Why a rule refuses an upstream repository (and tag, when given), or undefined when it admits
 * it. The repository is checked first. A pull by digest passes only the repository check: a
 * digest cannot be tied to a tag.
 */
export function allowRefusal(rule: { name: string; allow?: RuleAllowList }, upstreamRepository: string, tag?: string): AllowRefusal | undefined {
  if (!repositoryAllowed(rule.allow, upstreamRepository)) {
    return { filter: 'allow.repositories', message: `repository ${upstreamRepository} is not in the allow-list of cache rule "${rule.name}" (allow.repositories)` };
  }
  if (tag !== undefined && !tagAllowed(rule.allow, tag)) {
    return { filter: 'allow.tags', message: `tag ${tag} of ${upstreamRepository} is not in the allow-list of cache rule "${rule.name}" (allow.tags)` };
  }
  return undefined;
}
