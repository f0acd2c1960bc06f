import { Router } from 'express';
import { HydrationRequestError, type HydrationService } from '@pullthrough/pull-through';
import { validateNameParam } from './name-param.js';
import { ProblemError, type FieldIssue } from './problem.js';

export const MAX_PREFETCH_REFERENCES = 100;

/** POST /api/v1/cache-rules/{name}/prefetch `{ repository?, references: [tag | digest, ...] }`: hydrate without a client pull. */
export function prefetchRoutes(hydrations: HydrationService): Router {
  const router = validateNameParam(Router(), 'cache rule');
  router.post('/:name/prefetch', async (req, res) => {
    const body = req.body as { repository?: unknown; references?: unknown } | undefined;
    const errors: FieldIssue[] = [];
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ProblemError(400, 'Bad Request', 'request body must be a JSON object (Content-Type: application/json)');
    const refs = body.references;
    if (!Array.isArray(refs) || refs.length === 0 || refs.length > MAX_PREFETCH_REFERENCES || !refs.every((r) => typeof r === 'string')) {
      errors.push({ field: 'references', message: `must be a list of 1-${MAX_PREFETCH_REFERENCES} tags or digests` });
    }
    if (body.repository !== undefined && typeof body.repository !== 'string') errors.push({ field: 'repository', message: 'must be a string' });
    if (errors.length > 0) throw new ProblemError(422, 'Unprocessable Entity', 'invalid prefetch request', errors);
    try {
      const results = await hydrations.prefetch(req.params.name, body.repository as string | undefined, refs as string[]);
      res.status(202).json({ prefetch: results });
    } catch (err) {
      if (err instanceof HydrationRequestError) {
        throw new ProblemError(err.status, err.status === 404 ? 'Not Found' : 'Unprocessable Entity', err.message, err.status === 404 ? undefined : [{ field: err.field, message: err.message }]);
      }
      throw err;
    }
  });
  return router;
}
