import { Gauge, type Registry } from 'prom-client';

/** What the last walk of the store found (a usage request or a garbage collection). */
export interface StorageScanTotals {
  /** Bytes of every committed blob. */
  storedBytes: number;
  /** Bytes of what some repository holds, each blob once. */
  heldBytes: number;
}

export interface StorageGauges {
  /** Set the gauges from a scan (they keep these values until the next one: a scrape never walks storage). */
  record(totals: StorageScanTotals): void;
}

/**
 * `pullthrough_storage_used_bytes{kind="stored"|"held"}` and `pullthrough_storage_scanned_timestamp_seconds`,
 * from the last scan this process made (absent until then), and `pullthrough_storage_budget_bytes` when a budget is configured.
 */
export function storageGauges(registry: Registry, budgetBytes?: number): StorageGauges {
  const used = new Gauge({
    name: 'pullthrough_storage_used_bytes',
    help: 'Storage bytes at the last scan by this process (usage API or garbage collection): stored = every committed blob, held = what repositories hold, each blob once',
    labelNames: ['kind'],
    registers: [registry],
  });
  const scanned = new Gauge({ name: 'pullthrough_storage_scanned_timestamp_seconds', help: 'When this process last scanned the storage (unix seconds)', registers: [registry] });
  if (budgetBytes !== undefined) {
    new Gauge({ name: 'pullthrough_storage_budget_bytes', help: 'The configured storage budget (PULLTHROUGH_STORAGE_BUDGET_BYTES)', registers: [registry] }).set(budgetBytes);
  }
  return {
    record({ storedBytes, heldBytes }) {
      used.set({ kind: 'stored' }, storedBytes);
      used.set({ kind: 'held' }, heldBytes);
      scanned.set(Date.now() / 1000);
    },
  };
}
