import { Router } from 'express';
import { CacheRuleValidationError } from '@pullthrough/cache-rules';
import type { RuleRegistry } from '../rules/rule-registry.js';
import { credentialRuleChangeNeedsAdmin } from './admin-access.js';
import { requireEscalation } from './admin-auth.js';
import { validateNameParam } from './name-param.js';
import { ProblemError } from './problem.js';

/** /api/v1/cache-rules: PUT/GET/DELETE one, GET all. */
export function cacheRuleRoutes(rules: RuleRegistry): Router {
  const router = validateNameParam(Router(), 'cache rule');
  router.get('/', (_req, res) => {
    res.json({ cacheRules: rules.rules.list() });
  });
  router.get('/:name', (req, res) => {
    const rule = rules.rules.get(req.params.name);
    if (!rule) throw new ProblemError(404, 'Not Found', `cache rule "${req.params.name}" does not exist`);
    res.json(rule);
  });
  router.put('/:name', async (req, res) => {
    if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) {
      throw new ProblemError(400, 'Bad Request', 'request body must be a JSON object (Content-Type: application/json)');
    }
    requireEscalation(res, credentialRuleChangeNeedsAdmin(rules.rules.get(req.params.name), { body: req.body }, rules.rules.list()));
    try {
      const { rule, created } = await rules.put(req.params.name, req.body);
      res.status(created ? 201 : 200).json(rule);
    } catch (err) {
      if (err instanceof CacheRuleValidationError) {
        const conflict = err.issues.some((i) => /overlap|already|same target/i.test(i.message));
        throw new ProblemError(conflict ? 409 : 422, conflict ? 'Conflict' : 'Unprocessable Entity', 'the cache rule is not valid', err.issues);
      }
      throw err;
    }
  });
  router.delete('/:name', async (req, res) => {
    requireEscalation(res, credentialRuleChangeNeedsAdmin(rules.rules.get(req.params.name), undefined));
    if (!(await rules.delete(req.params.name))) throw new ProblemError(404, 'Not Found', `cache rule "${req.params.name}" does not exist`);
    res.status(204).end();
  });
  return router;
}
