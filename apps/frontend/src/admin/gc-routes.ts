import { Router } from 'express';
import { GC_JOB_ID } from '@pullthrough/hydration-jobs';
import type { GcJobs } from '@pullthrough/pull-through';
import { adminActor, requireEscalation } from './admin-auth.js';
import { ProblemError, type FieldIssue } from './problem.js';

/** A collection that deletes needs `admin`; a dry run is an operator's (the access table's row). */
export const GC_DELETE_ESCALATION = { role: 'admin', reason: 'gc-deletes', detail: 'a garbage collection that deletes (dryRun: false)' } as const;

/**
 * POST /api/v1/gc `{ "dryRun": true|false }`: queue a collection for the hydrators (202 with its id
 * and Location); GET /api/v1/gc/{id}: its state and, once completed, its report. Queued, not run
 * here: a collection walks the whole store (minutes on a large one), longer than a request should
 * hold a connection, and the hydrators already run the scheduled ones one at a time.
 */
export function gcRoutes(jobs: () => GcJobs): Router {
  const router = Router();
  router.post('/', async (req, res) => {
    const body = req.body as Record<string, unknown> | undefined;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ProblemError(400, 'Bad Request', 'request body must be a JSON object (Content-Type: application/json)');
    const errors: FieldIssue[] = [];
    if (typeof body.dryRun !== 'boolean') errors.push({ field: 'dryRun', message: 'is required: true (report what would be freed) or false (delete)' });
    for (const key of Object.keys(body)) if (key !== 'dryRun') errors.push({ field: key.slice(0, 100), message: 'is not a field of a garbage collection request' });
    if (errors.length > 0) throw new ProblemError(422, 'Unprocessable Entity', 'invalid garbage collection request', errors);
    const dryRun = body.dryRun as boolean;
    if (!dryRun) requireEscalation(res, GC_DELETE_ESCALATION);
    const actor = adminActor(res);
    const requestedBy = actor ? `${actor.kind}${actor.subject && actor.kind !== 'admin-token' ? `:${actor.subject}` : ''}` : 'admin-api';
    let id: string;
    try {
      id = await jobs().request({ dryRun, requestedBy });
    } catch {
      res.setHeader('Retry-After', '5');
      throw new ProblemError(503, 'Service Unavailable', 'the garbage collection queue (Redis) is unreachable; retry later');
    }
    res.status(202).location(`/api/v1/gc/${id}`).json({ id, state: 'queued', dryRun });
  });
  router.get('/:id', async (req, res) => {
    const id = String(req.params.id);
    if (!GC_JOB_ID.test(id)) throw new ProblemError(400, 'Bad Request', 'invalid garbage collection id', [{ field: 'id', message: 'must be the id POST /api/v1/gc answered (gc-<uuid>)' }]);
    let view;
    try {
      view = await jobs().get(id);
    } catch {
      res.setHeader('Retry-After', '5');
      throw new ProblemError(503, 'Service Unavailable', 'the garbage collection queue (Redis) is unreachable; retry later');
    }
    if (!view) throw new ProblemError(404, 'Not Found', `no garbage collection "${id}" (finished ones are kept a week)`);
    res.json(view);
  });
  return router;
}
