import { mapLimit } from './map-limit.js';
import type { StorageDriver } from './storage-driver.js';
import { controlKindPath, controlPath } from './store-layout.js';

const READ_CONCURRENCY = 16;

function encode(value: unknown): Buffer {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError('control value is not JSON-serialisable');
  return Buffer.from(json);
}

export interface ControlWriteOptions {
  /** The document holds a secret: 0600 on a filesystem. */
  private?: boolean;
}

/**
 * Durable configuration (cache rules, credential sets, webhooks) as JSON documents at
 * `control/<kind>/<name>.json`. Values must be JSON-serialisable.
 */
export class ControlStore {
  constructor(private readonly driver: StorageDriver) {}

  async getControl<T>(kind: string, name: string): Promise<T | undefined> {
    const raw = await this.driver.getContent(controlPath(kind, name));
    return raw && (JSON.parse(raw.toString('utf8')) as T);
  }

  /** `private`: the document holds a secret (a webhook secret, a key): written readable by this process's user only (0600). */
  async putControl(kind: string, name: string, value: unknown, options: ControlWriteOptions = {}): Promise<void> {
    await this.driver.putContent(controlPath(kind, name), encode(value), options.private ? { private: true } : {});
  }

  /** Like putControl, but only if the document does not exist: true when this call wrote it (a key made once, by whichever process comes first). */
  createControl(kind: string, name: string, value: unknown, options: ControlWriteOptions = {}): Promise<boolean> {
    return this.driver.createContent(controlPath(kind, name), encode(value), options.private ? { private: true } : {});
  }

  async deleteControl(kind: string, name: string): Promise<void> {
    await this.driver.delete(controlPath(kind, name));
  }

  /** Names in a kind, sorted. */
  async listControlNames(kind: string): Promise<string[]> {
    const files = await this.driver.list(controlKindPath(kind));
    return files
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length))
      .filter((name) => {
        try {
          return controlPath(kind, name) !== '';
        } catch {
          return false; // a stray file that no valid name maps to
        }
      });
  }

  /** Every value of a kind, in name order. */
  async listControl<T>(kind: string): Promise<T[]> {
    const names = await this.listControlNames(kind);
    const values = await mapLimit(names, READ_CONCURRENCY, (name) => this.getControl<T>(kind, name));
    return values.filter((v): v is T => v !== undefined);
  }
}

/**
 * A document made once for the whole deployment (a key, an id), shared through the storage: the stored
 * one when it is `valid`, else `make()`'s value, written only where none is stored (of processes starting
 * at once on an empty store one wins and every one reads it; a damaged document is replaced, the last
 * replacement winning), then read back. Throws `what: could not be stored` if what is read is not valid.
 */
export async function controlMadeOnce<T>(
  control: Pick<ControlStore, 'getControl' | 'putControl' | 'createControl'>,
  what: string,
  at: { kind: string; name: string },
  valid: (stored: unknown) => stored is T,
  make: () => T,
  options: ControlWriteOptions = {},
): Promise<T> {
  const stored = await control.getControl<unknown>(at.kind, at.name);
  if (valid(stored)) return stored;
  if (stored === undefined) await control.createControl(at.kind, at.name, make(), options);
  else await control.putControl(at.kind, at.name, make(), options);
  const written = await control.getControl<unknown>(at.kind, at.name);
  if (!valid(written)) throw new Error(`${what}: could not be stored`);
  return written;
}
