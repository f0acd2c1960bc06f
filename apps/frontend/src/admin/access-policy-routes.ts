import { Router } from 'express';
import { AccessPolicyValidationError } from '@pullthrough/auth';
import type { AccessPolicyRegistry } from '../access/access-policy-registry.js';
import { ProblemError } from './problem.js';

/** /api/v1/access-policy: GET the policy in force, PUT a new one (validated whole), DELETE to go back to the default. */
export function accessPolicyRoutes(policies: AccessPolicyRegistry): Router {
  const router = Router();
  router.get('/', (_req, res) => {
    res.json(policies.describe());
  });
  router.put('/', async (req, res) => {
    try {
      const doc = await policies.put(req.body);
      res.json({ accessPolicy: doc, default: false });
    } catch (err) {
      if (err instanceof AccessPolicyValidationError) throw new ProblemError(422, 'Unprocessable Entity', 'the access policy is not valid', err.issues);
      throw err;
    }
  });
  router.delete('/', async (_req, res) => {
    await policies.reset();
    res.status(204).end();
  });
  return router;
}
