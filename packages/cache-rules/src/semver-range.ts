/**
 * A small semver range matcher for tag filters (no dependency). Grammar, as in npm's semver for
 * the parts we support:
 * - comparators `>=1.25`, `>1.25.3`, `<2`, `<=1.26`, `=1.25.3`, `1.25.3` (exact), space-separated
 *   comparators are AND, `||` separates alternatives (OR);
 * - `x`/`X`/`*` wildcards and missing parts in a range: `1.25.x`, `1.25`, `1.x`, `=1` (any 1.y.z);
 * - `^1.2.3` (same major; same minor below 1.0.0), `~1.2.3` (same minor).
 * Tags are versions when they look like `[v]MAJOR[.MINOR[.PATCH]][-PRERELEASE]`; missing parts
 * of a TAG are 0 (`1.25` is 1.25.0). A tag with a `-suffix` (`1.25-rc.1`, also `1.25-alpine`) is a
 * pre-release: it matches only a range that names a pre-release of the same MAJOR.MINOR.PATCH.
 * Anything else (`latest`, `stable-slim`) is not a version and matches no range.
 */
export interface Version {
  major: number;
  minor: number;
  patch: number;
  prerelease: ReadonlyArray<string | number>;
}

type Operator = '<' | '<=' | '>' | '>=' | '=';

interface Comparator {
  op: Operator;
  version: Version;
  /** Written with a pre-release by the user (not an internal `-0` bound): lets pre-releases of its tuple in. */
  namesPrerelease: boolean;
}

/** Alternatives (OR) of comparator sets (AND); an empty set matches every release version. */
export type SemverRange = ReadonlyArray<ReadonlyArray<Comparator>>;

const NUMBER = '(?:0|[1-9]\\d{0,14})';
const IDENT = '[0-9A-Za-z-]+';
const PRERELEASE = `${IDENT}(?:\\.${IDENT})*`;
const TAG_VERSION = new RegExp(`^[vV]?(${NUMBER})(?:\\.(${NUMBER}))?(?:\\.(${NUMBER}))?(?:-(${PRERELEASE}))?$`);
const PART = `(?:${NUMBER}|[xX*])`;
const RANGE_VERSION = new RegExp(`^[vV]?(${PART})(?:\\.(${PART}))?(?:\\.(${PART}))?(?:-(${PRERELEASE}))?$`);
const OPERATOR = /^(>=|<=|>|<|=|\^|~)?(.*)$/;

function prereleaseOf(text: string | undefined): Array<string | number> {
  if (text === undefined) return [];
  return text.split('.').map((id) => (/^(?:0|[1-9]\d{0,14})$/.test(id) ? Number(id) : id));
}

/** The version a tag names, or undefined when the tag is not a version. */
export function parseTagVersion(tag: string): Version | undefined {
  const m = TAG_VERSION.exec(tag);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2] ?? 0), patch: Number(m[3] ?? 0), prerelease: prereleaseOf(m[4]) };
}

function compareIds(a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Semver precedence: negative when a < b, 0 when equal, positive when a > b. */
export function compareVersions(a: Version, b: Version): number {
  const core = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  if (core !== 0) return core;
  if (a.prerelease.length === 0 || b.prerelease.length === 0) return b.prerelease.length - a.prerelease.length;
  for (let i = 0; i < Math.max(a.prerelease.length, b.prerelease.length); i++) {
    if (i >= a.prerelease.length) return -1;
    if (i >= b.prerelease.length) return 1;
    const c = compareIds(a.prerelease[i]!, b.prerelease[i]!);
    if (c !== 0) return c;
  }
  return 0;
}

const v = (major: number, minor: number, patch: number, prerelease: ReadonlyArray<string | number> = []): Version => ({ major, minor, patch, prerelease });
/** The lowest version of a tuple (below every pre-release of it): upper bounds use it so `<2` excludes 2.0.0-rc.1. */
const floor = (major: number, minor: number, patch: number): Version => v(major, minor, patch, [0]);
const cmp = (op: Operator, version: Version, namesPrerelease = false): Comparator => ({ op, version, namesPrerelease });

/** One comparator token (`>=1.25`, `^1.2.3`, `1.25.x`) as a list of plain comparators (AND); throws a message. */
function parseComparator(token: string): Comparator[] {
  const [, op = '', rest = ''] = OPERATOR.exec(token)!;
  const m = RANGE_VERSION.exec(rest);
  if (!m) throw new Error(`"${token}" is not a version comparator (e.g. >=1.25, <2, 1.25.x, ^1.2.3, ~1.2)`);
  const parts = [m[1], m[2], m[3]];
  const firstWild = parts.findIndex((p) => p === undefined || /^[xX*]$/.test(p));
  if (firstWild >= 0 && parts.slice(firstWild + 1).some((p) => p !== undefined && !/^[xX*]$/.test(p))) {
    throw new Error(`"${token}": a number cannot follow a wildcard or missing part`);
  }
  const known = firstWild < 0 ? 3 : firstWild;
  const [major = 0, minor = 0, patch = 0] = parts.slice(0, known).map(Number);
  const pre = prereleaseOf(m[4]);
  if (pre.length > 0 && known < 3) throw new Error(`"${token}": a pre-release needs a full MAJOR.MINOR.PATCH version`);
  const named = pre.length > 0;
  const exact = v(major, minor, patch, pre);
  // The first version above the written one's wildcard span (`1.25.x` -> 1.26.0, `1.x` -> 2.0.0).
  const next = known === 1 ? floor(major + 1, 0, 0) : known === 2 ? floor(major, minor + 1, 0) : undefined;
  switch (op) {
    case '':
    case '=':
      if (known === 0) return [];
      return next ? [cmp('>=', v(major, minor, patch)), cmp('<', next)] : [cmp('=', exact, named)];
    case '>=':
      return known === 0 ? [] : [cmp('>=', exact, named)];
    case '>':
      if (known === 0) throw new Error(`"${token}" matches no version`);
      return next ? [cmp('>=', v(next.major, next.minor, 0))] : [cmp('>', exact, named)];
    case '<':
      if (known === 0) throw new Error(`"${token}" matches no version`);
      return [cmp('<', known === 3 ? exact : floor(major, minor, patch), named)];
    case '<=':
      if (known === 0) return [];
      return next ? [cmp('<', next)] : [cmp('<=', exact, named)];
    case '~': {
      const upper = known === 0 ? undefined : known === 1 ? floor(major + 1, 0, 0) : floor(major, minor + 1, 0);
      return [cmp('>=', exact, named), ...(upper ? [cmp('<', upper)] : [])];
    }
    case '^': {
      if (known === 0) return [];
      const upper = major > 0 || known === 1 ? floor(major + 1, 0, 0) : minor > 0 || known === 2 ? floor(0, minor + 1, 0) : floor(0, 0, patch + 1);
      return [cmp('>=', exact, named), cmp('<', upper)];
    }
  }
  throw new Error(`"${token}": unknown operator`);
}

/** Parse a range (`>=1.25 <2 || 3.x`); throws Error with a message naming the bad part. */
export function parseSemverRange(text: string): SemverRange {
  if (text.trim() === '') throw new Error('must not be empty');
  return text.split('||').map((alternative) => {
    // `>= 1.25` is `>=1.25`: an operator binds to the version after it.
    const tokens = alternative.trim().replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1').split(/\s+/).filter((t) => t !== '');
    if (tokens.length === 0) throw new Error('an alternative between "||" is empty');
    return tokens.flatMap(parseComparator);
  });
}

function passes(c: Comparator, version: Version): boolean {
  const d = compareVersions(version, c.version);
  switch (c.op) {
    case '<':
      return d < 0;
    case '<=':
      return d <= 0;
    case '>':
      return d > 0;
    case '>=':
      return d >= 0;
    case '=':
      return d === 0;
  }
}

function sameTuple(a: Version, b: Version): boolean {
  return a.major === b.major && a.minor === b.minor && a.patch === b.patch;
}

/** Whether `version` satisfies `range` (pre-releases only where a comparator of the set names one of the same tuple). */
export function satisfies(version: Version, range: SemverRange): boolean {
  return range.some(
    (set) =>
      set.every((c) => passes(c, version)) &&
      (version.prerelease.length === 0 || set.some((c) => c.namesPrerelease && sameTuple(c.version, version))),
  );
}

/** Whether a tag is a version that satisfies `range`. */
export function tagSatisfies(tag: string, range: SemverRange): boolean {
  const version = parseTagVersion(tag);
  return version !== undefined && satisfies(version, range);
}
