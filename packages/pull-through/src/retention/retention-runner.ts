import type { CacheRule, CacheRuleSet } from '@pullthrough/cache-rules';
import type { Digest } from '@pullthrough/oci';
import type { RegistryStore } from '@pullthrough/storage';
import type { Logger } from '../logger.js';
import type { LastPulled } from './last-pulled.js';
import { pruneRepository } from './repository-pruner.js';
import { readInventory, type RepositoryInventory } from './repository-inventory.js';
import { planRetention, type EvictionReason, type PlanRepository, type RetentionPolicy } from './retention-plan.js';
import type { RetentionLock } from './retention-lock.js';
import { unitsOf } from './retention-units.js';

/** Global retention settings (PULLTHROUGH_RETENTION_MAX_TAGS, _UNPULLED_DAYS, PULLTHROUGH_STORAGE_BUDGET_BYTES); 0 or unset: off. */
export interface RetentionDefaults extends RetentionPolicy {
  budgetBytes?: number;
}

/**
 * Frees the blobs no repository references any more (garbage collection), wired by the app once GC
 * exists. Retention removes tags, revisions and links only; the bytes come back when this runs.
 */
export type FreeUnreferenced = () => Promise<{ bytesFreed: number }>;

/** A real run while another holds the lock. */
export class RetentionBusyError extends Error {
  readonly code = 'RETENTION_BUSY';
}

/** A real run when the lock cannot be asked for (Redis unreachable): nothing was changed. */
export class RetentionLockUnavailableError extends Error {
  readonly code = 'RETENTION_LOCK_UNAVAILABLE';
}

export interface RetentionRunnerOptions {
  store: RegistryStore;
  /** The cache rules now (a repository no rule maps is never touched). */
  rules: () => CacheRuleSet | Promise<CacheRuleSet>;
  lastPulled: LastPulled & { forget?(repository: string, members: readonly string[]): Promise<void>; snapshot?(keep?: (repository: string, member: string) => boolean): Promise<void> };
  defaults: RetentionDefaults;
  lock?: RetentionLock;
  freeUnreferenced?: FreeUnreferenced;
  /** After a real run removed manifests: tell other processes to drop their in-memory tag and manifest caches. */
  onPruned?: (repositories: string[]) => void;
  logger: Logger;
  clock?: () => number;
  /** See PruneOptions.graceMs (default 1 hour). */
  graceMs?: number;
}

export interface EvictedItem {
  /** A tag name, or a manifest digest no tag pointed to. */
  tag?: string;
  digest: Digest;
  reason: EvictionReason;
  /** ISO time of its last pull; absent when never pulled (its last update counted). */
  lastPulledAt?: string;
}

export interface RepositoryReport {
  repository: string;
  rule: string;
  evicted: EvictedItem[];
  tagsRemoved: number;
  manifestsRemoved: number;
  blobLinksRemoved: number;
}

export interface RetentionReport {
  dryRun: boolean;
  startedAt: string;
  repositories: RepositoryReport[];
  totals: { tagsRemoved: number; manifestsRemoved: number; blobLinksRemoved: number };
  /** Bytes of distinct content referenced by every repository, before and after (estimated from manifests). */
  bytesReferencedBefore: number;
  bytesReferencedAfter: number;
  budgetBytes?: number;
  /** What garbage collection freed after a real run (absent: no hook wired, a dry run, or nothing removed). */
  bytesFreed?: number;
}

const ruleOf = (rules: CacheRuleSet, repository: string): CacheRule | undefined => rules.match(repository)?.rule;

/** The policy of a rule: its own `retention` fields, else the global defaults (0 turns a limit off). */
export function policyOf(rule: CacheRule, defaults: RetentionDefaults): RetentionPolicy {
  return { maxTags: rule.retention?.maxTags ?? defaults.maxTags, unpulledDays: rule.retention?.unpulledDays ?? defaults.unpulledDays };
}

/**
 * One retention pass over every repository: plan (retention-plan.ts), then, unless a dry run,
 * prune each cached repository and let garbage collection free the bytes. Local content (no rule,
 * or a tag with `source: 'local'`) is never evicted. Webhook `delete` events are not emitted for
 * evictions (as ACR's cache does not): the report and the log say what went.
 */
export class RetentionRunner {
  private readonly clock: () => number;

  constructor(private readonly options: RetentionRunnerOptions) {
    this.clock = options.clock ?? Date.now;
  }

  async run({ dryRun }: { dryRun: boolean }): Promise<RetentionReport> {
    const held = dryRun || !this.options.lock ? undefined : await this.options.lock.acquire().catch((err: unknown) => {
      throw new RetentionLockUnavailableError(`the retention lock cannot be taken (Redis: ${(err as Error).message})`);
    });
    if (!dryRun && this.options.lock && !held) throw new RetentionBusyError('a retention run or purge is in progress on another process');
    try {
      return await this.pass(dryRun);
    } finally {
      await held?.release();
    }
  }

  private async pass(dryRun: boolean): Promise<RetentionReport> {
    const { store, defaults } = this.options;
    const now = this.clock();
    const rules = await this.options.rules();
    const times = await this.options.lastPulled.all();
    const inventories = new Map<string, RepositoryInventory>();
    const plan: PlanRepository[] = [];
    for (const repository of await store.listRepositories()) {
      const inventory = await readInventory(store, repository);
      inventories.set(repository, inventory);
      const rule = ruleOf(rules, repository);
      plan.push({ repository, units: unitsOf(inventory, times.get(repository) ?? new Map()), ...(rule ? { policy: policyOf(rule, defaults) } : {}) });
    }
    const decided = planRetention({ repositories: plan, now, ...(defaults.budgetBytes ? { budgetBytes: defaults.budgetBytes } : {}) });
    const report: RetentionReport = {
      dryRun,
      startedAt: new Date(now).toISOString(),
      repositories: [],
      totals: { tagsRemoved: 0, manifestsRemoved: 0, blobLinksRemoved: 0 },
      bytesReferencedBefore: decided.bytesBefore,
      bytesReferencedAfter: decided.bytesAfter,
      ...(defaults.budgetBytes ? { budgetBytes: defaults.budgetBytes } : {}),
    };
    const byRepository = new Map<string, typeof decided.evictions>();
    for (const e of decided.evictions) byRepository.set(e.unit.repository, [...(byRepository.get(e.unit.repository) ?? []), e]);
    for (const [repository, evictions] of byRepository) {
      const pruned = await pruneRepository(store, inventories.get(repository)!, evictions.map((e) => e.unit), { dryRun, now, graceMs: this.options.graceMs ?? 3_600_000 });
      report.repositories.push({
        repository,
        rule: ruleOf(rules, repository)!.name,
        evicted: evictions.map(({ unit, reason }) => ({
          ...(unit.kind === 'tag' ? { tag: unit.name } : {}),
          digest: unit.digest,
          reason,
          ...(unit.pulled ? { lastPulledAt: new Date(unit.recency).toISOString() } : {}),
        })),
        tagsRemoved: pruned.tags.length,
        manifestsRemoved: pruned.manifests.length,
        blobLinksRemoved: pruned.blobLinks.length,
      });
      report.totals.tagsRemoved += pruned.tags.length;
      report.totals.manifestsRemoved += pruned.manifests.length;
      report.totals.blobLinksRemoved += pruned.blobLinks.length;
      if (!dryRun) await this.options.lastPulled.forget?.(repository, [...pruned.tags, ...pruned.manifests]);
    }
    report.repositories.sort((a, b) => a.repository.localeCompare(b.repository));
    if (!dryRun && report.repositories.length > 0) {
      this.options.onPruned?.(report.repositories.map((r) => r.repository));
      if (this.options.freeUnreferenced) report.bytesFreed = (await this.options.freeUnreferenced()).bytesFreed;
    }
    if (!dryRun) {
      // Keep only what still exists, so the stored snapshot does not grow with evicted tags.
      const exists = (repository: string, member: string) => {
        const inv = inventories.get(repository);
        const gone = report.repositories.find((r) => r.repository === repository)?.evicted.some((e) => (e.tag ?? e.digest) === member);
        return inv !== undefined && !gone && (inv.tags.some((t) => t.tag === member) || inv.manifests.has(member as Digest));
      };
      await this.options.lastPulled.snapshot?.(exists);
    }
    this.options.logger.info({ dryRun, ...report.totals, bytesReferencedBefore: report.bytesReferencedBefore, bytesReferencedAfter: report.bytesReferencedAfter, bytesFreed: report.bytesFreed }, 'retention pass');
    return report;
  }
}
