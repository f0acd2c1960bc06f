import { Router } from 'express';
import { CacheRuleValidationError } from '@pullthrough/cache-rules';
import { purgeTotals, type FreeUnreferenced } from '@pullthrough/pull-through';
import type { RuleRegistry } from '../rules/rule-registry.js';
import { acrCacheRule, decodeCacheRuleBody } from './acr-cache-rule.js';
import { wantsAcrShape } from './acr-resource.js';
import { credentialRuleChangeNeedsAdmin } from './admin-access.js';
import { requireEscalation } from './admin-auth.js';
import { validateNameParam } from './name-param.js';
import { ProblemError } from './problem.js';

/** `?purge=` of a rule DELETE: absent or `false`, or `true`. */
function purgeParam(value: unknown): boolean {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw new ProblemError(400, 'Bad Request', 'the purge query parameter must be true or false', [{ field: 'purge', message: 'must be true or false' }]);
}

/**
 * /api/v1/cache-rules: PUT/GET/DELETE one, GET all. PUT takes our body or ACR's (ARM's `{"properties":
 * {...}}` or `az acr cache show -o json`'s); GET and PUT answer in ACR's shape on request (`wantsAcrShape`). `DELETE ?purge=true` (admin) answers 200 with what
 * the rule's repositories forgot and, when garbage collection is wired (`freeUnreferenced`), runs it at
 * once and reports the bytes freed.
 */
export function cacheRuleRoutes(rules: RuleRegistry, freeUnreferenced?: FreeUnreferenced, onDeleted: (name: string) => void = () => undefined): Router {
  const router = validateNameParam(Router(), 'cache rule');
  router.get('/', (req, res) => {
    const list = rules.rules.list();
    res.json(wantsAcrShape(req) ? { value: list.map(acrCacheRule) } : { cacheRules: list });
  });
  router.get('/:name', (req, res) => {
    const acr = wantsAcrShape(req);
    const rule = rules.rules.get(req.params.name);
    if (!rule) throw new ProblemError(404, 'Not Found', `cache rule "${req.params.name}" does not exist`);
    res.json(acr ? acrCacheRule(rule) : rule);
  });
  router.put('/:name', async (req, res) => {
    if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) {
      throw new ProblemError(400, 'Bad Request', 'request body must be a JSON object (Content-Type: application/json)');
    }
    const acr = wantsAcrShape(req);
    const { body, field, issues } = decodeCacheRuleBody(req.body as Record<string, unknown>, req.params.name);
    if (issues.length > 0) throw new ProblemError(422, 'Unprocessable Entity', 'the cache rule is not valid', issues);
    requireEscalation(res, credentialRuleChangeNeedsAdmin(rules.rules.get(req.params.name), { body }, rules.rules.list()));
    try {
      const { rule, created } = await rules.put(req.params.name, body);
      res.status(created ? 201 : 200).json(acr ? acrCacheRule(rule) : rule);
    } catch (err) {
      if (err instanceof CacheRuleValidationError) {
        const conflict = err.issues.some((i) => /overlap|already|same target/i.test(i.message));
        const named = err.issues.map((i) => ({ field: field(i.field), message: i.message }));
        throw new ProblemError(conflict ? 409 : 422, conflict ? 'Conflict' : 'Unprocessable Entity', 'the cache rule is not valid', named);
      }
      throw err;
    }
  });
  router.delete('/:name', async (req, res) => {
    const purge = purgeParam(req.query.purge);
    requireEscalation(res, credentialRuleChangeNeedsAdmin(rules.rules.get(req.params.name), undefined));
    if (purge) requireEscalation(res, { role: 'admin', reason: 'cache-rule-purge', detail: "purging a deleted cache rule's content (purge=true)" });
    const forgotten = await rules.delete(req.params.name);
    if (!forgotten) throw new ProblemError(404, 'Not Found', `cache rule "${req.params.name}" does not exist`);
    onDeleted(req.params.name);
    if (!purge) return void res.status(204).end();
    const bytesFreed = forgotten.length > 0 && freeUnreferenced ? (await freeUnreferenced()).bytesFreed : undefined;
    res.status(200).json({ rule: req.params.name, purged: { repositories: forgotten, totals: purgeTotals(forgotten), ...(bytesFreed === undefined ? {} : { bytesFreed }) } });
  });
  return router;
}
