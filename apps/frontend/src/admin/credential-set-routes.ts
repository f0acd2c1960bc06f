import { Router } from 'express';
import type { CredentialHealthBook, CredentialSet } from '@pullthrough/credentials';
import type { LoginVerifier } from '@pullthrough/pull-through';
import type { CredentialSetRegistry } from '../credentials/credential-set-registry.js';
import { ProblemError } from './problem.js';

const NAME = /^[A-Za-z0-9-]{5,50}$/;

export interface CredentialSetRouteDeps {
  sets: CredentialSetRegistry;
  health: CredentialHealthBook;
  verifier: LoginVerifier;
  /** Drop a set's cached secrets (it changed or went away). */
  forgetSecrets: (name: string) => void;
}

/** The read model: the set's secret references (never values) and its credential health. */
function readModel(set: CredentialSet, health: CredentialHealthBook) {
  return { ...set, credentialHealth: health.get(set.name) };
}

/** /api/v1/credential-sets: PUT/GET/DELETE one, GET all, POST {name}/verify (live check). */
export function credentialSetRoutes({ sets, health, verifier, forgetSecrets }: CredentialSetRouteDeps): Router {
  const router = Router();
  const found = async (name: string): Promise<CredentialSet> => {
    const set = await sets.get(name);
    if (!set) throw new ProblemError(404, 'Not Found', `credential set "${name}" does not exist`);
    return set;
  };
  router.get('/', async (_req, res) => {
    res.json({ credentialSets: (await sets.list()).map((s) => readModel(s, health)) });
  });
  router.get('/:name', async (req, res) => {
    res.json(readModel(await found(req.params.name), health));
  });
  router.put('/:name', async (req, res) => {
    if (!NAME.test(req.params.name)) {
      throw new ProblemError(400, 'Bad Request', 'invalid credential set name', [{ field: 'name', message: "must be 5-50 characters of letters, digits and '-'" }]);
    }
    if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) {
      throw new ProblemError(400, 'Bad Request', 'request body must be a JSON object (Content-Type: application/json)');
    }
    const { set, created } = await sets.put(req.params.name, req.body as Record<string, unknown>);
    health.forget(set.name);
    forgetSecrets(set.name);
    res.status(created ? 201 : 200).json(readModel(set, health));
  });
  router.delete('/:name', async (req, res) => {
    if (!(await sets.delete(req.params.name))) throw new ProblemError(404, 'Not Found', `credential set "${req.params.name}" does not exist`);
    health.forget(req.params.name);
    forgetSecrets(req.params.name);
    res.status(204).end();
  });
  router.post('/:name/verify', async (req, res) => {
    const set = await found(req.params.name);
    const result = await verifier.verifyCredentialSet(set.name, set.loginServer);
    if (result.failedStep === 'secrets-readable') health.unhealthy(set.name, 'credential-lookup', result.steps.at(-1)!.message);
    else if (result.failedStep === 'upstream-accepts-credentials') health.unhealthy(set.name, 'upstream-auth', result.steps.at(-1)!.message);
    else if (result.status === 'ok') health.healthy(set.name);
    res.json({ ...result, credentialHealth: health.get(set.name) });
  });
  return router;
}
