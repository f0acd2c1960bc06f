import { Writable } from 'node:stream';
import pino from 'pino';

/** A frontend logger whose lines a test reads: raw (to look for leaks) and parsed. */
export interface MemoryLog {
  logger: pino.Logger;
  raw: string[];
  lines: Array<Record<string, unknown>>;
}

export function memoryLogger(): MemoryLog {
  const raw: string[] = [];
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), raw, lines };
}
