import type { Logger, WriteContext, WriteEvents, WrittenManifest } from '@pullthrough/pull-through';
import { clientWriteEvent, type WebhookEvent } from '@pullthrough/webhooks';

/**
 * Local writes as webhooks: ACR's `push` for a manifest PUT, `delete` for a manifest or tag DELETE
 * (README "Webhooks"). Queued after the write is durable; a failure to queue (Redis down) is logged
 * and never fails the push or delete itself.
 */
export function webhookWriteEvents(publish: (events: WebhookEvent[]) => Promise<number>, host: string, logger: Logger): WriteEvents {
  const send = async (action: 'push' | 'delete', repository: string, manifest: WrittenManifest, ctx: WriteContext) => {
    const event = clientWriteEvent({ action, repository, ...manifest, ...ctx }, { host });
    try {
      await publish([event]);
    } catch (err) {
      logger.warn({ err: (err as Error).message, action, repository, digest: manifest.digest }, 'webhook event not queued');
    }
  };
  return {
    pushed: (repository, manifest, ctx) => send('push', repository, manifest, ctx),
    deleted: (repository, manifest, ctx) => send('delete', repository, manifest, ctx),
  };
}
