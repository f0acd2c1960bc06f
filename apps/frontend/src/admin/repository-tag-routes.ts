import { Router } from 'express';
import { isRepositoryName } from '@pullthrough/oci';
import type { TagEntry } from '@pullthrough/storage';
import { ProblemError } from './problem.js';

/**
 * GET /api/v1/repositories/<name>/tags: the tags this cache holds for a repository, each with its
 * digest, when it was last checked (or pushed), and its source: `upstream` (cached from the rule's
 * upstream, revalidated) or `local` (pushed here, never overwritten by the upstream).
 */
export function repositoryTagRoutes(tags: (repository: string) => Promise<TagEntry[]>): Router {
  const router = Router();
  router.get('/*path', async (req, res) => {
    const segments = (req.params as { path: string[] }).path;
    if (segments[segments.length - 1] !== 'tags' || segments.length < 2) throw new ProblemError(404, 'Not Found');
    const repository = segments.slice(0, -1).join('/');
    if (!isRepositoryName(repository)) {
      throw new ProblemError(400, 'Bad Request', 'invalid repository name', [{ field: 'name', message: 'must be an OCI repository name (lowercase path components)' }]);
    }
    const entries = await tags(repository);
    res.json({ repository, tags: entries.map((t) => ({ tag: t.tag, digest: t.digest, checkedAt: t.checkedAt.toISOString(), source: t.source })) });
  });
  return router;
}
