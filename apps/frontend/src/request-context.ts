import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '@pullthrough/pull-through';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,100}$/;

interface RequestLogState {
  base: Logger;
  child?: Logger;
}

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
    res.locals.log = { base: logger } satisfies RequestLogState;
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

/** The request's child logger (request id, method, path), or `fallback` outside requestContext. */
export function requestLogger(res: Response, fallback: Logger): Logger {
  const state = res.locals.log as RequestLogState | undefined;
  if (!state) return fallback;
  const req = res.req;
  return (state.child ??= state.base.child({ requestId: res.locals.requestId, method: req.method, path: req.originalUrl.split('?')[0]?.slice(0, 300) }));
}
