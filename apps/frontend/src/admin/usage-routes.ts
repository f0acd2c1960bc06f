import { Router } from 'express';
import type { UsageService } from '@pullthrough/pull-through';

/** GET /api/v1/usage: bytes and counts per repository, per cache rule and in total (a scan reused for up to 30 s). */
export function usageRoutes(usage: () => UsageService): Router {
  const router = Router();
  router.get('/', async (_req, res) => {
    res.set('cache-control', 'no-store').json(await usage().report());
  });
  return router;
}
