import type { Digest } from '@pullthrough/oci';
import { byRecency, type RepositoryUnits, type RetentionUnit } from './retention-units.js';

/** Per cached repository (from its rule, else the global defaults). Unset or 0: that limit is off. */
export interface RetentionPolicy {
  /** Keep at most this many cached tags (the most recently pulled or updated). */
  maxTags?: number;
  /** Evict what was not pulled (or, never pulled, not updated) for this many days. */
  unpulledDays?: number;
}

export type EvictionReason = 'unpulled' | 'max-tags' | 'budget' | 'purge';

export interface Eviction {
  unit: RetentionUnit;
  reason: EvictionReason;
}

export interface PlanRepository {
  repository: string;
  units: RepositoryUnits;
  /** Undefined: no rule maps the repository (local content): never evicted, counted towards the budget. */
  policy?: RetentionPolicy;
}

export interface PlanInput {
  repositories: PlanRepository[];
  /** Bytes the repositories may reference in all; unset or 0: no budget. */
  budgetBytes?: number;
  now: number;
}

export interface RetentionPlan {
  evictions: Eviction[];
  /** Bytes of distinct content (manifests and linked blobs) referenced before and after the evictions. */
  bytesBefore: number;
  bytesAfter: number;
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * Decide what to evict: first per repository (not pulled for `unpulledDays`, then beyond `maxTags`
 * of the remaining cached tags, most recent kept), then, while the content still referenced exceeds
 * the budget, the least recently pulled unit of any cached repository. Content is shared (a blob in
 * two repositories, two tags on one manifest): a unit frees only what nothing else kept references,
 * and one whose content local content (local tags, repositories no rule maps) holds entirely is skipped.
 */
export function planRetention(input: PlanInput): RetentionPlan {
  const refs = new Map<Digest, { size: number; count: number }>();
  const hold = (content: Map<Digest, number>, delta: 1 | -1): number => {
    let freed = 0;
    for (const [digest, size] of content) {
      const ref = refs.get(digest) ?? { size, count: 0 };
      ref.count += delta;
      refs.set(digest, ref);
      if (delta < 0 && ref.count === 0) freed += ref.size;
    }
    return freed;
  };
  const candidates: RetentionUnit[] = [];
  /** What local tags and repositories no rule maps hold: never freed by retention. */
  const kept = new Set<Digest>();
  for (const r of input.repositories) {
    hold(r.units.protectedContent, 1);
    for (const digest of r.units.protectedContent.keys()) kept.add(digest);
    for (const u of r.units.units) {
      hold(u.content, 1);
      if (!r.policy) for (const digest of u.content.keys()) kept.add(digest);
    }
  }
  const bytesBefore = [...refs.values()].reduce((n, r) => n + (r.count > 0 ? r.size : 0), 0);
  let bytes = bytesBefore;
  const evictions: Eviction[] = [];
  const evict = (unit: RetentionUnit, reason: EvictionReason) => {
    evictions.push({ unit, reason });
    bytes -= hold(unit.content, -1);
  };

  for (const r of input.repositories) {
    if (!r.policy) continue;
    const { maxTags, unpulledDays } = r.policy;
    const remaining: RetentionUnit[] = [];
    for (const u of r.units.units) {
      if (unpulledDays && u.recency < input.now - unpulledDays * DAY_MS) evict(u, 'unpulled');
      else remaining.push(u);
    }
    const tags = remaining.filter((u) => u.kind === 'tag').sort((a, b) => byRecency(b, a));
    const over = maxTags ? tags.slice(maxTags) : [];
    for (const u of over) evict(u, 'max-tags');
    candidates.push(...remaining.filter((u) => !over.includes(u)));
  }

  if (input.budgetBytes && bytes > input.budgetBytes) {
    for (const u of candidates.sort(byRecency)) {
      if (bytes <= input.budgetBytes) break;
      // A unit whose content local content holds entirely can never free a byte: it stays.
      if ([...u.content.keys()].every((digest) => kept.has(digest))) continue;
      evict(u, 'budget');
    }
  }
  return { evictions, bytesBefore, bytesAfter: bytes };
}
