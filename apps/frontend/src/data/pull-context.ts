import type { Request, Response } from 'express';
import type { PullContext } from '@pullthrough/pull-through';
import type { ClientKey } from './client-key.js';

/** What the pull-through registry is told about a data-plane request: its id and its client. */
export function pullContext(req: Request, res: Response, key: ClientKey): PullContext {
  return { requestId: String(res.locals.requestId ?? ''), client: key(req) };
}
