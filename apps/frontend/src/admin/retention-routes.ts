import { Router } from 'express';
import { RetentionBusyError, RetentionLockUnavailableError, type RetentionRunner } from '@pullthrough/pull-through';
import { requireEscalation } from './admin-auth.js';
import { ProblemError } from './problem.js';

/** The body of `POST /api/v1/retention`: `{ "dryRun": true }` (default false). */
function dryRunOf(body: unknown): boolean {
  if (body === undefined || body === null || (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0)) return false;
  if (typeof body !== 'object' || Array.isArray(body)) throw new ProblemError(400, 'Bad Request', 'request body must be a JSON object (Content-Type: application/json)');
  const unknown = Object.keys(body).filter((k) => k !== 'dryRun');
  if (unknown.length > 0) throw new ProblemError(422, 'Unprocessable Entity', 'the retention request is not valid', unknown.map((field) => ({ field, message: 'unknown field' })));
  const { dryRun } = body as { dryRun?: unknown };
  if (dryRun !== undefined && typeof dryRun !== 'boolean') throw new ProblemError(422, 'Unprocessable Entity', 'the retention request is not valid', [{ field: 'dryRun', message: 'must be true or false' }]);
  return dryRun === true;
}

/**
 * /api/v1/retention: `POST` runs a retention pass now and answers its report (what was evicted, or
 * with `dryRun`, what would be). An operator may dry-run; a real run needs `admin`. A real run while
 * another (the scheduled job, another frontend) holds the lock answers 409; Redis unreachable, 503.
 */
export function retentionRoutes(runner: RetentionRunner | undefined): Router {
  const router = Router();
  router.post('/', async (req, res) => {
    const dryRun = dryRunOf(req.body);
    if (!runner) throw new ProblemError(503, 'Service Unavailable', 'retention is not wired in this process');
    if (!dryRun) requireEscalation(res, { role: 'admin', reason: 'retention-run', detail: 'a retention run that evicts content (dryRun: false)' });
    try {
      res.status(200).json(await runner.run({ dryRun }));
    } catch (err) {
      if (err instanceof RetentionBusyError) throw new ProblemError(409, 'Conflict', err.message);
      if (err instanceof RetentionLockUnavailableError) {
        res.setHeader('Retry-After', '30');
        throw new ProblemError(503, 'Service Unavailable', 'a retention run needs Redis (its lock), which is unreachable; a dry run does not');
      }
      throw err;
    }
  });
  return router;
}
