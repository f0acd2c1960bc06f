import { z } from 'zod';
import { parseAllowEntry, type AllowEntry } from './allow-list.js';

/**
 * The zod field for PULLTHROUGH_EGRESS_ALLOW (each app's config.ts names it): a comma list of
 * host names, IP addresses and CIDR blocks, each optionally `:port` (`[v6]:port` for IPv6).
 * A bad entry fails start with the field path.
 */
export const egressAllowSetting = z
  .string()
  .default('')
  .transform((value, ctx): AllowEntry[] => {
    const entries: AllowEntry[] = [];
    for (const item of value.split(',').map((s) => s.trim()).filter(Boolean)) {
      const parsed = parseAllowEntry(item);
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
      else entries.push(parsed);
    }
    return entries;
  });
