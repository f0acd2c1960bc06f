import { request } from 'node:http';

export interface StreamedRead {
  status: number;
  /** Every byte arrived and the response ended cleanly with Content-Length bytes. */
  complete: boolean;
  body: Buffer;
}

export interface WatchedRead {
  /** Bytes received so far. */
  bytes(): number;
  /** When the first body byte came (undefined: none yet). */
  firstByteAt(): number | undefined;
  /** Whether the response's headers have arrived. */
  responded(): boolean;
  /** Start reading (a read started `paused` takes nothing until then). */
  resume(): void;
  finished: Promise<StreamedRead>;
}

/**
 * A GET on its own connection whose progress a test watches; `paused`: read nothing until `resume()`;
 * `pauseAt`: once `bytes` have come, read nothing for `ms` (a client starved for a moment).
 */
export function startRead(url: string, options: { paused?: boolean; headers?: Record<string, string>; pauseAt?: { bytes: number; ms: number } } = {}): WatchedRead {
  const chunks: Buffer[] = [];
  let bytes = 0;
  let firstByteAt: number | undefined;
  let paused = options.paused ?? false;
  let response: { resume(): void } | undefined;
  const finished = new Promise<StreamedRead>((resolve) => {
    const req = request(url, { agent: false, headers: options.headers ?? {} }, (res) => {
      response = res;
      if (paused) res.pause();
      let ended = false;
      let pausedAt = false;
      res.on('data', (c: Buffer) => {
        firstByteAt ??= Date.now();
        chunks.push(c);
        bytes += c.length;
        if (options.pauseAt && !pausedAt && bytes >= options.pauseAt.bytes) {
          pausedAt = true;
          res.pause();
          setTimeout(() => res.resume(), options.pauseAt.ms);
        }
      });
      if (paused) res.pause();
      res.on('end', () => (ended = true));
      res.on('error', () => undefined);
      res.on('close', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, complete: ended && body.length === Number(res.headers['content-length']), body });
      });
    });
    req.on('error', () => resolve({ status: 0, complete: false, body: Buffer.concat(chunks) }));
    req.end();
  });
  return {
    bytes: () => bytes,
    responded: () => response !== undefined,
    firstByteAt: () => firstByteAt,
    resume: () => {
      paused = false;
      response?.resume();
    },
    finished,
  };
}
