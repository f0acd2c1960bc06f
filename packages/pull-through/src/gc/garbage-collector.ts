import { RegistryError, type Digest } from '@pullthrough/oci';
import {
  blobDataPath,
  deleteBlobAndLinks,
  deleteLink,
  mapLimit,
  markReferenced,
  planSweep,
  scanBlobs,
  scanRepositories,
  storageUsage,
  type CountAndBytes,
  type RepositoryLink,
  type StorageDriver,
  type StorageUsage,
  type SweepCandidate,
} from '@pullthrough/storage';
import { silentLogger, type Logger } from '../logger.js';
import type { GcCoordinator, GcRunLock } from './redis-gc-coordinator.js';

/** Another collection holds the run lock (one at a time across replicas). */
export class GcBusyError extends RegistryError {
  readonly code = 'GC_BUSY';
}

/** The run lock was lost mid-sweep (Redis unreachable too long): the sweep stopped. */
export class GcLockLostError extends RegistryError {
  readonly code = 'GC_LOCK_LOST';
}

export interface GcOptions {
  /** Report what would be freed; delete nothing. */
  dryRun: boolean;
  /** While another collection runs, wait this long for it to end (polling the lock) before GcBusyError. Default 0. */
  waitMs?: number;
}

/** What one collection did (or, dry, would do). */
export interface GcReport {
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  graceMinutes: number;
  /** Committed blobs found (manifests included) and repositories with links. */
  scanned: { blobs: CountAndBytes; repositories: number };
  /** Stored blobs some manifest of some repository refers to (or that are such manifests). */
  referenced: CountAndBytes;
  /** Unreferenced blobs deleted (dry run: that would be) and the repository links deleted with them. */
  freed: CountAndBytes & { links: number };
  /** Unreferenced blobs kept: written or linked within the grace period, or touched since the mark began. */
  kept: { young: number; touched: number };
  /** Links to blobs that are not stored: manifest revisions whose manifest is gone, blob links nothing names. */
  danglingLinks: number;
}

export interface GarbageCollectorOptions {
  /** Blobs and links younger than this are never swept. */
  graceMs: number;
  logger?: Logger;
  /** Deletions in flight at once. Default 8. */
  concurrency?: number;
  /** Called with the usage seen by each collection's scan (before its sweep), e.g. to set the storage gauge. */
  onScan?: (usage: StorageUsage) => void;
  /** Test hook: runs between mark and sweep. */
  afterMark?: (candidates: readonly SweepCandidate[]) => Promise<void>;
}

/**
 * Mark and sweep of blobs no manifest of any repository refers to, safe while the registry serves,
 * pushes and hydrates. Mark: the manifests every repository has a revision of or lists as a referrer, their index
 * children and subjects, configs and layers. Sweep: every other blob, unless it or a link to it
 * was written within the grace period, or the store touched it (wrote, committed or linked it,
 * or stored a manifest naming it) since the mark began less the grace period; each deletion first
 * claims the digest in Redis and re-reads the blob, and a touch of a claimed digest waits until
 * the deletion is over. The blob's repository links go with it. One collection at a time (Redis lock).
 */
export class GarbageCollector {
  private readonly logger: Logger;

  constructor(
    private readonly driver: StorageDriver,
    private readonly coordinator: GcCoordinator,
    private readonly options: GarbageCollectorOptions,
  ) {
    this.logger = options.logger ?? silentLogger;
  }

  /** Collect garbage (or report what would be collected). Throws GcBusyError while another collection runs. */
  async collect({ dryRun, waitMs = 0 }: GcOptions): Promise<GcReport> {
    const deadline = Date.now() + waitMs;
    let lock = await this.coordinator.acquireRun();
    while (!lock && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(500, Math.max(1, deadline - Date.now()))));
      lock = await this.coordinator.acquireRun();
    }
    if (!lock) throw new GcBusyError('another garbage collection is running');
    try {
      return await this.run(dryRun, lock);
    } finally {
      await lock.release();
    }
  }

  private async run(dryRun: boolean, lock: GcRunLock): Promise<GcReport> {
    const startedAt = new Date();
    const markStart = await this.coordinator.now();
    const since = markStart - this.options.graceMs;
    const cutoff = new Date(since);
    const blobs = await scanBlobs(this.driver);
    const repositories = await scanRepositories(this.driver);
    const usage = storageUsage(blobs, repositories);
    this.options.onScan?.(usage);
    const roots: Digest[] = [];
    // Roots: every manifest revision, and every manifest the referrers API lists (a referrer stays while it is listed).
    for (const repo of repositories.values()) {
      for (const link of repo.revisions) roots.push(link.digest);
      roots.push(...repo.referrers);
    }
    const marked = await markReferenced(this.driver, roots);
    const plan = planSweep(blobs, repositories, marked, cutoff);
    await this.options.afterMark?.(plan.candidates);

    const freed = { count: 0, bytes: 0, links: 0 };
    let touched = 0;
    let young = plan.young.length;
    const check = () => {
      if (lock.lost) throw new GcLockLostError('the garbage collection run lock was lost; the sweep stopped');
    };
    await mapLimit(plan.candidates, this.options.concurrency ?? 8, async ({ blob, links }) => {
      check();
      if (dryRun) {
        if (await this.coordinator.touchedSince(blob.digest, since)) touched++;
        else {
          freed.count++;
          freed.bytes += blob.size;
          freed.links += links.length;
        }
        return;
      }
      if (!(await this.coordinator.claim(blob.digest, since))) return void touched++;
      try {
        // Re-read under the claim: written again since the scan (a commit of the same content) means young.
        const now = await this.driver.stat(blobDataPath(blob.digest));
        if (!now) return;
        if (now.modifiedAt >= cutoff) return void young++;
        await deleteBlobAndLinks(this.driver, blob.digest, links);
        freed.count++;
        freed.bytes += now.size;
        freed.links += links.length;
      } finally {
        await this.coordinator.release(blob.digest).catch(() => undefined);
      }
    });
    const dangling = await this.removeDangling(plan.danglingLinks, since, dryRun, check);

    const referenced: CountAndBytes = { count: 0, bytes: 0 };
    for (const b of blobs.values()) {
      if (!marked.has(b.digest)) continue;
      referenced.count++;
      referenced.bytes += b.size;
    }
    const report: GcReport = {
      dryRun,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      graceMinutes: this.options.graceMs / 60_000,
      scanned: { blobs: usage.stored, repositories: repositories.size },
      referenced,
      freed,
      kept: { young, touched },
      danglingLinks: dangling,
    };
    this.logger.info({ audit: true, event: 'gc.run', at: report.finishedAt, ...report }, dryRun ? 'garbage collection (dry run) finished' : 'garbage collection finished');
    return report;
  }

  /** Links whose blob is not stored (re-checked under a claim, so a pull-through link being written meanwhile stays). */
  private async removeDangling(links: readonly RepositoryLink[], since: number, dryRun: boolean, check: () => void): Promise<number> {
    let removed = 0;
    await mapLimit(links, this.options.concurrency ?? 8, async (link) => {
      check();
      if (dryRun) {
        if (!(await this.coordinator.touchedSince(link.digest, since))) removed++;
        return;
      }
      if (!(await this.coordinator.claim(link.digest, since))) return;
      try {
        if (await this.driver.stat(blobDataPath(link.digest))) return;
        const current = await this.driver.stat(link.path);
        if (!current || current.modifiedAt.getTime() >= since) return;
        await deleteLink(this.driver, link);
        removed++;
      } finally {
        await this.coordinator.release(link.digest).catch(() => undefined);
      }
    });
    return removed;
  }
}
