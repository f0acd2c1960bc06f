import type { Response } from 'express';
import type { CacheStatus } from '@pullthrough/pull-through';

export const API_VERSION_HEADER = 'Docker-Distribution-API-Version';

/** Say where content came from: X-Cache hit|miss|revalidated|stale|local, and why a stale copy was served. */
export function setCacheHeaders(res: Response, cache: CacheStatus, staleReason?: string): void {
  res.setHeader('X-Cache', cache);
  if (cache === 'stale' && staleReason) res.setHeader('X-Cache-Stale-Reason', staleReason.replace(/[^\x20-\x7e]/g, ' ').slice(0, 200));
}
