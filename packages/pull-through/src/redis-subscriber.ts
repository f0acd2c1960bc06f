import { Redis, type RedisOptions } from 'ioredis';

/**
 * A connection in subscriber mode that subscribes to `channels` on every 'ready' (the first connection and each
 * reconnection), a failure going to `onFailure`: ioredis's own resubscribe (off here) has no catch, and one that
 * meets a connection closing again is an unhandled rejection. `onSubscribed`: after each subscription.
 */
export function redisSubscriber(url: string, options: RedisOptions, channels: string[], onFailure: (err: Error) => void, onSubscribed?: () => void): Redis {
  const subscriber = new Redis(url, { ...options, autoResubscribe: false });
  subscriber.on('ready', () => {
    subscriber.subscribe(...channels).then(() => onSubscribed?.(), onFailure);
  });
  return subscriber;
}
