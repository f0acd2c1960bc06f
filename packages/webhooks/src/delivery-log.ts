import type { Redis } from 'ioredis';

/** One delivery attempt as `GET /api/v1/webhooks/{name}/deliveries` lists it. */
export interface DeliveryAttempt {
  eventId: string;
  action: string;
  /** 1-based attempt number of this delivery job. */
  attempt: number;
  at: string;
  ok: boolean;
  statusCode?: number;
  latencyMs: number;
  error?: string;
}

/**
 * Recent delivery attempts per webhook: a capped Redis list (newest first). Coordination data
 * like the queues: losing Redis loses this history, never configuration.
 */
export class DeliveryLog {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly keep = 100,
  ) {}

  private key(webhook: string): string {
    return `${this.prefix}:webhook-deliveries:${webhook}`;
  }

  async record(webhook: string, attempt: DeliveryAttempt): Promise<void> {
    await this.redis.multi().lpush(this.key(webhook), JSON.stringify(attempt)).ltrim(this.key(webhook), 0, this.keep - 1).exec();
  }

  async list(webhook: string, limit = this.keep): Promise<DeliveryAttempt[]> {
    const raw = await this.redis.lrange(this.key(webhook), 0, Math.max(0, limit - 1));
    return raw.map((r) => JSON.parse(r) as DeliveryAttempt);
  }

  async clear(webhook: string): Promise<void> {
    await this.redis.del(this.key(webhook));
  }
}
