import type { CacheRuleSet } from '@pullthrough/cache-rules';
import type { Digest } from '@pullthrough/oci';
import { scanBlobs, scanRepositories, sizeOf, storageUsage, type CountAndBytes, type RepositoryContents, type RepositoryUsage, type StorageDriver, type StorageUsage, type StoredBlob } from '@pullthrough/storage';
import { SingleFlight } from '../single-flight.js';

/** One repository's usage, with the cache rule its name matches (null: a local repository). */
export interface RepositoryUsageRow extends RepositoryUsage {
  rule: string | null;
  /** When a manifest of the repository was last pulled (only when a last-pulled record is wired; absent when never pulled). */
  lastPulled?: string;
}

/** The repositories one rule maps (rule null: those no rule maps), summed; `bytes` counts a blob shared by them once. */
export interface RuleUsage {
  rule: string | null;
  repositories: number;
  blobs: CountAndBytes;
  manifests: CountAndBytes;
  tags: number;
  bytes: number;
  /** The latest lastPulled of its repositories (when wired). */
  lastPulled?: string;
}

export interface UsageReport {
  /** When the storage was scanned (answers are reused for a short while). */
  scannedAt: string;
  repositories: RepositoryUsageRow[];
  rules: RuleUsage[];
  /** Every repository: `bytes` counts a blob once however many repositories hold it. */
  total: { repositories: number; bytes: number };
  /** Every committed blob, held by a repository or not (the difference is what garbage collection may free). */
  stored: CountAndBytes;
}

export interface UsageServiceOptions {
  /** The rules as they are now (repositories are grouped by the rule their name matches). */
  rules: () => CacheRuleSet;
  /** A scan is reused this long (the usage of a large store takes a walk of it). Default 30000. */
  maxAgeMs?: number;
  /** Called with each scan's usage (e.g. to set the storage gauge). */
  onScan?: (usage: StorageUsage) => void;
  /**
   * Pull times per repository (tag or digest -> epoch ms), e.g. retention's last-pulled record
   * (`LastPulled.all`). Unset: rows carry no `lastPulled`. A failure leaves them out too.
   */
  lastPulled?: () => Promise<ReadonlyMap<string, ReadonlyMap<string, number>>>;
}

const add = (a: CountAndBytes, b: CountAndBytes): CountAndBytes => ({ count: a.count + b.count, bytes: a.bytes + b.bytes });

function distinctBytes(blobs: ReadonlyMap<Digest, StoredBlob>, contents: readonly RepositoryContents[]): number {
  const seen = new Set<Digest>();
  for (const c of contents) for (const l of [...c.layers, ...c.revisions]) seen.add(l.digest);
  return sizeOf(blobs, seen).bytes;
}

const latest = (rows: readonly RepositoryUsageRow[]): { lastPulled?: string } => {
  const times = rows.flatMap((r) => (r.lastPulled ? [r.lastPulled] : [])).sort();
  return times.length > 0 ? { lastPulled: times[times.length - 1]! } : {};
};

/** `GET /api/v1/usage`: bytes and counts per repository, per rule and in total, from one walk of the store. */
export class UsageService {
  private readonly flight = new SingleFlight<UsageReport>();
  private last: { at: number; report: UsageReport } | undefined;

  constructor(
    private readonly driver: StorageDriver,
    private readonly options: UsageServiceOptions,
  ) {}

  async report(): Promise<UsageReport> {
    const maxAge = this.options.maxAgeMs ?? 30_000;
    if (this.last && Date.now() - this.last.at < maxAge) return this.last.report;
    return this.flight.run('usage', async () => {
      const report = await this.scan();
      this.last = { at: Date.now(), report };
      return report;
    });
  }

  /** The latest pull per repository, from the wired record (empty when none or unreadable). */
  private async pullTimes(): Promise<Map<string, number>> {
    const latestOf = new Map<string, number>();
    if (!this.options.lastPulled) return latestOf;
    const all = await this.options.lastPulled().catch(() => undefined);
    for (const [repository, times] of all ?? []) {
      for (const at of times.values()) if (!(latestOf.get(repository)! >= at)) latestOf.set(repository, at);
    }
    return latestOf;
  }

  private async scan(): Promise<UsageReport> {
    const scannedAt = new Date().toISOString();
    const blobs = await scanBlobs(this.driver);
    const repositories = await scanRepositories(this.driver);
    const usage = storageUsage(blobs, repositories);
    this.options.onScan?.(usage);
    const rules = this.options.rules();
    const pulled = await this.pullTimes();
    const rows: RepositoryUsageRow[] = usage.repositories.map((r) => {
      const at = pulled.get(r.repository);
      return { ...r, rule: rules.match(r.repository)?.rule.name ?? null, ...(at !== undefined ? { lastPulled: new Date(at).toISOString() } : {}) };
    });
    const groups = new Map<string | null, RepositoryUsageRow[]>();
    for (const row of rows) {
      const members = groups.get(row.rule);
      if (members) members.push(row);
      else groups.set(row.rule, [row]);
    }
    const byRule: RuleUsage[] = [...groups].map(([rule, members]) => ({
      rule,
      repositories: members.length,
      blobs: members.reduce((a, m) => add(a, m.blobs), { count: 0, bytes: 0 }),
      manifests: members.reduce((a, m) => add(a, m.manifests), { count: 0, bytes: 0 }),
      tags: members.reduce((n, m) => n + m.tags, 0),
      bytes: distinctBytes(blobs, members.map((m) => repositories.get(m.repository)!)),
      ...latest(members),
    }));
    byRule.sort((a, b) => (a.rule ?? '\uffff').localeCompare(b.rule ?? '\uffff'));
    return { scannedAt, repositories: rows, rules: byRule, total: { repositories: rows.length, bytes: usage.bytes }, stored: usage.stored };
  }
}
