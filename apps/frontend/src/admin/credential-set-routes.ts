import { Router } from 'express';
import type { CredentialHealthBook, CredentialSet } from '@pullthrough/credentials';
import type { LoginVerifier } from '@pullthrough/pull-through';
import type { CredentialSetRegistry } from '../credentials/credential-set-registry.js';
import { validateNameParam } from './name-param.js';
import { ProblemError } from './problem.js';

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
  const router = validateNameParam(Router(), 'credential set');
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
  // Only the stored set decides where verify goes: its loginServer (and that registry's token realm
  // under the credential rules). The request's body and query are never read.
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
