import type { Queue } from 'bullmq';
import { enqueueDelivery } from './delivery-queue.js';
import type { WebhookEvent } from './webhook-event.js';
import { scopeMatches } from './webhook-scope.js';
import type { Webhook } from './webhook.js';

/** Does this webhook want this event (enabled, subscribed to the action, repository in scope)? */
export function wants(webhook: Webhook, event: WebhookEvent): boolean {
  if (webhook.status !== 'enabled') return false;
  if (event.action !== 'ping' && !webhook.actions.includes(event.action)) return false;
  return scopeMatches(webhook.scope, event.target.repository);
}

/** Fans events out to the webhooks that want them: one delivery job per (webhook, event). */
export class WebhookPublisher {
  constructor(
    private readonly webhooks: { list(): Promise<Webhook[]> },
    private readonly queue: Queue,
  ) {}

  async publish(events: WebhookEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    const hooks = await this.webhooks.list();
    let n = 0;
    for (const event of events) {
      for (const hook of hooks) {
        if (!wants(hook, event)) continue;
        await enqueueDelivery(this.queue, { webhook: hook.name, event });
        n++;
      }
    }
    return n;
  }
}
