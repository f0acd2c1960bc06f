import type { NextFunction, Request, Response } from 'express';
import { sendProblem } from './problem.js';

/** Largest admin request body (JSON). */
export const ADMIN_BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Refuse a request whose declared Content-Length is over the limit before a byte of its body is
 * read: 413 problem JSON, and the connection is closed (sendProblem). A chunked body is counted
 * as it is read by the JSON parser, which stops at the same limit.
 */
export function declaredBodyLimit(limitBytes: number) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limitBytes) return sendProblem(res, { status: 413, title: 'Content Too Large', detail: `request body is larger than ${limitBytes} bytes` });
    next();
  };
}
