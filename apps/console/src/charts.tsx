/** Small inline SVG charts (no library, no inline script or style: CSP-safe). Each has a text alternative. */

export interface Slice {
  label: string;
  value: number;
  /** CSS class giving the colour (styles.css). */
  kind: string;
}

/** One horizontal stacked bar: how a rule's recent pulls split into hits, misses, stale and errors. */
export function StackedBar({ title, slices }: { title: string; slices: Slice[] }) {
  const total = slices.reduce((n, s) => n + s.value, 0);
  const summary = total === 0 ? 'no pulls in the window' : slices.map((s) => `${s.label} ${s.value}`).join(', ');
  let x = 0;
  return (
    <svg class="chart bar" viewBox="0 0 100 8" preserveAspectRatio="none" role="img" aria-label={`${title}: ${summary}`}>
      <title>{`${title}: ${summary}`}</title>
      <rect class="track" x="0" y="0" width="100" height="8" />
      {total > 0 &&
        slices.map((s) => {
          const w = (s.value / total) * 100;
          const r = <rect key={s.label} class={s.kind} x={x} y="0" width={w} height="8" />;
          x += w;
          return r;
        })}
    </svg>
  );
}

/** A line over time (e.g. hit ratio per minute, 0..1), with the points as a text alternative. */
export function Sparkline({ title, points, max }: { title: string; points: { t: number; v: number | undefined }[]; max?: number }) {
  const top = max ?? Math.max(1, ...points.map((p) => p.v ?? 0));
  const step = points.length > 1 ? 100 / (points.length - 1) : 100;
  const coords = points.map((p, i) => (p.v === undefined ? undefined : `${(i * step).toFixed(2)},${(30 - (p.v / top) * 28 - 1).toFixed(2)}`));
  // Gaps (no pulls that minute) break the line.
  const runs: string[][] = [];
  let run: string[] = [];
  for (const c of coords) {
    if (c === undefined) {
      if (run.length) runs.push(run);
      run = [];
    } else run.push(c);
  }
  if (run.length) runs.push(run);
  const known = points.filter((p) => p.v !== undefined);
  const summary = known.length === 0 ? 'no data in the window' : `${known.length} of ${points.length} minutes with data, latest ${fmt(known.at(-1)!.v!, max)}`;
  return (
    <svg class="chart spark" viewBox="0 0 100 30" preserveAspectRatio="none" role="img" aria-label={`${title}: ${summary}`}>
      <title>{`${title}: ${summary}`}</title>
      <line class="axis" x1="0" y1="29" x2="100" y2="29" />
      {runs.map((r, i) => (r.length === 1 ? <circle key={i} class="line-dot" cx={r[0]!.split(',')[0]} cy={r[0]!.split(',')[1]} r="1.2" /> : <polyline key={i} class="line" points={r.join(' ')} />))}
    </svg>
  );
}

const fmt = (v: number, max?: number) => (max === 1 ? `${Math.round(v * 100)}%` : String(v));
