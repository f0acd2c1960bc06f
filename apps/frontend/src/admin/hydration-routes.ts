import { Router, type Request } from 'express';
import { RegistryError } from '@pullthrough/oci';
import { HydrationQueueUnavailableError, type HydrationService } from '@pullthrough/pull-through';
import { ProblemError } from './problem.js';

/** Longest `?wait=` a client may ask for (a long-poll holds a connection). */
export const MAX_WAIT_SECONDS = 120;

function query(req: Request, name: string): string | undefined {
  const v = req.query[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** /api/v1/hydrations: state of one hydration by repository + tag or digest, optionally long-polled. */
export function hydrationRoutes(hydrations: HydrationService): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const repository = query(req, 'repository');
    const reference = query(req, 'reference');
    const waitRaw = query(req, 'wait');
    const errors = [
      ...(repository ? [] : [{ field: 'repository', message: 'is required' }]),
      ...(reference ? [] : [{ field: 'reference', message: 'is required (a tag or a digest)' }]),
    ];
    const wait = waitRaw === undefined ? 0 : Number(waitRaw);
    if (!Number.isFinite(wait) || wait < 0 || wait > MAX_WAIT_SECONDS) errors.push({ field: 'wait', message: `must be a number of seconds from 0 to ${MAX_WAIT_SECONDS}` });
    if (errors.length > 0) throw new ProblemError(400, 'Bad Request', 'invalid hydration query', errors);
    // The client may give up on a long-poll: stop polling for it.
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    try {
      res.json(await hydrations.status(repository!, reference!, Math.round(wait * 1000), gone.signal));
    } catch (err) {
      if (err instanceof HydrationQueueUnavailableError) {
        res.setHeader('Retry-After', String(err.retryAfterSeconds));
        throw new ProblemError(503, 'Service Unavailable', err.message);
      }
      if (err instanceof RegistryError && /INVALID/.test(err.code)) {
        const field = err.code === 'NAME_INVALID' ? 'repository' : 'reference';
        throw new ProblemError(400, 'Bad Request', 'invalid hydration query', [{ field, message: err.message }]);
      }
      throw err;
    }
  });
  return router;
}
