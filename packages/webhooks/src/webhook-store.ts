import type { EgressPolicy } from '@pullthrough/egress';
import { parseWebhook, type Webhook } from './webhook.js';
import { checkServiceUri } from './service-uri.js';
import { WebhookValidationError } from './webhook-validation-error.js';

export const WEBHOOKS_KIND = 'webhooks';

/** The part of the storage control area webhooks need (RegistryStore satisfies it). */
export interface ControlArea {
  getControl<T>(kind: string, name: string): Promise<T | undefined>;
  /** `private`: the document holds a secret (written 0600 on a filesystem). */
  putControl(kind: string, name: string, value: unknown, options?: { private?: boolean }): Promise<void>;
  deleteControl(kind: string, name: string): Promise<void>;
  listControl<T>(kind: string): Promise<T[]>;
}

/** Webhooks in the storage control area (`control/webhooks/<name>.json`): durable, shared by every process. */
export class WebhookStore {
  constructor(
    private readonly control: ControlArea,
    /** serviceUri is checked against it on save. */
    private readonly egress: EgressPolicy,
  ) {}

  get(name: string): Promise<Webhook | undefined> {
    return this.control.getControl<Webhook>(WEBHOOKS_KIND, name);
  }

  list(): Promise<Webhook[]> {
    return this.control.listControl<Webhook>(WEBHOOKS_KIND);
  }

  /**
   * Create or replace a webhook. The body replaces the definition, except that an omitted
   * `secret` keeps the stored one (so a GET-edit-PUT round trip, which never sees it, works).
   */
  async put(name: string, input: unknown): Promise<{ webhook: Webhook; created: boolean }> {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new WebhookValidationError([{ field: '(body)', message: 'must be a JSON object' }]);
    const body = { ...(input as Record<string, unknown>) };
    if (body.name !== undefined && body.name !== name) throw new WebhookValidationError([{ field: 'name', message: `must match the name in the path ("${name}")` }]);
    body.name = name;
    const existing = await this.get(name).catch(() => undefined);
    if (body.secret === undefined && existing) body.secret = existing.secret;
    const webhook = parseWebhook(body);
    await checkServiceUri(webhook.serviceUri, this.egress);
    // The webhook's signing secret is in the document: owner-only.
    await this.control.putControl(WEBHOOKS_KIND, name, webhook, { private: true });
    return { webhook, created: existing === undefined };
  }

  async delete(name: string): Promise<boolean> {
    if (!(await this.get(name))) return false;
    await this.control.deleteControl(WEBHOOKS_KIND, name);
    return true;
  }
}
