import type { Output } from './output.js';
import { formatBytes } from './table.js';

export interface ProgressState {
  state: string;
  progress?: { blobsDone?: number; blobsTotal?: number; bytesDone?: number };
}

const WIDTH = 30;

/** `running 3/5 blobs, 1.2 MiB`. */
export function describeProgress(s: ProgressState): string {
  const p = s.progress;
  if (!p || p.blobsTotal === undefined) return s.state;
  return `${s.state} ${p.blobsDone ?? 0}/${p.blobsTotal} blobs, ${formatBytes(p.bytesDone ?? 0)}`;
}

/**
 * Hydration progress on stderr. On a terminal, one line redrawn in place with `\r`:
 * `[##########..........] running 3/5 blobs, 1.2 MiB`. Otherwise (a pipe, a CI log) a plain line
 * each time the state or the progress changes.
 */
export class ProgressBar {
  private last = '';
  private drawn = false;

  constructor(private readonly out: Output) {}

  update(s: ProgressState): void {
    const text = describeProgress(s);
    if (!this.out.stderrIsTTY) {
      if (text !== this.last) this.out.error(text);
      this.last = text;
      return;
    }
    const p = s.progress;
    const fraction = s.state === 'hydrated' ? 1 : p && p.blobsTotal ? Math.min(1, (p.blobsDone ?? 0) / p.blobsTotal) : 0;
    const filled = Math.round(fraction * WIDTH);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${text}`.slice(0, Math.max(20, this.out.stderrColumns - 1));
    this.out.stderrRaw(`\r${line.padEnd(Math.max(this.last.length, line.length))}`);
    this.last = line;
    this.drawn = true;
  }

  /** End the in-place line (so what follows starts on a fresh line). */
  finish(): void {
    if (this.drawn) this.out.stderrRaw('\n');
    this.drawn = false;
  }
}
