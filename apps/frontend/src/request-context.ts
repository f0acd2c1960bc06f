import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '@pullthrough/pull-through';

/** Request id (from X-Request-Id when sane, else new) and a request-scoped child logger. */
export function requestContext(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && /^[A-Za-z0-9._-]{1,100}$/.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    const log = logger.child({ requestId: id, method: req.method, path: req.originalUrl.split('?')[0]?.slice(0, 300) });
    res.locals.logger = log;
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.debug({ status: res.statusCode, ms: Math.round(ms * 10) / 10, cache: res.getHeader('X-Cache') }, 'request');
    });
    next();
  };
}
