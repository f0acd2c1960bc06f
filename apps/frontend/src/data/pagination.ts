import { PaginationInvalidError } from '@pullthrough/oci';

export interface Page {
  items: string[];
  /** Query for the next page, when there is one. */
  next?: { n: number; last: string };
}

/** Parse `n` (non-negative integer, capped) and `last` from a query. */
export function parsePageQuery(query: Record<string, unknown>, max = 10000): { n?: number; last?: string } {
  const out: { n?: number; last?: string } = {};
  if (query.n !== undefined) {
    const raw = String(query.n);
    if (!/^\d+$/.test(raw)) throw new PaginationInvalidError('n must be a non-negative integer', { detail: { n: raw.slice(0, 20) } });
    out.n = Math.min(Number(raw), max);
  }
  if (query.last !== undefined) out.last = String(query.last);
  return out;
}

/** Lexically sorted items after `last`, at most `n` of them. */
export function paginate(sorted: string[], query: { n?: number; last?: string }): Page {
  const after = query.last === undefined ? sorted : sorted.filter((s) => s > query.last!);
  if (query.n === undefined) return { items: after };
  const items = after.slice(0, query.n);
  return items.length < after.length && items.length > 0 ? { items, next: { n: query.n, last: items[items.length - 1]! } } : { items };
}

/** RFC 5988 Link header for the next page, as distribution sends it. */
export function nextLink(path: string, next: Page['next']): string | undefined {
  if (!next) return undefined;
  return `<${path}?n=${next.n}&last=${encodeURIComponent(next.last)}>; rel="next"`;
}
