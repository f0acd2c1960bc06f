import { sharedCall } from '@pullthrough/oci';

/** Concurrent calls with the same key share one in-flight promise (sharedCall). */
export class SingleFlight<V> {
  private readonly inflight = new Map<string, Promise<V>>();

  run(key: string, fn: () => Promise<V>): Promise<V> {
    return sharedCall(this.inflight, key, fn);
  }

  has(key: string): boolean {
    return this.inflight.has(key);
  }

  get size(): number {
    return this.inflight.size;
  }
}
