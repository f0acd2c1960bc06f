/** Statuses worth their own label; the rest are counted by class (`2xx`, `5xx`...). Network failures are `error`. */
const NAMED = new Set([401, 403, 404, 429]);

/** A bounded label for an upstream answer: `404`, `2xx`, `error`. */
export function answerStatusLabel(status: number | undefined): string {
  if (status === undefined) return 'error';
  return NAMED.has(status) ? String(status) : `${Math.floor(status / 100)}xx`;
}

/**
 * Every HTTP answer of one upstream registry (each redirect hop, token realms included), by
 * bounded status label, for the metrics. Kept by the pool per registry.
 */
export class UpstreamAnswerTally {
  private readonly counts = new Map<string, number>();

  record(status: number | undefined): void {
    const label = answerStatusLabel(status);
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
  }

  snapshot(): ReadonlyMap<string, number> {
    return this.counts;
  }
}
