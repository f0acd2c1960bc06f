import { Router } from 'express';
import type { UpstreamStatus } from '@pullthrough/upstream';

/** GET /api/v1/upstreams: every upstream registry contacted, its breaker state, statistics and rate-limit headroom. */
export function upstreamRoutes(status: () => UpstreamStatus[]): Router {
  const router = Router();
  router.get('/', (_req, res) => {
    res.json({ upstreams: status() });
  });
  return router;
}
