import { Router } from 'express';
import { WebhookValidationError, type WebhookService } from '@pullthrough/webhooks';
import { validateNameParam } from './name-param.js';
import { ProblemError } from './problem.js';
const notFound = (name: string) => new ProblemError(404, 'Not Found', `webhook "${name}" does not exist`);

/** /api/v1/webhooks: PUT/GET/DELETE one, GET all, GET .../deliveries, POST .../ping. The secret is write-only. */
export function webhookRoutes(webhooks: WebhookService): Router {
  const router = validateNameParam(Router(), 'webhook');
  router.get('/', async (_req, res) => {
    res.json({ webhooks: await webhooks.list() });
  });
  router.get('/:name', async (req, res) => {
    const webhook = await webhooks.get(req.params.name);
    if (!webhook) throw notFound(req.params.name);
    res.json(webhook);
  });
  router.put('/:name', async (req, res) => {
    try {
      const { webhook, created } = await webhooks.put(req.params.name, req.body);
      res.status(created ? 201 : 200).json(webhook);
    } catch (err) {
      if (err instanceof WebhookValidationError) throw new ProblemError(422, 'Unprocessable Entity', 'the webhook is not valid', err.issues);
      throw err;
    }
  });
  router.delete('/:name', async (req, res) => {
    if (!(await webhooks.delete(req.params.name))) throw notFound(req.params.name);
    res.status(204).end();
  });
  router.get('/:name/deliveries', async (req, res) => {
    const deliveries = await webhooks.deliveries(req.params.name);
    if (!deliveries) throw notFound(req.params.name);
    res.json({ deliveries });
  });
  router.post('/:name/ping', async (req, res) => {
    const ping = await webhooks.ping(req.params.name);
    if (!ping) throw notFound(req.params.name);
    res.status(202).json(ping);
  });
  return router;
}
