import { z } from 'zod';
import { parseAllowEntry } from './allow-list.js';

/**
 * The zod field for PULLTHROUGH_EGRESS_ALLOW (each app's config.ts names it): a comma list of
 * host names, IP addresses and CIDR blocks, each optionally `:port` (`[v6]:port` for IPv6).
 * Gives the entries as written (EgressPolicy takes them); a bad entry fails start with the field path.
 */
export const egressAllowSetting = z
  .string()
  .default('')
  .transform((value) => value.split(',').map((s) => s.trim()).filter(Boolean))
  .superRefine((entries, ctx) => {
    for (const entry of entries) {
      const parsed = parseAllowEntry(entry);
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
    }
  });
