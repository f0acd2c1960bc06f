import type { RetentionDefaults } from './retention-runner.js';

/** The global retention defaults from an app's config (0: off). */
export function retentionDefaultsFrom(config: { PULLTHROUGH_RETENTION_MAX_TAGS: number; PULLTHROUGH_RETENTION_UNPULLED_DAYS: number; PULLTHROUGH_STORAGE_BUDGET_BYTES: number }): RetentionDefaults {
  return {
    maxTags: config.PULLTHROUGH_RETENTION_MAX_TAGS || undefined,
    unpulledDays: config.PULLTHROUGH_RETENTION_UNPULLED_DAYS || undefined,
    budgetBytes: config.PULLTHROUGH_STORAGE_BUDGET_BYTES || undefined,
  };
}
