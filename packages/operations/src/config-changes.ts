import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * What an admin change can touch; each process reloads (or forgets) what it holds of that kind.
 * `repository-content`: retention or a purge removed tags and manifests of a repository (the name).
 */
export const CONFIG_KINDS = ['cache-rules', 'credential-sets', 'webhooks', 'access-policy', 'repository-content'] as const;
export type ConfigKind = (typeof CONFIG_KINDS)[number];

/** A change announcement: the kind and the name only (never a document, never a secret). */
export interface ConfigChange {
  kind: ConfigKind;
  name: string;
}

/** Announces a stored config change (a failure to announce is the caller's to log: the poll catches up). */
export type ConfigChangeAnnouncer = (change: ConfigChange) => void;

/** The pub/sub channel of a deployment (prefix-scoped, like its queues). */
export const configChannel = (prefix: string): string => `${prefix}:config`;

export interface ConfigChangeBusOptions {
  /** The process's Redis connection: publishes go through it; the subscriber is its duplicate. */
  redis: Redis;
  prefix: string;
  /** Another process changed `change` in storage: reload it. */
  onChange: (change: ConfigChange) => void;
  /** The subscriber (re)connected after an outage: announcements may have been missed, reload every kind. */
  onResync: () => void;
  onError?: (err: Error) => void;
}

const isKind = (v: unknown): v is ConfigKind => typeof v === 'string' && (CONFIG_KINDS as readonly string[]).includes(v);

/**
 * Config invalidation across processes: a change is stored first (storage is the source of truth),
 * then announced on `<prefix>:config`; every other process reloads that kind at once. A separate
 * connection in subscriber mode (ioredis resubscribes when it reconnects); while Redis is down,
 * nothing is announced and the periodic reload is the fallback.
 */
export class ConfigChangeBus {
  private readonly origin = randomUUID();
  private readonly channel: string;
  private readonly subscriber: Redis;
  private connectedOnce = false;

  constructor(private readonly options: ConfigChangeBusOptions) {
    this.channel = configChannel(options.prefix);
    // We resubscribe ourselves: ioredis's own resubscription leaves its promise unhandled, so closing the bus
    // while it is in flight (shutdown during a reconnect) was an unhandled rejection.
    this.subscriber = options.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null, lazyConnect: true, autoResubscribe: false });
    this.subscriber.on('error', (err: Error) => options.onError?.(err));
    this.subscriber.on('ready', () => {
      if (this.connectedOnce) {
        this.subscriber.subscribe(this.channel).catch((err: Error) => this.options.onError?.(err));
        options.onResync();
      }
      this.connectedOnce = true;
    });
    this.subscriber.on('message', (channel: string, text: string) => {
      if (channel !== this.channel) return;
      const change = this.parse(text);
      if (change) options.onChange(change);
    });
  }

  /** Subscribe (resolves once subscribed, or at once if Redis is down: it subscribes when it comes up). */
  async start(): Promise<void> {
    this.subscriber.connect().catch((err: Error) => this.options.onError?.(err));
    const subscribed = this.subscriber.subscribe(this.channel);
    subscribed.catch((err: Error) => this.options.onError?.(err));
    await Promise.race([subscribed.then(() => undefined), new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
  }

  /** Tell the other processes; resolves to how many subscribers received it (0 when Redis is down). */
  async announce(change: ConfigChange): Promise<number> {
    try {
      return await this.options.redis.publish(this.channel, JSON.stringify({ kind: change.kind, name: change.name, origin: this.origin }));
    } catch (err) {
      this.options.onError?.(err as Error);
      return 0;
    }
  }

  /** The announcer to give the registries. */
  get announcer(): ConfigChangeAnnouncer {
    return (change) => void this.announce(change);
  }

  close(): void {
    this.subscriber.disconnect();
  }

  /** Our own announcements, and anything that is not a well-formed change, are ignored. */
  private parse(text: string): ConfigChange | undefined {
    try {
      const m = JSON.parse(text) as { kind?: unknown; name?: unknown; origin?: unknown };
      if (m.origin === this.origin || !isKind(m.kind) || typeof m.name !== 'string') return undefined;
      return { kind: m.kind, name: m.name };
    } catch {
      return undefined;
    }
  }
}
