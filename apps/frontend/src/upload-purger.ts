import type { Logger } from '@pullthrough/pull-through';
import type { RegistryStore } from '@pullthrough/storage';

/** The purge runs every quarter of the maximum age, at least every hour and at most every second. */
const intervalFor = (maxAgeMs: number) => Math.min(3600_000, Math.max(1000, Math.floor(maxAgeMs / 4)));

/**
 * Purges abandoned push sessions and temporary objects (the storage driver's uploads area) untouched
 * for `maxAgeMs`. Every frontend runs one: purging is idempotent, so replicas need no coordination.
 */
export class UploadPurger {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: RegistryStore,
    private readonly maxAgeMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.purgeNow(), intervalFor(this.maxAgeMs));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One purge (a purge already running is joined); resolves when done, never rejects. */
  purgeNow(): Promise<void> {
    this.running ??= this.store
      .purgeUploads(this.maxAgeMs)
      .then(
        (purged) => {
          if (purged > 0) this.logger.info({ purged, maxAgeHours: this.maxAgeMs / 3600_000 }, 'abandoned uploads purged');
        },
        (err: unknown) => this.logger.warn({ err: (err as Error).message }, 'upload purge failed'),
      )
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }
}
