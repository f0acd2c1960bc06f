import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { sendProblem } from './problem.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Bearer admin token check, constant-time. */
export function adminAuth(token: string) {
  const expected = digest(token);
  return (req: Request, res: Response, next: NextFunction): void => {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (m && timingSafeEqual(digest(m[1]!.trim()), expected)) return next();
    res.setHeader('WWW-Authenticate', 'Bearer realm="pullthrough-admin"');
    sendProblem(res, { status: 401, title: 'Unauthorized', detail: 'a valid admin bearer token is required' });
  };
}
