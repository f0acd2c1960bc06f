import { api, seg } from './api';
import { Sparkline } from './charts';
import { useLoad } from './ui';

interface Series {
  scope: string;
  windowSeconds: number;
  bucketSeconds: number;
  buckets: { start: string; hits: number; misses: number; stale: number; errors: number }[];
}

/**
 * A rule's window over time (`GET .../health/series`): the share served from the cache (hits and stale
 * over all answers) and upstream traffic (misses: fetched from the upstream), one point per bucket.
 */
export function RuleSeries({ name, tick = 0 }: { name: string; tick?: number }) {
  const series = useLoad(() => api<Series>('GET', `/cache-rules/${seg(name)}/health/series`), [name, tick]);
  const s = series.data;
  if (!s) return null;
  const ratio = s.buckets.map((b) => {
    const all = b.hits + b.stale + b.misses + b.errors;
    return { t: Date.parse(b.start), v: all === 0 ? undefined : (b.hits + b.stale) / all };
  });
  const traffic = s.buckets.map((b) => ({ t: Date.parse(b.start), v: b.misses }));
  const per = s.bucketSeconds === 60 ? 'minute' : `${s.bucketSeconds} s`;
  return (
    <figure class="series">
      <figcaption>
        Over the last {Math.round(s.windowSeconds / 60)} minutes, per {per}
      </figcaption>
      <p class="legend">Served from the cache (hit ratio)</p>
      <Sparkline title={`Hit ratio of ${name} per ${per}`} points={ratio} max={1} />
      <p class="legend">Upstream fetches (misses)</p>
      <Sparkline title={`Upstream fetches of ${name} per ${per}`} points={traffic} />
    </figure>
  );
}
