import type { Router } from 'express';
import { RULE_NAME_PATTERN } from '@pullthrough/cache-rules';
import { ProblemError } from './problem.js';

/** Rule, credential set and webhook names share ACR's shape. */
const NAME_MESSAGE = "must be 5-50 characters of letters, digits and '-'";

/** A 400 problem on `name` unless `name` is a valid name of this kind (`cache rule`, `credential set`, `webhook`). */
export function checkName(name: string, kind: string): void {
  if (!RULE_NAME_PATTERN.test(name)) throw new ProblemError(400, 'Bad Request', `invalid ${kind} name`, [{ field: 'name', message: NAME_MESSAGE }]);
}

/**
 * Validate the `:name` path parameter of every route of `router` before any handler runs: a bad
 * name (`a`, `../../etc`, 300 characters, `%00`) is a 400 problem naming the field, and never
 * reaches storage (whose key check would otherwise surface as a 500).
 */
export function validateNameParam(router: Router, kind: string): Router {
  router.param('name', (_req, _res, next, value: string) => {
    try {
      checkName(value, kind);
      next();
    } catch (err) {
      next(err);
    }
  });
  return router;
}
