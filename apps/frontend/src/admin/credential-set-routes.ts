import { Router } from 'express';
import type { CredentialHealthBook, CredentialSet } from '@pullthrough/credentials';
import type { LoginVerifier } from '@pullthrough/pull-through';
import type { CredentialSetRegistry } from '../credentials/credential-set-registry.js';
import { acrCredentialSet, decodeCredentialSetBody } from './acr-credential-set.js';
import { wantsAcrShape } from './acr-resource.js';
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

/** The read model in ACR's shape when the client asked for it (`wantsAcrShape`), else ours. */
function answer(acr: boolean, set: CredentialSet, health: CredentialHealthBook) {
  return acr ? acrCredentialSet(set, health.get(set.name)) : readModel(set, health);
}

/**
 * /api/v1/credential-sets: PUT/GET/DELETE one, GET all, POST {name}/verify (live check). PUT takes our
 * body or ACR's (ARM's `{"properties": {...}, "identity": {...}}` or `az acr credential-set show -o json`'s);
 * GET and PUT answer in ACR's shape on request.
 */
export function credentialSetRoutes({ sets, health, verifier, forgetSecrets }: CredentialSetRouteDeps): Router {
  const router = validateNameParam(Router(), 'credential set');
  const found = async (name: string): Promise<CredentialSet> => {
    const set = await sets.get(name);
    if (!set) throw new ProblemError(404, 'Not Found', `credential set "${name}" does not exist`);
    return set;
  };
  router.get('/', async (req, res) => {
    const acr = wantsAcrShape(req);
    const list = (await sets.list()).map((s) => answer(acr, s, health));
    res.json(acr ? { value: list } : { credentialSets: list });
  });
  router.get('/:name', async (req, res) => {
    const acr = wantsAcrShape(req);
    res.json(answer(acr, await found(req.params.name), health));
  });
  router.put('/:name', async (req, res) => {
    if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) {
      throw new ProblemError(400, 'Bad Request', 'request body must be a JSON object (Content-Type: application/json)');
    }
    const acr = wantsAcrShape(req);
    const { body, field, issues } = decodeCredentialSetBody(req.body as Record<string, unknown>, req.params.name);
    if (issues.length > 0) throw new ProblemError(422, 'Unprocessable Entity', 'the credential set is not valid', issues);
    let stored: Awaited<ReturnType<CredentialSetRegistry['put']>>;
    try {
      stored = await sets.put(req.params.name, body);
    } catch (err) {
      // Field errors name the field where the client put it (`properties.loginServer` in ARM's shape).
      if (err instanceof ProblemError && err.errors) throw new ProblemError(err.status, err.title, err.detail, err.errors.map((i) => ({ field: field(i.field), message: i.message })));
      throw err;
    }
    const { set, created } = stored;
    health.forget(set.name);
    forgetSecrets(set.name);
    res.status(created ? 201 : 200).json(answer(acr, set, health));
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
