import type { NextFunction, Request, Response } from 'express';
import { isKnownError, toWireError, wireErrorBody } from '@pullthrough/oci';
import type { Logger } from '@pullthrough/pull-through';
import { requestLogger } from './request-context.js';
import { closeIfBodyUnread } from './unread-body.js';

/** The one place any error on the data plane becomes an OCI error body. Unknown -> UNKNOWN 500, logged. */
export function ociErrorMiddleware(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const log = requestLogger(res, logger);
    const wire = toWireError(err);
    if (!isKnownError(err)) log.error({ err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) }, 'unexpected error');
    else if (wire.status >= 500) log.warn({ code: wire.code, message: wire.message, detail: wire.detail }, 'cache error');
    else log.debug({ code: wire.code, message: wire.message }, 'client error');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    closeIfBodyUnread(req, res);
    if (wire.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(Math.max(1, Math.ceil(wire.retryAfterSeconds))));
    res.status(wire.status).json(wireErrorBody(wire));
  };
}
