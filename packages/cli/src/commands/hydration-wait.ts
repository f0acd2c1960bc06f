import type { AdminClient } from '../admin-client.js';
import { ProgressBar, type ProgressState } from '../progress-bar.js';
import type { Output } from '../output.js';

export interface HydrationStatus extends ProgressState {
  repository?: string;
  reference?: string;
  digest?: string;
  failure?: { code?: string; category?: string; message?: string };
  attempts?: number;
  timings?: { enqueuedAt?: string; startedAt?: string; finishedAt?: string };
}

/** One long-poll lasts at most this long, so the bar moves about once a second. */
const POLL_SECONDS = 1;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Follow one hydration until it is `hydrated` or `failed`, or `maxWaitMs` passes: the API's
 * long-poll (`wait=`) in one-second steps, progress drawn on stderr when `progress`. `unknown` (no
 * job yet: the tag is not local, or nothing enqueued it) is waited out too: a pull or a prefetch
 * may be about to enqueue it.
 */
export async function waitForHydration(client: AdminClient, out: Output, repository: string, reference: string, maxWaitMs: number, progress: boolean): Promise<{ status: HydrationStatus; body: unknown; timedOut: boolean }> {
  const bar = progress ? new ProgressBar(out) : undefined;
  const deadline = Date.now() + maxWaitMs;
  try {
    for (;;) {
      const left = deadline - Date.now();
      const wait = Math.max(0, Math.min(POLL_SECONDS, Math.floor(left / 1000)));
      const res = await client.call('GET', '/hydrations', { query: { repository, reference, wait }, timeoutMs: 30_000 + wait * 1000 });
      const status = res.body as HydrationStatus;
      bar?.update(status);
      if (status.state === 'hydrated' || status.state === 'failed') return { status, body: res.body, timedOut: false };
      if (Date.now() >= deadline) return { status, body: res.body, timedOut: true };
      // Terminal-looking `unknown` answers at once: pace it.
      if (status.state === 'unknown') await sleep(Math.min(1000, Math.max(0, deadline - Date.now())));
    }
  } finally {
    bar?.finish();
  }
}
