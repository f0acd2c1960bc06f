import type { Queue } from 'bullmq';
import { enqueueDelivery } from './delivery-queue.js';
import type { DeliveryAttempt, DeliveryLog } from './delivery-log.js';
import { pingEvent } from './webhook-event.js';
import type { WebhookStore } from './webhook-store.js';
import { webhookView, type WebhookView } from './webhook.js';

/** The admin plane's webhook operations (the routes call this; they never touch storage, Redis or BullMQ). */
export class WebhookService {
  constructor(
    private readonly store: WebhookStore,
    private readonly log: DeliveryLog,
    private readonly queue: Queue,
    /** `request.host` of ping events. */
    private readonly host: string,
    /** Tells the other processes a webhook changed (config pub/sub); webhooks are read from storage on each use, so this only keeps them informed. */
    private readonly announce: (change: { kind: 'webhooks'; name: string }) => void = () => undefined,
  ) {}

  async put(name: string, body: unknown): Promise<{ webhook: WebhookView; created: boolean }> {
    const { webhook, created } = await this.store.put(name, body);
    this.announce({ kind: 'webhooks', name });
    return { webhook: webhookView(webhook), created };
  }

  async get(name: string): Promise<WebhookView | undefined> {
    const webhook = await this.store.get(name);
    return webhook && webhookView(webhook);
  }

  async list(): Promise<WebhookView[]> {
    return (await this.store.list()).map(webhookView);
  }

  async delete(name: string): Promise<boolean> {
    const deleted = await this.store.delete(name);
    if (deleted) {
      this.announce({ kind: 'webhooks', name });
      await this.log.clear(name).catch(() => undefined);
    }
    return deleted;
  }

  /** Recent attempts, newest first; undefined when the webhook does not exist. */
  async deliveries(name: string, limit?: number): Promise<DeliveryAttempt[] | undefined> {
    if (!(await this.store.get(name))) return undefined;
    return this.log.list(name, limit);
  }

  /** Queue a test event for the webhook (sent even when disabled); undefined when it does not exist. */
  async ping(name: string): Promise<{ eventId: string } | undefined> {
    if (!(await this.store.get(name))) return undefined;
    const event = pingEvent({ host: this.host });
    await enqueueDelivery(this.queue, { webhook: name, event });
    return { eventId: event.id };
  }
}
