import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '@pullthrough/pull-through';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * Request id (from X-Request-Id when sane, else new) and a request-scoped child logger, made on
 * first use by `requestLogger(res)`: a manifest hit that logs nothing does not pay for serializing
 * the child's bindings, and the per-request debug line is only wired when debug is on.
 */
export function requestContext(logger: Logger) {
  const debug = logger.isLevelEnabled?.('debug') ?? true;
  return (req: Request, res: Response, next: NextFunction): void => {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    if (debug) {
      const started = process.hrtime.bigint();
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        requestLogger(res, logger).debug({ status: res.statusCode, ms: Math.round(ms * 10) / 10, cache: res.getHeader('X-Cache') }, 'request');
      });
    }
    next();
  };
}

/** The request's child of `logger` (request id, method, path), made once; `logger` itself outside requestContext. */
export function requestLogger(res: Response, logger: Logger): Logger {
  if (res.locals.requestId === undefined) return logger;
  const req = res.req;
  return (res.locals.logger ??= logger.child({ requestId: res.locals.requestId, method: req.method, path: req.originalUrl.split('?')[0]?.slice(0, 300) })) as Logger;
}
