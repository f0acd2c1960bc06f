import type { NextFunction, Request, Response } from 'express';
import { sendProblem } from './problem.js';

/** Largest admin request body (JSON). */
export const ADMIN_BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Refuse a body over the limit without reading it: a declared Content-Length over the limit gets
 * 413 problem JSON before a byte of the body is read; a chunked body is counted as it arrives and
 * refused the moment it passes the limit (the JSON parser would read it to its end first). Either
 * way the connection is closed (sendProblem), so Node does not read the rest to throw it away.
 */
export function bodyLimit(limitBytes: number) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const refuse = () => sendProblem(res, { status: 413, title: 'Content Too Large', detail: `request body is larger than ${limitBytes} bytes` });
    if (Number(req.headers['content-length'] ?? 0) > limitBytes) return refuse();
    if (req.headers['transfer-encoding'] !== undefined) {
      let received = 0;
      const count = (chunk: Buffer) => {
        received += chunk.length;
        if (received <= limitBytes) return;
        req.off('data', count);
        // Nobody reads the rest: the parser waits for an end that never comes, and the socket closes.
        req.pause();
        refuse();
      };
      req.on('data', count);
    }
    next();
  };
}
